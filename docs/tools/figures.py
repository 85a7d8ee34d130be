#!/usr/bin/env python3
"""The book's pictures, drawn from their sources, never by hand.

Each picture is a Graphviz source, docs/figures/NAME.dot, and the page embeds the SVG that
`dot -Tsvg` makes of it, docs/figures/NAME.svg, committed next to it:

  python3 docs/tools/figures.py --write          render every source to its SVG
  python3 docs/tools/figures.py --check          fail, naming the figure, where a committed
                                                 SVG is not what its source gives now (or
                                                 is missing, or has no source)
  python3 docs/tools/figures.py --png DIR        also render each source to DIR/NAME.png,
                                                 to look at (nothing in docs/ changes)
  python3 docs/tools/figures.py --check NAME...  only those figures (NAME or NAME.dot)

The SVG is dot's output byte for byte: the same source gives the same bytes on every run
with the same Graphviz (its version is in a comment at the top of each SVG). A source that
makes dot warn is an error too: a warning means the layout is not the one that was drawn.
Without `dot` (Debian: apt-get install graphviz), --check says so and exits 77, which Meson
reports as "skipped". Python 3 standard library only.
"""
import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
FIGURES = ROOT / "docs" / "figures"
SKIPPED = 77  # Meson's exit status for a skipped test


class FigureError(Exception):
    pass


def shown(path):
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def render(dot, source, fmt):
    """The bytes `dot -T<fmt>` makes of `source`. Run in the figures' directory, on the file's
    name, so that dot's messages name the file and nothing of this machine's paths gets in."""
    result = subprocess.run([dot, f"-T{fmt}", source.name], cwd=source.parent,
                            stdin=subprocess.DEVNULL, capture_output=True, check=False)
    messages = result.stderr.decode(errors="replace").strip()
    if result.returncode != 0:
        raise FigureError(f"dot failed (exit status {result.returncode}): {messages}")
    if messages:
        raise FigureError(f"dot warned: {messages}")
    if not result.stdout:
        raise FigureError("dot wrote nothing")
    return result.stdout


def selected(names):
    """(sources, orphans): the .dot files asked for (all by default), and the .svg files that
    have no source."""
    sources = sorted(FIGURES.glob("*.dot"))
    orphans = [svg for svg in sorted(FIGURES.glob("*.svg")) if not svg.with_suffix(".dot").exists()]
    if not names:
        return sources, orphans
    wanted = {Path(name).name.removesuffix(".dot").removesuffix(".svg") for name in names}
    unknown = wanted - {source.stem for source in sources} - {svg.stem for svg in orphans}
    if unknown:
        raise FigureError(f"no such figure: {', '.join(sorted(unknown))} "
                          f"(the figures are {', '.join(s.stem for s in sources)})")
    return ([s for s in sources if s.stem in wanted], [o for o in orphans if o.stem in wanted])


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="render every source to its SVG")
    mode.add_argument("--check", action="store_true", help="fail where an SVG is not fresh")
    mode.add_argument("--png", metavar="DIR", type=Path, help="render PNGs into DIR, to look at")
    parser.add_argument("figures", nargs="*", help="only these figures (default: all)")
    args = parser.parse_args(argv)

    dot = shutil.which("dot")
    if dot is None:
        print("figures: `dot` (Graphviz) is not installed, so the figures cannot be checked: "
              "skipped (Debian: apt-get install graphviz)")
        return SKIPPED if args.check else 1

    try:
        sources, orphans = selected(args.figures)
    except FigureError as error:
        print(f"figures: {error}")
        return 1
    if not sources and not orphans:
        print(f"figures: no figure in {shown(FIGURES)}")
        return 1

    status = 0
    for orphan in orphans:
        print(f"{shown(orphan)}: has no source ({orphan.with_suffix('.dot').name}): "
              "delete the SVG, or restore its source")
        status = 1
    for source in sources:
        svg = source.with_suffix(".svg")
        try:
            if args.png:
                args.png.mkdir(parents=True, exist_ok=True)
                png = args.png / f"{source.stem}.png"
                png.write_bytes(render(dot, source, "png"))
                print(f"wrote {png}")
                continue
            fresh = render(dot, source, "svg")
        except FigureError as error:
            print(f"{shown(source)}: {error}")
            status = 1
            continue
        committed = svg.read_bytes() if svg.exists() else None
        if committed == fresh:
            continue
        if args.write:
            svg.write_bytes(fresh)
            print(f"wrote {shown(svg)}")
        elif committed is None:
            print(f"{shown(svg)}: missing: its source {source.name} has not been rendered "
                  "(python3 docs/tools/figures.py --write)")
            status = 1
        else:
            print(f"{shown(svg)}: differs from what {source.name} gives now "
                  "(python3 docs/tools/figures.py --write makes it fresh)")
            status = 1
    if status == 0 and not args.png:
        print(f"figures: {len(sources)} up to date")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
