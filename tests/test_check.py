#!/usr/bin/env python3
"""Tests of tests/check: it knows a stage's limits, and it says in words what went wrong.

Usage: test_check.py BUILD_DIR [CheckTest|CopyTest] (Meson passes the build directory; it must
have stage 01's server and the behaviour binary). CopyTest checks copies of stage 01's
sources, as a reader's copy would be checked: each builds them in BUILD_DIR/scratch/.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = Path(sys.argv.pop(1)) if len(sys.argv) > 1 else ROOT / "build"
STAGE_01 = BUILD / "chapters" / "01-blocking-server" / "server"
BROKEN = ROOT / "tests" / "behaviour" / "broken_server.py"


def check(*args, broken=None, timeout=120):
    env = dict(os.environ, BUILD_DIR=str(BUILD), SCRATCH_DIR=str(BUILD / "scratch"))
    if broken:
        env["BROKEN"] = broken
    done = subprocess.run([str(ROOT / "tests" / "check"), "--no-build", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=timeout)
    return done.returncode, done.stdout + done.stderr


def copy_of_stage_01(directory, replace=None):
    """Stage 01's sources in `directory`, with `replace` {file: (old, new)} applied."""
    for source in (ROOT / "chapters" / "01-blocking-server").glob("*.[ch]pp"):
        shutil.copy(source, directory)
    for name, (old, new) in (replace or {}).items():
        text = (Path(directory) / name).read_text()
        assert old in text, f"{old!r} is not in {name}"
        (Path(directory) / name).write_text(text.replace(old, new))
    return directory


class CheckTest(unittest.TestCase):
    def test_stage_01_as_itself_passes_its_own_limits(self):
        status, output = check("01", STAGE_01, "stalled client")
        self.assertEqual(status, 0, output)
        self.assertIn("ok       stalled client  (it fails: this stage's limit)", output)
        self.assertIn("2 passed, 0 failed", output)

    def test_stage_01_as_stage_05_fails_where_05_has_no_limit(self):
        status, output = check("05", STAGE_01, "stalled client")
        self.assertEqual(status, 1, output)
        self.assertIn("FAILED   stalled client", output)
        self.assertIn("timed out after 2000 ms, with nothing received", output)
        self.assertIn("listening on http://127.0.0.1:", output)  # the server's own output

    def test_reports_say_what_happened_in_words(self):
        expected = {
            "bare-newlines": r'"HTTP/1.1 200 OK\nContent-Length: 12\nConnection: close\n\nHello world!", then ',
            "silent": "closed without answering",
            "hang": "timed out after 2000 ms",
            "reset": "reset without answering",
            "refuse": "connection refused",
        }
        for mode, words in expected.items():
            with self.subTest(mode=mode):
                status, output = check("05", BROKEN, "exact response bytes", broken=mode)
                self.assertEqual(status, 1, output)
                self.assertIn(words, output)
                self.assertNotIn("{?}", output)
                if mode != "refuse":
                    self.assertIn(f"broken on purpose: {mode}", output)  # its stderr, shown

    def test_an_unknown_stage_is_refused_with_the_list(self):
        status, output = check("99", STAGE_01)
        self.assertNotEqual(status, 0)
        self.assertIn("01-blocking-server", output)


class CopyTest(unittest.TestCase):
    """A directory of sources is built with the stage's own tests; the report names the test
    that failed and what it expected, in words."""

    def check_copy(self, replace=None):
        with tempfile.TemporaryDirectory() as directory:
            return check("01", copy_of_stage_01(directory, replace), timeout=600)

    def test_an_unmodified_copy_passes_as_its_stage(self):
        status, output = self.check_copy()
        self.assertEqual(status, 0, output)
        self.assertIn("ok       01-blocking-server", output)  # the stage's own tests
        self.assertIn("ok       stalled client  (it fails: this stage's limit)", output)

    def test_a_copy_that_reads_only_once_is_told_which_test_fails(self):
        status, output = self.check_copy({"handle_connection.cpp": (
            "while (!request.complete() && !request.full()) {",
            "if (!request.complete() && !request.full()) {")})
        self.assertEqual(status, 1, output)
        self.assertIn("FAILED   01-blocking-server", output)  # the stage's own tests...
        self.assertIn('in "handle_connection', output)         # ...name the failing case
        self.assertIn("FAILED   exact response bytes", output)
        self.assertIn(r'"HTTP/1.1 431 Request Header Fields Too Large\r\n', output)
        self.assertNotIn("{?}", output)

    def test_a_copy_that_answers_late_is_told_it_timed_out(self):
        status, output = self.check_copy({"handle_connection.cpp": (
            "    connection.write_all(response);",
            "    std::this_thread::sleep_for(std::chrono::milliseconds(300));\n"
            "    connection.write_all(response);"), "handle_connection.hpp": (
            "#pragma once", "#pragma once\n#include <chrono>\n#include <thread>")})
        self.assertEqual(status, 1, output)
        self.assertIn("FAILED   concurrent clients", output)
        self.assertIn("timed out after", output)
        self.assertNotIn("{?}", output)

    def test_a_copy_without_content_length_is_shown_the_bytes_it_sent(self):
        status, output = self.check_copy({"handle_connection.cpp": (
            "std::string_view response = http::response_for(request);",
            'std::string_view response = request.complete() ? std::string_view('
            '"HTTP/1.1 200 OK\\r\\nConnection: close\\r\\n\\r\\nHello world!") '
            ': http::response_for(request);')})
        self.assertEqual(status, 1, output)
        self.assertIn("FAILED   exact response bytes", output)
        self.assertIn(r'"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nHello world!", then closed',
                      output)
        self.assertNotIn("{?}", output)

    def test_a_copy_that_dies_on_a_reset_is_told_what_its_clients_saw(self):
        status, output = self.check_copy({"main.cpp": (
            'std::fprintf(stderr, "connection failed: %s\\n", error.what());',
            'std::fprintf(stderr, "connection failed: %s\\n", error.what());\n'
            '                std::abort();')})
        self.assertEqual(status, 1, output)
        self.assertIn("FAILED   reset storm", output)
        self.assertRegex(output, "connection refused|reset without answering")
        self.assertNotIn("{?}", output)

    def test_a_copy_that_does_not_compile_gets_the_compiler_errors(self):
        status, output = self.check_copy({"handle_connection.cpp": (
            "http::RequestBuffer request;", "http::RequestBuffer request")})
        self.assertEqual(status, 1, output)
        self.assertIn("does not build as 01-blocking-server", output)
        self.assertIn("error:", output)


if __name__ == "__main__":
    unittest.main(verbosity=2)
