#!/usr/bin/env python3
"""Renders docs/ into a static HTML book, and checks every page of it in a real browser.

  python3 docs/tools/book.py           build build-book/; open build-book/index.html
  python3 docs/tools/book.py --check   build it, then open every page in headless Chromium:
                                       fails on a broken link, a missing image or a script
                                       error, and saves a screenshot of each page in
                                       build-book/screenshots/

Every page of docs/ becomes a page of the book (docs/README.md, the contents, is its first),
with the chapters in a sidebar, a table of contents for the page, highlighted code, and each
stage's stored diff shown side by side. It needs Debian's pandoc (and chromium for --check)
and Node.js with npm: the first run installs diff2html and playwright-core from the npm
registry into build-book/npm/ (the versions are pinned in docs/tools/package.json).
The book mirrors the repository's layout (build-book/docs/, and the source files that pages
link to under build-book/chapters/ and build-book/tests/), so every relative link still works.
"""
import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

TOOLS = Path(__file__).resolve().parent
ROOT = TOOLS.parent.parent
DOCS = ROOT / "docs"
OUT = Path(os.environ.get("BOOK_DIR", ROOT / "build-book"))


def need(program, package):
    if shutil.which(program) is None:
        sys.exit(f"book.py: {program} is missing: sudo apt-get install {package}")


def npm_modules():
    """build-book/npm/node_modules, installed from docs/tools/package.json if it changed."""
    need("npm", "npm")
    npm = OUT / "npm"
    npm.mkdir(parents=True, exist_ok=True)
    wanted = (TOOLS / "package.json").read_bytes()
    if not (npm / "node_modules").is_dir() or (npm / "package.json").read_bytes() != wanted:
        (npm / "package.json").write_bytes(wanted)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
                       cwd=npm, check=True)
    for script in ("render_diffs.mjs", "check_book.mjs"):
        shutil.copy(TOOLS / script, npm / script)  # node resolves imports from the script's folder
    return npm


def pages():
    """The book's pages in reading order: (source, output name, title)."""
    def title(page):
        return page.read_text().splitlines()[0].lstrip("# ").strip()
    ordered = [DOCS / "README.md"] + sorted(DOCS.glob("[0-9][0-9]-*.md"))
    ordered += sorted(p for p in DOCS.glob("*.md") if p not in ordered)
    return [(p, "index.html" if p.name == "README.md" else p.stem + ".html", title(p))
            for p in ordered]


def sidebar(current, diff=None):
    items = []
    for _, name, title in pages():
        here = ' class="current"' if name == current else ""
        label = "Contents" if name == "index.html" else title
        items.append(f'<li><a href="{"../" if diff else ""}{name}"{here}>{html.escape(label)}</a></li>')
    return "<ul>\n" + "\n".join(items) + "\n</ul>"


def pandoc(source_text, output, reader, variables, toc):
    args = ["pandoc", "-f", reader, "-t", "html5", "--standalone",
            "--template", str(TOOLS / "book-template.html"),
            "--lua-filter", str(TOOLS / "links.lua"), "--highlight-style", "pygments",
            "-o", str(output)]
    if toc:
        args += ["--toc", "--toc-depth=2"]
    for key, value in variables.items():
        if isinstance(value, list):
            args += [arg for v in value for arg in ("-V", f"{key}={v}")]
        else:
            args += ["-V", f"{key}={value}"]
    subprocess.run(args, input=source_text, text=True, check=True)


def linked_files():
    """Files and directories outside docs/ that the pages link to (../chapters/...)."""
    found = set()
    for page in DOCS.glob("*.md"):
        for target in re.findall(r"\]\((\.\./[^)#\s]+)", page.read_text()):
            path = (DOCS / target).resolve()
            if path.exists() and path.is_relative_to(ROOT):
                found.add(path)
    return sorted(found)


def build():
    need("pandoc", "pandoc")
    need("node", "nodejs")
    npm = npm_modules()
    book = OUT / "docs"
    if book.exists():
        shutil.rmtree(book)
    (book / "diffs").mkdir(parents=True)

    for source, name, title in pages():
        pandoc(source.read_text(), book / name, "gfm",
               {"pagetitle": title, "root": "", "sidebar": sidebar(name)}, toc=True)

    diffs = sorted((DOCS / "diffs").glob("*.diff"))
    fragments = [book / "diffs" / (d.stem + ".fragment") for d in diffs]
    subprocess.run(["node", str(npm / "render_diffs.mjs")]
                   + [str(p) for pair in zip(diffs, fragments) for p in pair], check=True)
    shutil.copy(npm / "node_modules/diff2html/bundles/css/diff2html.min.css", book / "diffs")
    for diff, fragment in zip(diffs, fragments):
        chapter = f"../{diff.stem}.html"
        text = (f"# {diff.stem}: the diff from the stage before\n\n"
                f"[Back to the chapter]({chapter}) · [the diff as text]({diff.name}) · "
                f"`git diff --no-index` of the two stages' directories\n\n"
                "```{=html}\n" + fragment.read_text() + "\n```\n")
        pandoc(text, book / "diffs" / (diff.stem + ".html"), "markdown",
               {"pagetitle": f"{diff.stem} diff", "root": "../", "wide": "true",
                "css": ["diff2html.min.css"], "sidebar": sidebar(None, diff=True)}, toc=False)
        fragment.unlink()
        shutil.copy(diff, book / "diffs" / diff.name)

    for folder in ("figures", "bench"):
        if (DOCS / folder).is_dir():
            shutil.copytree(DOCS / folder, book / folder)
    shutil.copy(TOOLS / "book.css", book / "book.css")
    for path in linked_files():
        target = OUT / path.relative_to(ROOT)
        if target.exists():
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if path.is_dir() else shutil.copy)(path, target)
    (OUT / "index.html").write_text('<!DOCTYPE html><meta charset="utf-8">'
                                    '<meta http-equiv="refresh" content="0; url=docs/index.html">'
                                    '<title>Too Many Servers in C++</title>'
                                    '<a href="docs/index.html">The book</a>\n')
    print(f"The book: {OUT / 'index.html'}")
    return npm


def main(argv):
    if argv[:1] in (["-h"], ["--help"]) or argv not in ([], ["--check"]):
        print(__doc__.strip())
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    npm = build()
    if argv == ["--check"]:
        need("chromium", "chromium")
        return subprocess.run(["node", str(npm / "check_book.mjs"), str(OUT),
                               shutil.which("chromium")]).returncode
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
