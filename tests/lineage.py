#!/usr/bin/env python3
"""The workbook's lineage check, and the stage diffs in docs/diffs/.

Every stage (chapters/NN-slug/) is a copy of the stage before with a few files added,
changed or removed, and its lineage.txt declares which:

    # Relative to 04-nonblocking: what this stage adds, changes or removes.
    added    connection.hpp
    changed  main.cpp
    removed  handle_connection.cpp

Paths are relative to the stage directory; `#` starts a comment. Every file not declared
must be byte-identical to the stage before, so the diff between two stages is exactly the
idea the later one adds. The first stage has nothing before it and needs no lineage.txt.

Usage, from anywhere:
    python3 tests/lineage.py                  check every stage's lineage.txt
    python3 tests/lineage.py --write-diffs    write docs/diffs/NN-slug.diff for every stage
    python3 tests/lineage.py --check-diffs    fail if a docs/diffs file is missing or stale
    python3 tests/lineage.py --root DIR ...   the same for the workbook at DIR

A stored diff is exactly what the reader's command prints, run from the top directory:
    git diff --no-index chapters/04-nonblocking chapters/05-multiplexed

Python 3 standard library and git.
"""
import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

LINEAGE = "lineage.txt"
VERBS = ("added", "changed", "removed")
STAGE_NAME = re.compile(r"^\d\d-[A-Za-z0-9_-]+$")
DIFF_NAME = re.compile(r"^\d\d-[A-Za-z0-9_-]+\.diff$")


def stage_dirs(root):
    """The stage directories under root/chapters, in reading order (NN- sorts them)."""
    chapters = root / "chapters"
    if not chapters.is_dir():
        return []
    return sorted(p for p in chapters.iterdir() if p.is_dir() and STAGE_NAME.match(p.name))


def ignored(name):
    """Editor and tool droppings that are never part of a stage (see .gitignore)."""
    return name.startswith(".") or name == "__pycache__" or name.endswith(("~", ".swp", ".orig", ".rej"))


def stage_files(stage):
    """{path relative to the stage, as a/b/c: bytes} for every file of a stage but lineage.txt."""
    files = {}
    for path in sorted(stage.rglob("*")):
        relative = path.relative_to(stage)
        if any(ignored(part) for part in relative.parts) or not path.is_file():
            continue
        name = relative.as_posix()
        if name != LINEAGE:
            files[name] = path.read_bytes()
    return files


def parse_lineage(text):
    """Returns ({path: verb}, [problem, ...]) for the text of one lineage.txt."""
    entries, problems = {}, []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        if len(words) != 2 or words[0] not in VERBS:
            problems.append(f"line {number}: expected '<added|changed|removed> <path>', got {raw.strip()!r}")
            continue
        verb, path = words
        path = path.removeprefix("./")
        if path.startswith("/") or ".." in path.split("/"):
            problems.append(f"line {number}: {path!r} must be a path inside the stage directory")
        elif path in entries:
            problems.append(f"line {number}: {path} is declared twice ({entries[path]} and {verb})")
        else:
            entries[path] = verb
    return entries, problems


def check_stage(previous, stage):
    """Problems with `stage` relative to `previous` (two stage directories), as text lines."""
    where = f"chapters/{stage.name}"
    lineage = stage / LINEAGE
    if not lineage.is_file():
        return [f"{where}: no {LINEAGE}: every stage after the first declares what it adds, "
                f"changes or removes relative to {previous.name}"]
    entries, parse_problems = parse_lineage(lineage.read_text(encoding="utf-8"))
    problems = [f"{where}/{LINEAGE} {problem}" for problem in parse_problems]

    before, after = stage_files(previous), stage_files(stage)
    for path in sorted(set(before) | set(after) | set(entries)):
        verb = entries.get(path)
        old, new = before.get(path), after.get(path)
        here, there = f"{where}/{path}", f"chapters/{previous.name}/{path}"
        if verb == "added":
            if old is not None:
                problems.append(f"{here}: declared 'added', but {there} already exists "
                                f"(declare it 'changed' if it differs)")
            if new is None:
                problems.append(f"{here}: declared 'added', but there is no such file")
        elif verb == "changed":
            if old is None:
                problems.append(f"{here}: declared 'changed', but {previous.name} has no such file "
                                f"(declare it 'added')")
            if new is None:
                problems.append(f"{here}: declared 'changed', but there is no such file "
                                f"(declare it 'removed')")
            if old is not None and old == new:
                problems.append(f"{here}: declared 'changed', but it is byte-identical to {there}")
        elif verb == "removed":
            if old is None:
                problems.append(f"{here}: declared 'removed', but {previous.name} has no such file")
            if new is not None:
                problems.append(f"{here}: declared 'removed', but it is still there")
        elif old is None:
            problems.append(f"{here}: new file not declared in {LINEAGE} (add 'added {path}')")
        elif new is None:
            problems.append(f"{here}: {there} is gone but not declared in {LINEAGE} "
                            f"(add 'removed {path}')")
        elif old != new:
            problems.append(f"{here}: differs from {there} but is not declared in {LINEAGE} "
                            f"(add 'changed {path}', or copy the file back unchanged)")
    return problems


