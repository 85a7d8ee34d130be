#!/usr/bin/env python3
"""Tests of tests/lineage.py on small workbooks built in temporary directories.

A checker that never fails proves nothing, so most of these show it failing: on an
undeclared change, a false declaration, a missing lineage.txt, a stale diff.
Run: python3 tests/test_lineage.py
"""
import contextlib
import io
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lineage  # noqa: E402

LINEAGE_PY = Path(__file__).resolve().parent / "lineage.py"


class Workbook:
    """A throwaway workbook: chapters/NN-slug/ directories with files, under a temp dir."""

    def __init__(self, root):
        self.root = Path(root)

    def write(self, path, text):
        file = self.root / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text, encoding="utf-8", newline="")

    def remove(self, path):
        (self.root / path).unlink()

    def copy_stage(self, previous, stage):
        """Starts a stage the workbook's way: a byte-for-byte copy of the previous one."""
        source = self.root / "chapters" / previous
        for file in source.rglob("*"):
            if file.is_file() and file.name != lineage.LINEAGE:
                target = self.root / "chapters" / stage / file.relative_to(source)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(file.read_bytes())

    def run(self, *args):
        """Runs lineage.py's command line in this process; returns (exit status, its output)."""
        output = io.StringIO()
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            status = lineage.main(["--root", str(self.root), *args])
        return status, output.getvalue()

    def run_script(self, *args):
        """Runs lineage.py as a separate program, exactly as Meson and readers do."""
        done = subprocess.run([sys.executable, str(LINEAGE_PY), "--root", str(self.root), *args],
                              capture_output=True, text=True)
        return done.returncode, done.stdout + done.stderr


class LineageTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.book = Workbook(self.tmp.name)
        # 01 has no lineage.txt; 02 changes main.cpp and adds pool.hpp, as declared.
        self.book.write("chapters/01-first/main.cpp", "int main() {}\n")
        self.book.write("chapters/01-first/meson.build", "executable('server')\n")
        self.book.write("chapters/01-first/tests/test_server.cpp", "// tests\n")
        self.book.copy_stage("01-first", "02-second")
        self.book.write("chapters/02-second/main.cpp", "int main() { return 0; }\n")
        self.book.write("chapters/02-second/pool.hpp", "#pragma once\n")
        self.book.write("chapters/02-second/lineage.txt",
                        "# Relative to 01-first.\nadded    pool.hpp\nchanged  main.cpp  # the loop\n")

    def tearDown(self):
        self.tmp.cleanup()

    def problems(self):
        return lineage.check_lineage(self.book.root)

    def assert_one_problem(self, *fragments):
        problems = self.problems()
        self.assertEqual(len(problems), 1, problems)
        for fragment in fragments:
            self.assertIn(fragment, problems[0])

    def test_a_correctly_declared_stage_passes(self):
        self.assertEqual(self.problems(), [])
        status, output = self.book.run_script()
        self.assertEqual(status, 0, output)

    def test_a_single_stage_needs_no_lineage(self):
        with tempfile.TemporaryDirectory() as other:
            book = Workbook(other)
            book.write("chapters/01-first/main.cpp", "int main() {}\n")
            self.assertEqual(lineage.check_lineage(book.root), [])
            self.assertEqual(book.run()[0], 0)
            self.assertEqual(book.run("--check-diffs")[0], 0)

    def test_an_undeclared_difference_fails(self):
        self.book.write("chapters/02-second/meson.build", "executable('server', 'pool.hpp')\n")
        self.assert_one_problem("chapters/02-second/meson.build", "differs from", "not declared")
        status, output = self.book.run_script()
        self.assertEqual(status, 1)
        self.assertIn("chapters/02-second/meson.build: differs from chapters/01-first/meson.build", output)

    def test_an_undeclared_difference_in_a_subdirectory_fails(self):
        self.book.write("chapters/02-second/tests/test_server.cpp", "// tests, edited\n")
        self.assert_one_problem("chapters/02-second/tests/test_server.cpp", "not declared")

    def test_a_whitespace_only_difference_fails(self):
        self.book.write("chapters/02-second/meson.build", "executable('server') \n")
        self.assert_one_problem("meson.build", "differs from")

    def test_an_undeclared_new_file_fails(self):
        self.book.write("chapters/02-second/notes.txt", "scratch\n")
        self.assert_one_problem("chapters/02-second/notes.txt", "new file not declared")

    def test_an_undeclared_removal_fails(self):
        self.book.remove("chapters/02-second/tests/test_server.cpp")
        self.assert_one_problem("tests/test_server.cpp", "is gone but not declared")

    def test_a_declared_change_that_is_identical_fails(self):
        self.book.write("chapters/02-second/lineage.txt",
                        "added pool.hpp\nchanged main.cpp\nchanged meson.build\n")
        self.assert_one_problem("meson.build", "declared 'changed'", "byte-identical")

    def test_a_declared_addition_that_already_existed_fails(self):
        self.book.write("chapters/02-second/lineage.txt", "added pool.hpp\nadded main.cpp\n")
        self.assert_one_problem("main.cpp", "declared 'added'", "already exists")

    def test_a_declared_removal_of_a_file_still_there_fails(self):
        self.book.write("chapters/02-second/lineage.txt",
                        "added pool.hpp\nchanged main.cpp\nremoved meson.build\n")
        self.assert_one_problem("meson.build", "declared 'removed'", "still there")

    def test_a_declared_removal_passes_when_the_file_is_gone(self):
        self.book.remove("chapters/02-second/tests/test_server.cpp")
        self.book.write("chapters/02-second/lineage.txt",
                        "added pool.hpp\nchanged main.cpp\nremoved tests/test_server.cpp\n")
        self.assertEqual(self.problems(), [])

    def test_a_missing_lineage_file_fails(self):
        self.book.remove("chapters/02-second/lineage.txt")
        self.assert_one_problem("chapters/02-second", "no lineage.txt")

    def test_a_malformed_line_fails(self):
        self.book.write("chapters/02-second/lineage.txt",
                        "added pool.hpp\nchanged main.cpp\nmodified meson.build\n")
        self.assert_one_problem("lineage.txt line 3", "expected")

    def test_each_stage_is_compared_with_the_one_just_before(self):
        # 03 copies 02 unchanged: no lineage entries needed, though 02 differs from 01.
        self.book.copy_stage("02-second", "03-third")
        self.book.write("chapters/03-third/lineage.txt", "# Relative to 02-second: nothing yet.\n")
        self.assertEqual(self.problems(), [])
        self.book.write("chapters/03-third/pool.hpp", "#pragma once // edited\n")
        self.assert_one_problem("chapters/03-third/pool.hpp", "differs from chapters/02-second/pool.hpp")


class DiffsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.book = Workbook(self.tmp.name)
        self.book.write("chapters/01-first/main.cpp", "one\ntwo\nthree\n")
        self.book.write("chapters/01-first/old.hpp", "old\n")
        self.book.copy_stage("01-first", "02-second")
        self.book.write("chapters/02-second/main.cpp", "one\n2\nthree\n")
        self.book.remove("chapters/02-second/old.hpp")
        self.book.write("chapters/02-second/new.hpp", "new")  # no final newline
        self.book.write("chapters/02-second/lineage.txt", "changed main.cpp\nremoved old.hpp\nadded new.hpp\n")

    def tearDown(self):
        self.tmp.cleanup()

    def test_the_diff_is_what_git_diff_no_index_prints(self):
        self.assertEqual(self.book.run("--write-diffs")[0], 0)
        text = (self.book.root / "docs/diffs/02-second.diff").read_text(encoding="utf-8")
        git = subprocess.run(["git", "diff", "--no-index", "chapters/01-first", "chapters/02-second"],
                             cwd=self.book.root, capture_output=True, text=True)
        self.assertEqual(git.returncode, 1, git.stderr)
        self.assertEqual(text, git.stdout)
        # File by file in path order, lineage.txt too, with git's headers.
        headers = [line for line in text.splitlines() if line.startswith("diff --git")]
        self.assertEqual(headers, [
            "diff --git a/chapters/02-second/lineage.txt b/chapters/02-second/lineage.txt",
            "diff --git a/chapters/01-first/main.cpp b/chapters/02-second/main.cpp",
            "diff --git a/chapters/02-second/new.hpp b/chapters/02-second/new.hpp",
            "diff --git a/chapters/01-first/old.hpp b/chapters/01-first/old.hpp",
        ])
        self.assertIn("-two\n+2\n", text)
        self.assertIn("+new\n\\ No newline at end of file\n", text)
        self.assertFalse((self.book.root / "docs/diffs/01-first.diff").exists())

    def test_fresh_diffs_pass_the_check(self):
        self.book.run("--write-diffs")
        status, output = self.book.run("--check-diffs")
        self.assertEqual(status, 0, output)

    def test_a_missing_diff_fails_the_check(self):
        status, output = self.book.run("--check-diffs")
        self.assertEqual(status, 1)
        self.assertIn("docs/diffs/02-second.diff is missing", output)
        self.assertIn("python3 tests/lineage.py --write-diffs", output)

    def test_a_stale_diff_fails_the_check(self):
        self.book.run("--write-diffs")
        self.book.write("chapters/02-second/main.cpp", "one\n2\n3\n")
        status, output = self.book.run("--check-diffs")
        self.assertEqual(status, 1)
        self.assertIn("docs/diffs/02-second.diff is stale", output)
        self.assertIn("python3 tests/lineage.py --write-diffs", output)

    def test_a_diff_of_no_stage_fails_the_check_and_is_removed_on_write(self):
        self.book.run("--write-diffs")
        self.book.write("docs/diffs/07-gone.diff", "")
        status, output = self.book.run("--check-diffs")
        self.assertEqual(status, 1)
        self.assertIn("07-gone.diff belongs to no stage", output)
        self.book.run("--write-diffs")
        self.assertFalse((self.book.root / "docs/diffs/07-gone.diff").exists())


if __name__ == "__main__":
    unittest.main(verbosity=2)
