#include "server_args.hpp"

#include <doctest/doctest.h>

namespace {
const ServerInfo info{"00-test", "a test server"};
const ServerInfo graceful{"12-test", "a graceful test server", true};
} // namespace

TEST_CASE("no arguments: port 3000, logging on") {
    ServerArgs args = parse_server_args({}, info);
    CHECK(args.port == 3000);
    CHECK_FALSE(args.quiet);
}

TEST_CASE("--port takes its value as the next argument or after '='") {
    CHECK(parse_server_args({"--port", "0"}, info).port == 0);
    CHECK(parse_server_args({"--port=8080"}, info).port == 8080);
    CHECK(parse_server_args({"--quiet", "--port", "1"}, info).quiet);
}

TEST_CASE("bad arguments are usage errors with a message") {
    CHECK_THROWS_AS(parse_server_args({"--port"}, info), UsageError);
    CHECK_THROWS_AS(parse_server_args({"--port", "70000"}, info), UsageError);
    CHECK_THROWS_AS(parse_server_args({"--port", "12ab"}, info), UsageError);
    CHECK_THROWS_AS(parse_server_args({"--bogus"}, info), UsageError);
    CHECK_THROWS_WITH_AS(parse_server_args({"--port", "x"}, info),
                         "--port needs a number from 0 to 65535, got 'x'", UsageError);
}

TEST_CASE("--help is a request, not an error") {
    CHECK_THROWS_AS(parse_server_args({"--help"}, info), HelpRequested);
    CHECK(server_usage(info).find("--port N") != std::string::npos);
}

TEST_CASE("--grace-ms exists only for servers with a grace period") {
    CHECK_THROWS_AS(parse_server_args({"--grace-ms", "10"}, info), UsageError);
    CHECK(parse_server_args({"--grace-ms", "10"}, graceful).grace.count() == 10);
    CHECK(server_usage(graceful).find("--grace-ms") != std::string::npos);
}
