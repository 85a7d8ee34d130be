#!/usr/bin/env python3
"""The code on the chapters' pages, taken from the stages' real sources, never pasted.

A chapter asks for a snippet with an HTML comment (invisible on the page), and this script
writes what follows it, up to `<!-- end -->`:

  <!-- code: chapters/05-multiplexed/main.cpp add -->
      a function, a type (class or struct) or a member (`Connection::advance`), by name,
      with the comment above it, as it is in the source; also a constant by name, and a
      doctest test case by its name in quotes: <!-- code: PATH "the test's name" -->
  <!-- diff: 05-multiplexed main.cpp main -->
      the hunks of the stage's stored diff (docs/diffs/05-multiplexed.diff) for that file that
      touch that function or type; without a name, all of the file's hunks
  <!-- nav -->
      the previous / contents / next links of a chapter

Each snippet opens with a line that says where it sits (file, and function or type).

  python3 docs/tools/snippets.py --write    fill every page's snippets from the sources
  python3 docs/tools/snippets.py --check    fail (and show the difference) where a page's
                                            snippet is not what the source holds now
Python 3 standard library only.
"""
import argparse
import difflib
import re
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
DOCS = ROOT / "docs"
DIRECTIVE = re.compile(r"^<!-- (code|diff|nav)(?::\s*(.*?))? -->\n(.*?)^<!-- end -->\n", re.M | re.S)
KEYWORDS = ("if", "while", "for", "switch", "return", "else", "case", "do", "co_return",
            "co_await", "throw", "delete", "new", "sizeof")


class SnippetError(Exception):
    pass


def strip_literals(line):
    """`line` without its comments and string and character literals, for counting braces."""
    line = re.sub(r'"(?:[^"\\]|\\.)*"', '""', line)
    line = re.sub(r"'(?:[^'\\]|\\.)*'", "''", line)
    return line.split("//", 1)[0]


def block_end(lines, start):
    """The index of the line that closes the first `{` at or after line `start`."""
    depth, opened = 0, False
    for index in range(start, len(lines)):
        code = strip_literals(lines[index])
        for char in code:
            if char == "{":
                depth, opened = depth + 1, True
            elif char == "}":
                depth -= 1
                if opened and depth == 0:
                    return index
        if not opened and code.rstrip().endswith(";"):
            return index  # a declaration with no body
    raise SnippetError(f"no closing brace after line {start + 1}")


def is_definition(lines, index, match_end):
    """True if the name matched on line `index` starts a definition: `{` comes before `;`."""
    text = strip_literals(lines[index])[match_end:]
    for following in lines[index + 1:index + 12]:
        if "{" in text or ";" in text:
            break
        text += strip_literals(following)
    brace, semi = text.find("{"), text.find(";")
    return brace != -1 and (semi == -1 or brace < semi)


def with_comment_above(lines, start):
    while start > 0 and lines[start - 1].strip().startswith(("//", "template", "requires")):
        start -= 1
    return start


def find_type(lines, name, within=(0, None)):
    """A class, struct or enum (`name` may be qualified, for one defined out of its class),
    or a concept."""
    pattern = re.compile(rf"^\s*(?:template\s*<.*>\s*)?(class|struct|enum class|enum)\s+"
                         rf"{re.escape(name)}\b(?!::)")
    concept = re.compile(rf"^\s*concept\s+{re.escape(name)}\b")
    for index in range(within[0], within[1] or len(lines)):
        match = pattern.match(lines[index])
        if match and is_definition(lines, index, match.end()):
            return match.group(1), index, block_end(lines, index)
        if concept.match(lines[index]):
            return "concept", index, block_end(lines, index)
    return None


