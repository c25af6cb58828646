#!/usr/bin/env python3
"""Build the user documentation: docs/*.adoc into karajo/www/doc/*.html.

    python scripts/build_docs.py [--out DIR]

The AsciiDoc tool is `asciidoc` from PyPI (pure Python; the `test` extra
installs it).  The HTML is generated, not committed: scripts/test and the
zipapp build run this, and a karajo built without it still starts and says
that its documentation is missing.  Each page is converted without
asciidoc's own header, footer and JavaScript, then wrapped in karajo's page
frame with a list of its sections, so that it passes the pages' Content
Security Policy (no inline script, no inline style).
"""

from __future__ import annotations

import argparse
import html
import io
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIR = ROOT / "docs"
OUTPUT_DIR = ROOT / "karajo" / "www" / "doc"

# The order of the pages in every page's menu; index comes first.
PAGES = (
    "index",
    "installation",
    "configuration",
    "schedules",
    "webhooks",
    "http-api",
    "command-line",
    "web-interface",
    "library",
)
_SECTION = re.compile(r'<h2 id="([^"]+)">(.*?)</h2>', re.DOTALL)
# asciidoc writes table widths as style attributes, which the CSP blocks.
_STYLE_ATTRIBUTE = re.compile(r'\s+style="[^"]*"', re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_TABLE = re.compile(r'<table class="tableblock.*?</table>', re.DOTALL)
_HEADING = re.compile(r"<th[^>]*>(.*?)</th>", re.DOTALL)
_ROW = re.compile(r"<tr>.*?</tr>", re.DOTALL)
_CELL = re.compile(r"<td(?=[\s>])")


class DocsError(Exception):
    """A page did not convert cleanly."""


@dataclass(frozen=True)
class Page:
    name: str
    title: str
    body: str

    @property
    def file_name(self) -> str:
        return f"{self.name}.html"


def build_docs(
    source_dir: Path = SOURCE_DIR, output_dir: Path = OUTPUT_DIR
) -> list[Path]:
    """Convert every page; return the files written."""
    pages = [convert(source_dir / f"{name}.adoc") for name in PAGES]
    output_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for page in pages:
        path = output_dir / page.file_name
        path.write_text(render(page, pages), encoding="utf-8")
        written.append(path)
    return written


def convert(source: Path) -> Page:
    """Run asciidoc on one page; any warning is an error."""
    from asciidoc.api import AsciiDocAPI

    api = AsciiDocAPI()
    api.options("--no-header-footer")
    api.attributes["disable-javascript"] = ""
    out = io.StringIO()
    api.execute(str(source), out, backend="html5")
    problems = [
        message
        for message in api.messages
        if "WARNING" in message or "ERROR" in message
    ]
    if problems:
        raise DocsError(f"{source}: " + "; ".join(problems))
    body = _label_cells(_STYLE_ATTRIBUTE.sub("", out.getvalue()))
    return Page(source.stem, _title_of(source), body)


def _label_cells(body: str) -> str:
    """Give each table cell its column's heading as `data-label`.

    On a phone doc.css lays a table out as one block per row, and shows
    each cell's label in front of it in place of the header row.
    """
    return _TABLE.sub(_label_table, body)


def _label_table(match: re.Match[str]) -> str:
    table = match.group(0)
    labels = [
        html.escape(_TAG.sub("", text).strip(), quote=True)
        for text in _HEADING.findall(table)
    ]
    if not labels:
        return table

    def label_row(row: re.Match[str]) -> str:
        cells = iter(labels)
        return _CELL.sub(
            lambda cell: f'<td data-label="{next(cells, "")}"', row.group(0)
        )

    return _ROW.sub(label_row, table)


def _title_of(source: Path) -> str:
    first = source.read_text(encoding="utf-8").splitlines()[0]
    if not first.startswith("= "):
        raise DocsError(f"{source}:1: a page starts with its title, `= Title`")
    return first[2:].strip()


def render(page: Page, pages: list[Page]) -> str:
    """The whole HTML file of a page: frame, menu, sections, body."""
    title = html.escape(page.title)
    menu = "\n".join(_menu_item(other, page) for other in pages)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · karajo documentation</title>
<link rel="icon" href="/karajo/assets/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/karajo/assets/karajo.css">
<link rel="stylesheet" href="/karajo/assets/doc.css">
</head>
<body class="doc-page">
<a class="skip-link" href="#main">Skip to the text</a>
<header class="bar">
<h1><a href="index.html" class="doc-home"><img src="/karajo/assets/favicon.svg" alt=""
  width="28" height="28"> karajo documentation</a></h1>
<nav class="session" aria-label="karajo"><a href="/karajo/">Dashboard</a></nav>
</header>
<div class="doc-layout">
<nav class="doc-menu" aria-label="Pages">
<ul>
{menu}
</ul>
</nav>
<main id="main" class="doc-main">
<h1 id="top">{title}</h1>
{_sections(page)}
{page.body}
</main>
</div>
</body>
</html>
"""


def _menu_item(other: Page, current: Page) -> str:
    current_mark = ' aria-current="page"' if other.name == current.name else ""
    return (
        f'<li><a href="{other.file_name}"{current_mark}>'
        f"{html.escape(other.title)}</a></li>"
    )


def _sections(page: Page) -> str:
    """A list of the page's sections, where it has more than one."""
    found = _SECTION.findall(page.body)
    if len(found) < 2:
        return ""
    items = "\n".join(
        f'<li><a href="#{anchor}">{_TAG.sub("", text).strip()}</a></li>'
        for anchor, text in found
    )
    return (
        f'<nav class="doc-toc" aria-label="On this page">\n<ul>\n{items}\n</ul>\n</nav>'
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUTPUT_DIR, help="output folder")
    args = parser.parse_args(argv)
    try:
        written = build_docs(output_dir=args.out)
    except (DocsError, OSError) as error:
        print(f"build_docs: {error}", file=sys.stderr)
        return 1
    except ImportError:
        print(
            "build_docs: the asciidoc package is missing; "
            "install it with `pip install asciidoc` (or `pip install -e .[test]`)",
            file=sys.stderr,
        )
        return 1
    print(f"build_docs: {len(written)} pages in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