def check_lineage(root):
    """Every problem with every stage's lineage, in stage order."""
    stages = stage_dirs(root)
    problems = []
    for previous, stage in zip(stages, stages[1:]):
        problems += check_stage(previous, stage)
    return problems


def stage_diff(root, previous, stage):
    """Exactly what `git diff --no-index chapters/PREVIOUS chapters/STAGE` prints, run from the
    workbook's top directory with git's default settings (no colour, no user or system
    configuration), lineage.txt included: the stored diff is the reader's command."""
    env = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, LC_ALL="C")
    command = ["git", "diff", "--no-index", "--no-color",
               f"chapters/{previous.name}", f"chapters/{stage.name}"]
    done = subprocess.run(command, cwd=root, capture_output=True, env=env)
    if done.returncode not in (0, 1):  # 1: the stages differ, as they always should
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.decode(errors='replace')}")
    return done.stdout.decode("utf-8")


def expected_diffs(root):
    """{file name in docs/diffs: its text}: one diff for every stage after the first."""
    stages = stage_dirs(root)
    return {f"{stage.name}.diff": stage_diff(root, previous, stage)
            for previous, stage in zip(stages, stages[1:])}


def write_diffs(root):
    """Writes docs/diffs/ afresh, removing diffs of stages that no longer exist."""
    directory = root / "docs" / "diffs"
    directory.mkdir(parents=True, exist_ok=True)
    expected = expected_diffs(root)
    for name, text in expected.items():
        (directory / name).write_text(text, encoding="utf-8", newline="")
        print(f"wrote docs/diffs/{name}")
    for path in sorted(directory.iterdir()):
        if DIFF_NAME.match(path.name) and path.name not in expected:
            path.unlink()
            print(f"removed docs/diffs/{path.name} (no such stage)")


def check_diffs(root):
    """Problems with the committed docs/diffs/, as text lines."""
    directory = root / "docs" / "diffs"
    expected = expected_diffs(root)
    problems = []
    for name, text in expected.items():
        path = directory / name
        if not path.is_file():
            problems.append(f"docs/diffs/{name} is missing")
        elif path.read_bytes() != text.encode("utf-8"):
            problems.append(f"docs/diffs/{name} is stale: it no longer matches the stages it compares")
    if directory.is_dir():
        for path in sorted(directory.iterdir()):
            if DIFF_NAME.match(path.name) and path.name not in expected:
                problems.append(f"docs/diffs/{path.name} belongs to no stage")
    if problems:
        problems.append("run `python3 tests/lineage.py --write-diffs` and commit docs/diffs/")
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description="Check stage lineage; write or check docs/diffs.")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent,
                        help="the workbook's top directory (default: the one holding tests/)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write-diffs", action="store_true", help="write docs/diffs/NN-slug.diff")
    mode.add_argument("--check-diffs", action="store_true", help="fail if docs/diffs is stale")
    args = parser.parse_args(argv)
    root = args.root.resolve()

    stages = stage_dirs(root)
    if not stages:
        print(f"no stages under {root}/chapters", file=sys.stderr)
        return 1
    if args.write_diffs:
        write_diffs(root)
        return 0
    problems = check_diffs(root) if args.check_diffs else check_lineage(root)
    for problem in problems:
        print(problem)
    if not problems:
        what = "docs/diffs up to date" if args.check_diffs else "lineage consistent"
        print(f"{what}: {len(stages)} stages, {' -> '.join(s.name[:2] for s in stages)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
