// The doctest runner, compiled once and linked into every test binary of the workbook.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
