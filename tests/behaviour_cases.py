#!/usr/bin/env python3
"""Checks that tests/meson.build registers exactly the behaviour binary's TEST_CASEs.

Each behaviour case runs as its own Meson test, chosen with doctest's --test-case filter. A
filter that matches nothing runs nothing and passes, so a renamed TEST_CASE would silently
stop being tested; this check fails instead.

Usage: behaviour_cases.py BEHAVIOUR_BINARY CASE...
"""
import subprocess
import sys


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    binary, registered = argv[0], set(argv[1:])
    listing = subprocess.run([binary, "--list-test-cases", "--no-version"],
                             capture_output=True, text=True, check=True).stdout
    # doctest prints the names between two lines of '=' signs.
    lines = listing.splitlines()
    rules = [i for i, line in enumerate(lines) if line.startswith("====")]
    in_binary = set(lines[rules[0] + 1:rules[1]]) if len(rules) >= 2 else set()

    problems = []
    for name in sorted(in_binary - registered):
        problems.append(f"TEST_CASE \"{name}\" is not in behaviour_cases in tests/meson.build")
    for name in sorted(registered - in_binary):
        problems.append(f"behaviour_cases in tests/meson.build names \"{name}\", "
                        "which is no TEST_CASE of the behaviour binary")
    for name in sorted(in_binary):
        if "," in name:
            problems.append(f"TEST_CASE \"{name}\" has a comma: doctest's --test-case would split it")
    for problem in problems:
        print(problem)
    if not problems:
        print(f"{len(in_binary)} behaviour cases, all registered")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