def find_function(lines, name, within=(0, None)):
    pattern = re.compile(rf"(?<![\w:.>]){re.escape(name)}\s*\(")
    for index in range(within[0], within[1] or len(lines)):
        line = lines[index]
        match = pattern.search(strip_literals(line))
        if not match:
            continue
        before = line[:match.start()].strip()
        if before.split(" ")[0] in KEYWORDS or "=" in before or before.endswith((".", "->")):
            continue
        if is_definition(lines, index, match.end()):
            return index, block_end(lines, index)
    return None


def find_test_case(lines, name):
    needle = f'TEST_CASE("{name}")'
    for index, line in enumerate(lines):
        if needle in line:
            return "test case", index, block_end(lines, index)
    return None


def find_constant(lines, name):
    pattern = re.compile(rf"^\s*(?:static\s+|inline\s+)*(?:constexpr|const)\b.*\b{re.escape(name)}\s*(?:=|\{{)")
    for index, line in enumerate(lines):
        if pattern.match(line):
            end, depth = index, 0
            while True:  # to the `;` that ends it, outside any braces it opened
                code = strip_literals(lines[end])
                depth += code.count("{") - code.count("}")
                if depth <= 0 and code.rstrip().endswith(";"):
                    return "constant", index, end
                end += 1
    return None


def find_symbol(lines, symbol):
    """(what it is, first line, last line) of `symbol` in `lines`: a type, a function, a
    member (`Type::member`), a constant, or a doctest TEST_CASE by its quoted name."""
    if " " in symbol:
        found = find_test_case(lines, symbol)
        if found:
            return found
        raise SnippetError(f'no TEST_CASE("{symbol}")')
    if "::" in symbol:
        owner, member = symbol.rsplit("::", 1)
        found = find_type(lines, symbol)  # class Scheduler::Task { ... }, out of its class
        if found:
            return found
        found = find_function(lines, symbol)
        if found:
            return "function", *found
        found = find_constant(lines, symbol)  # const Table Scheduler::table{...}, out of its class
        if found:
            return found
        outer = find_type(lines, owner)
        if outer:
            inner = find_type(lines, member, (outer[1] + 1, outer[2]))
            if inner:
                return inner  # a nested type (before its constructor, which has its name)
            found = find_function(lines, member, (outer[1] + 1, outer[2]))
            if found:
                return "function", *found
        raise SnippetError(f"no definition of {symbol}")
    found = find_type(lines, symbol)
    if found:
        return found
    found = find_function(lines, symbol)
    if found:
        return "function", *found
    found = find_constant(lines, symbol)
    if found:
        return found
    raise SnippetError(f"no definition of {symbol}")


def language(path):
    return {".cpp": "cpp", ".hpp": "cpp", ".py": "python", ".build": "meson",
            ".txt": "text"}.get(Path(path).suffix, "")


def code_snippet(arguments):
    parts = shlex.split(arguments)
    if len(parts) != 2:
        raise SnippetError("code: wants a path and a name")
    path, symbol = parts
    lines = (ROOT / path).read_text().splitlines()
    kind, first, last = find_symbol(lines, symbol)
    first = with_comment_above(lines, first)
    body = "\n".join(lines[first:last + 1])
    return (f"`{path}`, {kind} `{symbol}`:\n\n"
            f"```{language(path)}\n{dedent(body)}\n```\n")


def dedent(text):
    lines = text.splitlines()
    indent = min((len(l) - len(l.lstrip()) for l in lines if l.strip()), default=0)
    return "\n".join(l[indent:] for l in lines)


