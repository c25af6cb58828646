"""A reader for the git-config flavour of INI that karajo files are written in.

Nothing here knows about karajo: it turns text into sections of key/value
entries and leaves merging and meaning to the caller. The rules follow
git-config where the original karajo relied on them (comments after values,
double quotes that are removed, backslash continuations), with a few choices
of our own for cases git rejects but shell commands in real files contain;
each is explained where it is made.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from karajo.errors import ConfigError

_BLANKS = " \t"
_COMMENT_STARTS = "#;"

# Section names are matched case-insensitively; like git we allow "." so that
# "[job.http "x"]" names the section "job.http".
_SECTION_NAME = re.compile(r"[A-Za-z0-9.-]+")

# Real karajo files use underscores ("http_timeout"), which git itself rejects.
_KEY_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")

_QUOTED_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "b": "\b"}
_UNQUOTED_ESCAPES = {'"': '"', "\\": "\\"}


@dataclass(frozen=True)
class Entry:
    """One "key = value" line, possibly continued over several lines."""

    key: str
    value: str
    line: int
    raw: str
    comment_cut: bool
    quotes_removed: bool


@dataclass
class Section:
    """One "[name]" or "[name "subsection"]" header and the entries below it."""

    name: str
    subsection: str | None
    file: str
    line: int
    entries: list[Entry] = field(default_factory=list)

    def get(self, key: str) -> Entry | None:
        """Return the last entry named KEY (case-insensitive), or None."""
        key = key.lower()
        for entry in reversed(self.entries):
            if entry.key == key:
                return entry
        return None

    def get_all(self, key: str) -> list[Entry]:
        """Return every entry named KEY (case-insensitive), in file order."""
        key = key.lower()
        return [entry for entry in self.entries if entry.key == key]


def read_file(path: str | os.PathLike[str]) -> list[Section]:
    """Read and parse the UTF-8 file at PATH."""
    filename = os.fsdecode(path)
    try:
        data = Path(filename).read_bytes()
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise ConfigError(f"cannot read: {reason}", file=filename) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError("not valid UTF-8", file=filename, line=line) from exc
    return parse(text, filename)


def parse(text: str, filename: str) -> list[Section]:
    """Parse TEXT into sections in file order; FILENAME labels sections and errors.

    The same section may appear several times; merging is the caller's job.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    sections: list[Section] = []

    index = 0
    while index < len(lines):
        stripped = lines[index].strip(_BLANKS)
        if not stripped or stripped[0] in _COMMENT_STARTS:
            index += 1
        elif stripped[0] == "[":
            sections.append(_parse_header(stripped, filename, index + 1))
            index += 1
        else:
            entry, index = _parse_entry(lines, index, filename)
            if not sections:
                message = f"key {_show(entry.key)} outside any section"
                raise ConfigError(message, file=filename, line=entry.line)
            sections[-1].entries.append(entry)
    return sections


def _show(text: str) -> str:
    """Quote TEXT for an error message, escaping control characters."""
    return json.dumps(text, ensure_ascii=False)


def _parse_header(text: str, filename: str, line: int) -> Section:
    """Parse a stripped line starting with "[" into an empty section."""
    match = _SECTION_NAME.match(text, 1)
    if match is None:
        raise ConfigError("invalid section header", file=filename, line=line)
    name = match.group().lower()
    pos = match.end()

    subsection = None
    if text[pos : pos + 1] != "]":
        start = pos
        while text[pos : pos + 1] in (" ", "\t"):
            pos += 1
        if pos == start or text[pos : pos + 1] != '"':
            raise ConfigError("invalid section header", file=filename, line=line)
        subsection, pos = _parse_subsection(text, pos + 1, filename, line)

    rest = text[pos + 1 :].lstrip(_BLANKS)
    if rest and rest[0] not in _COMMENT_STARTS:
        message = "unexpected text after section header"
        raise ConfigError(message, file=filename, line=line)
    return Section(name, subsection, filename, line)


def _parse_subsection(text: str, pos: int, filename: str, line: int) -> tuple[str, int]:
    """Read a subsection name from just after its opening quote.

    Returns the name and the position of the "]" that must follow the closing
    quote. As git documents, a backslash before any character other than
    '"' and "\\" is dropped.
    """
    chars: list[str] = []
    while pos < len(text):
        char = text[pos]
        if char == '"':
            if text[pos + 1 : pos + 2] != "]":
                message = 'expected "]" after subsection name'
                raise ConfigError(message, file=filename, line=line)
            return "".join(chars), pos + 1
        if char == "\\":
            pos += 1
            if pos == len(text):
                break
            char = text[pos]
        chars.append(char)
        pos += 1
    raise ConfigError("unterminated subsection name", file=filename, line=line)


