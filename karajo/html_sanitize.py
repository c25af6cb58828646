"""Job descriptions as safe HTML: an allow-list of simple tags, nothing that runs.

The original shows a job's `description` as HTML, and configurations use
that for emphasis, code and links.  The dashboard gets the description
through `sanitize_description` only: allowed tags come out rebuilt from
scratch (never copied from the input), every other tag is dropped with its
text kept as text, and the content of `script` and `style` is dropped too.
Links keep `href` alone, and only when it is http, https or relative.
"""

from __future__ import annotations

import re
from html import escape
from html.parser import HTMLParser

ALLOWED_TAGS = frozenset(
    {"a", "b", "br", "code", "em", "i", "li", "ol", "p", "pre", "strong", "ul"}
)
_VOID_TAGS = frozenset({"br"})
# Text inside these is code or styling, never words to show.
_DROPPED_CONTENT_TAGS = frozenset({"script", "style", "template", "noscript"})
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):")
_SAFE_SCHEMES = frozenset({"http", "https"})
# Browsers ignore these inside a URL, so `java\tscript:` would still be script.
_URL_IGNORED_CHARS = re.compile(r"[\x00-\x20\x7f]")


def sanitize_description(text: str) -> str:
    """The allowed part of a job description, as HTML safe to insert."""
    parser = _Sanitizer()
    parser.feed(text)
    parser.close()
    return parser.result()


def is_safe_href(href: str) -> bool:
    """Whether a link target is http, https or relative (no scheme)."""
    if _URL_IGNORED_CHARS.search(href.strip()):
        return False
    match = _SCHEME.match(href.strip())
    return match is None or match.group(1).lower() in _SAFE_SCHEMES


class _Sanitizer(HTMLParser):
    def __init__(self) -> None:
        # Character references in text and attributes are decoded by the
        # parser, so `&#106;avascript:` is checked as `javascript:`.
        super().__init__(convert_charrefs=True)
        self._out: list[str] = []
        self._open: list[str] = []
        self._dropping: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROPPED_CONTENT_TAGS:
            self._dropping.append(tag)
            return
        if self._dropping or tag not in ALLOWED_TAGS:
            return
        if tag == "a":
            self._out.append(_link_start(attrs))
        else:
            self._out.append(f"<{tag}>")
        if tag not in _VOID_TAGS:
            self._open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID_TAGS and not self._dropping:
            self._out.append(f"<{tag}>")

    def handle_endtag(self, tag: str) -> None:
        if self._dropping:
            if tag == self._dropping[-1]:
                self._dropping.pop()
            return
        if tag not in self._open:
            return
        # Close whatever was left open inside it, so the output nests.
        while self._open:
            inner = self._open.pop()
            self._out.append(f"</{inner}>")
            if inner == tag:
                break

    def handle_data(self, data: str) -> None:
        if not self._dropping:
            self._out.append(escape(data, quote=False))

    def result(self) -> str:
        closing = [f"</{tag}>" for tag in reversed(self._open)]
        return "".join(self._out + closing)


def _link_start(attrs: list[tuple[str, str | None]]) -> str:
    href = next((value for name, value in attrs if name == "href"), None)
    if href is None or not is_safe_href(href):
        return "<a>"
    return f'<a href="{escape(href.strip(), quote=True)}" rel="noopener noreferrer">'
