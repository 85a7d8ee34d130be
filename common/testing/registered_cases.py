#!/usr/bin/env python3
"""Checks that a meson.build registers exactly the TEST_CASEs of a doctest binary.

Some test cases run as Meson tests of their own, each chosen with doctest's --test-case
filter (the behaviour cases in tests/meson.build, a stage's holes). A filter that matches
nothing runs nothing and passes, so a renamed TEST_CASE would silently stop being tested;
this check fails instead. With --filter, only the binary's cases that match it are compared
(a doctest wildcard pattern, such as 'hole: *').

Usage: registered_cases.py [--filter PATTERN] BINARY CASE...
"""
import subprocess
import sys


def main(argv):
    pattern = None
    if argv[:1] == ["--filter"] and len(argv) >= 2:
        pattern, argv = argv[1], argv[2:]
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    binary, registered = argv[0], set(argv[1:])
    command = [binary, "--list-test-cases", "--no-version"]
    if pattern:
        command.append("--test-case=" + pattern)
    listing = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    # doctest prints the names between two lines of '=' signs.
    lines = listing.splitlines()
    rules = [i for i, line in enumerate(lines) if line.startswith("====")]
    in_binary = set(lines[rules[0] + 1:rules[1]]) if len(rules) >= 2 else set()

    problems = []
    for name in sorted(in_binary - registered):
        problems.append(f"TEST_CASE \"{name}\" is not registered in meson.build")
    for name in sorted(registered - in_binary):
        problems.append(f"meson.build registers \"{name}\", which is no TEST_CASE of {binary}")
    for name in sorted(in_binary | registered):
        if "," in name:
            problems.append(f"\"{name}\" has a comma: doctest's --test-case would split it")
    for problem in problems:
        print(problem)
    if not problems:
        print(f"{len(in_binary)} test cases, all registered")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