def stage_diff_files(stage):
    """{path in the stage: [(new first line, new line count, hunk text)]} of a stored diff."""
    text = (DOCS / "diffs" / f"{stage}.diff").read_text()
    files, current, hunk = {}, None, None
    for line in text.splitlines():
        header = re.match(r"^diff --git a/\S+? b/chapters/[^/]+/(\S+)", line)
        if header:
            current, hunk = header.group(1), None
            files[current] = []
            continue
        at = re.match(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@", line)
        if at and current:
            hunk = [int(at.group(1)), int(at.group(2) or 1), [line]]
            files[current].append(hunk)
        elif hunk is not None and line[:1] in (" ", "+", "-", "\\"):
            hunk[2].append(line)
    return {path: [(h[0], h[1], "\n".join(h[2])) for h in hunks] for path, hunks in files.items()}


def diff_snippet(arguments):
    parts = shlex.split(arguments)
    if len(parts) not in (2, 3):
        raise SnippetError("diff: wants a stage, a path and maybe a name")
    stage, path = parts[0], parts[1]
    hunks = stage_diff_files(stage).get(path)
    if hunks is None:
        raise SnippetError(f"docs/diffs/{stage}.diff does not change {path}")
    where = ""
    if len(parts) == 3:
        lines = (ROOT / "chapters" / stage / path).read_text().splitlines()
        kind, first, last = find_symbol(lines, parts[2])
        first, last = first + 1, last + 1  # the diff counts lines from 1
        hunks = [h for h in hunks if h[0] <= last and h[0] + max(h[1], 1) - 1 >= first]
        if not hunks:
            raise SnippetError(f"no hunk of {path} in {stage}'s diff touches {parts[2]}")
        where = f", in {kind} `{parts[2]}`"
    before = (ROOT / "chapters" / stage / "lineage.txt").read_text().split("Relative to ", 1)[1]
    before = before.split(":", 1)[0]
    return (f"`chapters/{stage}/{path}`{where}, changed since {before}:\n\n"
            "```diff\n" + "\n".join(h[2] for h in hunks) + "\n```\n")


def chapters():
    return sorted(p for p in DOCS.glob("[0-9][0-9]-*.md"))


def title(page):
    return page.read_text().splitlines()[0].lstrip("# ").strip()


def nav_snippet(page):
    pages = chapters()
    if page not in pages:
        raise SnippetError("nav: only chapters have previous and next")
    index = pages.index(page)
    links = []
    if index > 0:
        links.append(f"← [{title(pages[index - 1])}]({pages[index - 1].name})")
    links.append("[Contents](README.md)")
    if index + 1 < len(pages):
        links.append(f"[{title(pages[index + 1])}]({pages[index + 1].name}) →")
    return " · ".join(links) + "\n"


def render(page, kind, arguments):
    if kind == "code":
        return code_snippet(arguments)
    if kind == "diff":
        return diff_snippet(arguments)
    return nav_snippet(page)


def shown(page):
    return page.relative_to(ROOT) if page.is_relative_to(ROOT) else page


def process(page):
    """(the page as it is, the page with its snippets made fresh, problems)."""
    text = page.read_text()
    problems = []

    def fresh(match):
        kind, arguments = match.group(1), (match.group(2) or "").strip()
        try:
            body = render(page, kind, arguments)
        except (SnippetError, OSError) as error:
            problems.append(f"{shown(page)}: <!-- {kind}: {arguments} -->: {error}")
            body = match.group(3)
        head = f"<!-- {kind}: {arguments} -->" if arguments else f"<!-- {kind} -->"
        return f"{head}\n{body}<!-- end -->\n"

    return text, DIRECTIVE.sub(fresh, text), problems


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--check", action="store_true")
    parser.add_argument("pages", nargs="*", type=Path)
    args = parser.parse_args(argv)
    pages = [p.resolve() for p in args.pages] or chapters() + [DOCS / "README.md"]
    status = 0
    for page in pages:
        old, new, problems = process(page)
        for problem in problems:
            print(problem)
            status = 1
        if old != new:
            if args.write:
                page.write_text(new)
                print(f"wrote {shown(page)}")
            else:
                status = 1
                print(f"{shown(page)}: a snippet differs from its source "
                      "(python3 docs/tools/snippets.py --write makes it fresh):")
                sys.stdout.writelines(difflib.unified_diff(
                    old.splitlines(True), new.splitlines(True), "page", "source", n=1))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
