#!/usr/bin/env python3
"""Tests of tests/check: it knows a stage's limits, and it says in words what went wrong.

Usage: test_check.py BUILD_DIR (Meson passes it; the build must have stage 01's server and
the behaviour binary).
"""
import os
import subprocess
import sys
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = Path(sys.argv.pop(1)) if len(sys.argv) > 1 else ROOT / "build"
STAGE_01 = BUILD / "chapters" / "01-blocking-server" / "server"
BROKEN = ROOT / "tests" / "behaviour" / "broken_server.py"


def check(*args, broken=None):
    env = dict(os.environ, BUILD_DIR=str(BUILD))
    if broken:
        env["BROKEN"] = broken
    done = subprocess.run([str(ROOT / "tests" / "check"), "--no-build", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=120)
    return done.returncode, done.stdout + done.stderr


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


if __name__ == "__main__":
    unittest.main(verbosity=2)
