#!/usr/bin/env python3
"""Runs a stage's demo program (and `demo --help`) and checks what it printed.

The demo must end by itself with status 0, and each PATTERN (a Python regular expression)
must match a line it printed: the lines its chapter quotes, figures included.

Usage: check_demo.py DEMO PATTERN...
"""
import re
import subprocess
import sys


def main(argv):
    if len(argv) < 1:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    demo, patterns = argv[0], argv[1:]
    if subprocess.run([demo, "--help"], capture_output=True).returncode != 0:
        print("demo --help failed")
        return 1
    run = subprocess.run([demo], capture_output=True, text=True, timeout=20)
    print(run.stdout + run.stderr, end="")
    missing = [p for p in patterns if not re.search(p, run.stdout, re.M)]
    for pattern in missing:
        print("the demo printed no line matching", repr(pattern))
    return 1 if run.returncode or missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