def _parse_entry(lines: list[str], index: int, filename: str) -> tuple[Entry, int]:
    """Parse the entry starting at LINES[INDEX]; return it and the next index."""
    line = index + 1
    key, rest = _split_key(lines[index].strip(_BLANKS), filename, line)
    if rest is None:
        return Entry(key, "true", line, "", False, False), index + 1

    scanner = _ValueScanner()
    parts = [rest]
    continues = scanner.feed(rest)
    index += 1
    while continues and index < len(lines):
        parts.append(lines[index])
        continues = scanner.feed(lines[index])
        index += 1

    if scanner.quoted:
        message = f"unterminated quote in value of {_show(key)}"
        raise ConfigError(message, file=filename, line=line)
    raw = "\n".join(parts).strip(_BLANKS)
    entry = Entry(
        key, scanner.value, line, raw, scanner.comment_cut, scanner.quotes_removed
    )
    return entry, index


def _split_key(text: str, filename: str, line: int) -> tuple[str, str | None]:
    """Split a stripped entry line into its lower-cased key and the text after "=".

    The text is None when there is no "=", which git reads as "true". A
    comment straight after the key is allowed, as the original accepted it.
    """
    match = _KEY_NAME.match(text)
    if match is not None:
        rest = text[match.end() :].lstrip(_BLANKS)
        key = match.group().lower()
        if not rest or rest[0] in _COMMENT_STARTS:
            return key, None
        if rest[0] == "=":
            return key, rest[1:]

    name = text.partition("=")[0]
    if "=" not in text:
        name = re.split(r"[#;]", name, maxsplit=1)[0]
    name = name.strip(_BLANKS)
    if not name:
        raise ConfigError('missing key name before "="', file=filename, line=line)
    message = f"key {_show(name)} is not a valid name"
    raise ConfigError(message, file=filename, line=line)


class _ValueScanner:
    """Turn the text after "=" and its continuation lines into a value.

    Unquoted blanks wait in `blanks` until a later character shows they are
    inner blanks; blanks still waiting at the end are trailing and dropped.
    """

    def __init__(self) -> None:
        self.chars: list[str] = []
        self.blanks = ""
        self.quoted = False
        self.comment_cut = False
        self.quotes_removed = False
        self.is_joining = False

    @property
    def value(self) -> str:
        return "".join(self.chars)

    def feed(self, text: str) -> bool:
        """Scan one physical line; return True when the value continues."""
        # Blanks after a final backslash are invisible in an editor, and the
        # original treated "\  " at the end of a line as a continuation too.
        text = self._start_line(text.rstrip(_BLANKS))
        pos = 0
        while pos < len(text):
            char = text[pos]
            if char == "\\":
                if pos + 1 == len(text):
                    self._end_line_joined()
                    return True
                self._escape(text[pos + 1])
                pos += 2
                continue
            if not self.quoted and char in _COMMENT_STARTS:
                self.comment_cut = True
                return False
            self._char(char)
            pos += 1
        return False

    def _start_line(self, text: str) -> str:
        """Fold the leading blanks of a continuation line into the join blank."""
        was_joining, self.is_joining = self.is_joining, False
        if not was_joining or self.quoted:
            return text
        stripped = text.lstrip(_BLANKS)
        if stripped != text:
            self.blanks = " "
        return stripped

    def _end_line_joined(self) -> None:
        # The original joins continued lines with exactly one blank when
        # either side had blanks; inside quotes every blank is kept instead.
        self.is_joining = True
        if not self.quoted and self.blanks:
            self.blanks = " "

    def _escape(self, char: str) -> None:
        table = _QUOTED_ESCAPES if self.quoted else _UNQUOTED_ESCAPES
        if char in table:
            self._put(table[char])
            return
        # git rejects unknown escapes, but values here are mostly shell
        # commands ("grep 'a\.b'", "find -exec rm {} \;"): keep the backslash
        # and the character as written, so "\;" and "\#" do not start a
        # comment. A blank after the backslash stays an ordinary blank.
        self._put("\\")
        if char in _BLANKS and not self.quoted:
            self.blanks += char
        else:
            self._put(char)

    def _char(self, char: str) -> None:
        if char == '"':
            self._flush_blanks()
            self.quoted = not self.quoted
            self.quotes_removed = True
        elif char in _BLANKS and not self.quoted:
            self.blanks += char
        else:
            self._put(char)

    def _put(self, char: str) -> None:
        self._flush_blanks()
        self.chars.append(char)

    def _flush_blanks(self) -> None:
        # Blanks before the first character are leading blanks: drop them.
        if self.chars and self.blanks:
            self.chars.append(self.blanks)
        self.blanks = ""
