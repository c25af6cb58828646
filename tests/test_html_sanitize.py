"""Job descriptions: the allowed simple HTML stays, nothing that runs survives."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from karajo.html_sanitize import ALLOWED_TAGS, is_safe_href, sanitize_description


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        ("plain text", "plain text"),
        ("<b>bold</b> <i>it</i>", "<b>bold</b> <i>it</i>"),
        (
            "<p>run <code>make</code><br>then <em>wait</em></p>",
            "<p>run <code>make</code><br>then <em>wait</em></p>",
        ),
        ("<ul><li>one<li>two</ul>", "<ul><li>one<li>two</li></li></ul>"),
        ("<pre>a &lt; b</pre>", "<pre>a &lt; b</pre>"),
        ("a < b & c > d", "a &lt; b &amp; c &gt; d"),
        ("<strong>open", "<strong>open</strong>"),
        ("</b>stray close", "stray close"),
    ],
)
def test_sanitize_keeps_allowed_tags(description, expected):
    assert sanitize_description(description) == expected


@pytest.mark.parametrize(
    "description",
    [
        "<script>alert(1)</script>",
        "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
        '<img src=x onerror="alert(1)">',
        "<svg onload=alert(1)>",
        '<b onclick="alert(1)">x</b>',
        '<a href="javascript:alert(1)">x</a>',
        '<a href="JaVaScRiPt:alert(1)">x</a>',
        '<a href="java\tscript:alert(1)">x</a>',
        '<a href="&#106;avascript:alert(1)">x</a>',
        '<a href="data:text/html,<script>alert(1)</script>">x</a>',
        '<a href="vbscript:msgbox(1)">x</a>',
        "<iframe src=/karajo/></iframe>",
        "<style>body{display:none}</style>",
        '<p style="background:url(javascript:alert(1))">x</p>',
        "<scr<script>ipt>alert(1)</script>",
        "<!-- <script>alert(1)</script> -->",
        '<math><mtext><table><mglyph><style><img src=x onerror="alert(1)">',
    ],
)
def test_sanitize_leaves_nothing_that_runs(description):
    cleaned = sanitize_description(description)

    tags = _tags_of(cleaned)
    assert {name for name, _ in tags} <= ALLOWED_TAGS
    for name, attrs in tags:
        assert set(attrs) <= ({"href", "rel"} if name == "a" else set())
        assert is_safe_href(attrs.get("href") or "")
    assert "alert(1)</script>" not in cleaned


def _tags_of(markup: str) -> list[tuple[str, dict[str, str | None]]]:
    """Every start tag of `markup` as a browser's parser would see it."""
    found: list[tuple[str, dict[str, str | None]]] = []

    class Collector(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list) -> None:
            found.append((tag, dict(attrs)))

    collector = Collector()
    collector.feed(markup)
    collector.close()
    return found


def test_sanitize_drops_script_content_entirely():
    assert sanitize_description("a<script>alert(1)</script>b") == "ab"


def test_sanitize_keeps_safe_links_with_only_href():
    cleaned = sanitize_description(
        '<a href="https://example.org/x?a=1&amp;b=2" target=_top onclick=x>docs</a>'
    )

    assert cleaned == (
        '<a href="https://example.org/x?a=1&amp;b=2" rel="noopener noreferrer">docs</a>'
    )


@pytest.mark.parametrize(
    ("href", "safe"),
    [
        ("https://example.org", True),
        ("http://example.org", True),
        ("/karajo/doc/", True),
        ("../other.html#part", True),
        ("page.html", True),
        ("javascript:alert(1)", False),
        (" javascript:alert(1)", False),
        ("java\nscript:alert(1)", False),
        ("data:text/html,x", False),
        ("ftp://example.org", False),
    ],
)
def test_is_safe_href(href, safe):
    assert is_safe_href(href) is safe
