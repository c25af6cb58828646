"""Tests for karajo.ini, the git-config dialect reader."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from karajo.errors import ConfigError
from karajo.ini import Entry, Section, parse, read_file

FILE = "test.conf"


def entry_of(text: str, key: str = "key") -> Entry:
    """Parse TEXT under a [s] header and return the entry named KEY."""
    entry = parse("[s]\n" + text, FILE)[0].get(key)
    assert entry is not None
    return entry


def value_of(text: str, key: str = "key") -> str:
    return entry_of(text, key).value


def error_of(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse(text, FILE)
    return info.value


# Sections


@pytest.mark.parametrize(
    ("header", "name", "subsection"),
    [
        ("[karajo]", "karajo", None),
        ("[KaRaJo]", "karajo", None),
        ('[job "x"]', "job", "x"),
        ('[job.http "x"]', "job.http", "x"),
        ('[Job.HTTP "Mixed Case"]', "job.http", "Mixed Case"),
        ('[job-2 ""]', "job-2", ""),
        ('[job\t "x"]', "job", "x"),
        ("  [karajo]  ", "karajo", None),
    ],
)
def test_parse_section_header_forms(
    header: str, name: str, subsection: str | None
) -> None:
    section = parse(header, FILE)[0]
    assert (section.name, section.subsection) == (name, subsection)


@pytest.mark.parametrize(
    ("header", "subsection"),
    [
        (r'[job "a \"b\""]', 'a "b"'),
        (r'[job "a\\b"]', "a\\b"),
        (r'[job "a\xb"]', "axb"),
        ('[job "a # ; ] [ = b"]', "a # ; ] [ = b"),
    ],
)
def test_parse_subsection_escapes_and_any_character(
    header: str, subsection: str
) -> None:
    assert parse(header, FILE)[0].subsection == subsection


def test_parse_section_records_file_and_line() -> None:
    sections = parse("\n# c\n[a]\n[b]\n", "x.conf")
    assert [(s.name, s.file, s.line) for s in sections] == [
        ("a", "x.conf", 3),
        ("b", "x.conf", 4),
    ]


def test_parse_repeated_section_is_returned_twice() -> None:
    sections = parse('[job "a"]\nx = 1\n[job "a"]\nx = 2\n', FILE)
    assert [(s.name, s.subsection) for s in sections] == [("job", "a")] * 2
    assert [s.entries[0].value for s in sections] == ["1", "2"]


def test_parse_comment_after_section_header_is_allowed() -> None:
    assert parse('[job "x"]  # note\n[a] ; note', FILE)[1].name == "a"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("[", "invalid section header"),
        ("[]", "invalid section header"),
        ("[ job]", "invalid section header"),
        ("[job", "invalid section header"),
        ("[job x]", "invalid section header"),
        ("[job ]", "invalid section header"),
        ("[jo b]", "invalid section header"),
        ("[job_x]", "invalid section header"),
        ('[job "x"', 'expected "]" after subsection name'),
        ('[job "x" ]', 'expected "]" after subsection name'),
        ('[job "x"y]', 'expected "]" after subsection name'),
        ('[job "x]', "unterminated subsection name"),
        ('[job "x\\', "unterminated subsection name"),
        ("[job] x = 1", "unexpected text after section header"),
    ],
)
def test_parse_bad_section_header_is_an_error(header: str, message: str) -> None:
    error = error_of("[ok]\n" + header)
    assert (error.message, error.file, error.line) == (message, FILE, 2)


# Comments and blank lines


@pytest.mark.parametrize("line", ["# note", "; note", "   # indented", "\t; tab"])
def test_parse_comment_line_is_ignored(line: str) -> None:
    assert parse(f"[s]\n{line}\nkey = v\n", FILE)[0].entries == [
        Entry("key", "v", 3, "v", False, False)
    ]


@pytest.mark.parametrize(
    ("text", "value"),
    [("key = v # note", "v"), ("key = v ; note", "v"), ("key = v#note", "v")],
)
def test_parse_comment_after_value_is_removed(text: str, value: str) -> None:
    entry = entry_of(text)
    assert (entry.value, entry.comment_cut) == (value, True)


def test_parse_comment_inside_quotes_is_kept() -> None:
    entry = entry_of('key = "a # b ; c"')
    assert (entry.value, entry.comment_cut) == ("a # b ; c", False)


def test_parse_semicolon_cuts_unquoted_shell_command() -> None:
    assert value_of("command = cd /tmp; ls", "command") == "cd /tmp"


def test_parse_empty_and_blank_lines_are_ignored() -> None:
    sections = parse("\n   \n\t\n[s]\n\n  \nkey = v\n\n", FILE)
    assert [(e.key, e.line) for e in sections[0].entries] == [("key", 7)]


def test_parse_crlf_line_endings_are_accepted() -> None:
    sections = parse('[job "x"]\r\nkey = v \r\nflag\r\n', FILE)
    assert [(e.key, e.value) for e in sections[0].entries] == [
        ("key", "v"),
        ("flag", "true"),
    ]


def test_parse_utf8_bom_is_ignored() -> None:
    assert parse("\ufeff[karajo]\nname = x\n", FILE)[0].name == "karajo"


def test_parse_empty_text_gives_no_sections() -> None:
    assert parse("", FILE) == []


# Keys


@pytest.mark.parametrize(
    "line", ["key = v", "KEY = v", "Key=v", "  key   =   v", "\tkey\t=\tv"]
)
def test_parse_key_is_case_insensitive_and_blank_tolerant(line: str) -> None:
    assert value_of(line) == "v"


@pytest.mark.parametrize("key", ["http_timeout", "notif-on-success", "a1", "X_2-y"])
def test_parse_key_allows_underscore_hyphen_and_digits(key: str) -> None:
    assert value_of(f"{key} = v", key.lower()) == "v"


@pytest.mark.parametrize(
    ("line", "name"),
    [
        ("x y = 1", "x y"),
        ("1key = 1", "1key"),
        ("_key = 1", "_key"),
        ("foo.bar = 1", "foo.bar"),
        ("ké = 1", "ké"),
        ("x y", "x y"),
        ("x y # z", "x y"),
        ("key: value", "key: value"),
    ],
)
def test_parse_invalid_key_name_is_an_error(line: str, name: str) -> None:
    error = error_of(f"[s]\n{line}")
    assert error.message == f'key "{name}" is not a valid name'
    assert (error.file, error.line) == (FILE, 2)


def test_parse_missing_key_name_is_an_error() -> None:
    assert error_of("[s]\n= value").message == 'missing key name before "="'


def test_parse_key_outside_any_section_is_an_error() -> None:
    error = error_of("# header\nFoo = 1\n[s]\n")
    assert str(error) == f'{FILE}:2: key "foo" outside any section'


@pytest.mark.parametrize("line", ["flag", "flag  ", "flag # note", "flag;note"])
def test_parse_key_without_equals_is_true(line: str) -> None:
    entry = entry_of(line, "flag")
    assert (entry.value, entry.raw) == ("true", "")


@pytest.mark.parametrize("line", ["key =", "key =   ", "key = # note", 'key = ""'])
def test_parse_key_with_empty_value_is_empty(line: str) -> None:
    assert value_of(line) == ""


def test_parse_repeated_key_keeps_every_value_in_order() -> None:
    section = parse("[s]\ncommand = a\nCOMMAND = b\nother = x\ncommand = c\n", FILE)[0]
    assert [e.value for e in section.get_all("Command")] == ["a", "b", "c"]
    assert [e.line for e in section.get_all("command")] == [2, 3, 5]


def test_section_get_returns_last_entry_or_none() -> None:
    section = parse("[s]\nto = a\nto = b\n", FILE)[0]
    assert section.get("TO") == Entry("to", "b", 3, "b", False, False)
    assert section.get("missing") is None
    assert section.get_all("missing") == []


def test_section_can_be_built_without_entries() -> None:
    assert Section("karajo", None, FILE, 1).entries == []


# Blanks


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ("key =    v   ", "v"),
        ("key =\t v \t", "v"),
        ("key = a  b\tc", "a  b\tc"),
        ("key = a   # note", "a"),
    ],
)
def test_parse_value_blanks_outer_dropped_inner_kept(line: str, value: str) -> None:
    assert value_of(line) == value


# Continuation lines


def test_parse_continuation_spec_example() -> None:
    entry = entry_of("key = look likes \\\n   if its\nnext = 1\n")
    assert (entry.value, entry.line) == ("look likes if its", 2)


def test_parse_continuation_without_blanks_joins_directly() -> None:
    assert value_of("key = abc\\\ndef") == "abcdef"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("key = a\\\n  b", "a b"),
        ("key = a  \\\nb", "a b"),
        ("key = a \t \\\n \t b", "a b"),
    ],
)
def test_parse_continuation_joins_with_one_blank(text: str, value: str) -> None:
    assert value_of(text) == value


def test_parse_continuation_repeats_over_many_lines() -> None:
    text = "[s]\nkey = one \\\n  two\\\nthree \\\n\tfour\nnext = x\n"
    section = parse(text, FILE)[0]
    assert [(e.key, e.value, e.line) for e in section.entries] == [
        ("key", "one twothree four", 2),
        ("next", "x", 6),
    ]


def test_parse_continuation_raw_joins_lines_with_newline() -> None:
    assert entry_of("key = a \\\n  b # c").raw == "a \\\n  b # c"


def test_parse_continuation_trailing_blanks_after_backslash() -> None:
    assert value_of("key = a \\  \nb") == "a b"


def test_parse_continuation_at_end_of_text_ends_value() -> None:
    assert value_of("key = abc \\") == "abc"


def test_parse_continuation_into_empty_line_ends_value() -> None:
    section = parse("[s]\nkey = abc \\\n\nnext = 1\n", FILE)[0]
    assert [(e.key, e.value) for e in section.entries] == [
        ("key", "abc"),
        ("next", "1"),
    ]


def test_parse_continuation_inside_quotes_keeps_blanks() -> None:
    assert value_of('key = "a  \\\n  b"') == "a    b"


def test_parse_continuation_line_can_hold_comment() -> None:
    entry = entry_of("key = a \\\n  b # note \\\nnext = 1", "next")
    assert entry.value == "1"


def test_parse_escaped_backslash_at_end_is_not_continuation() -> None:
    section = parse("[s]\nkey = a\\\\\nnext = 1\n", FILE)[0]
    assert [e.value for e in section.entries] == ["a\\", "1"]


# Quotes and escapes


def test_parse_quotes_spec_example() -> None:
    entry = entry_of('command = echo "a  b"', "command")
    assert (entry.value, entry.quotes_removed) == ("echo a  b", True)


def test_parse_quotes_protect_blanks_and_comments() -> None:
    assert value_of('key = " a # b "') == " a # b "


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ('key = a"b"c', "abc"),
        ('key = "a" "b"', "a b"),
        ('key = x "" y', "x  y"),
        ('key = "" y', "y"),
        ('key =   "  lead"', "  lead"),
        ('key = "trail  "   ', "trail  "),
    ],
)
def test_parse_quotes_only_protect_what_they_enclose(line: str, value: str) -> None:
    assert value_of(line) == value


@pytest.mark.parametrize(
    ("line", "value"),
    [
        (r'key = "a\"b"', 'a"b'),
        (r'key = "a\\b"', "a\\b"),
        (r'key = "a\nb"', "a\nb"),
        (r'key = "a\tb"', "a\tb"),
        (r'key = "a\bb"', "a\bb"),
    ],
)
def test_parse_escapes_inside_quotes(line: str, value: str) -> None:
    assert value_of(line) == value


@pytest.mark.parametrize(
    ("line", "value"),
    [(r"key = a\"b", 'a"b'), (r"key = a\\b", "a\\b"), (r"key = \"x\"", '"x"')],
)
def test_parse_escapes_outside_quotes(line: str, value: str) -> None:
    entry = entry_of(line)
    assert (entry.value, entry.quotes_removed) == (value, False)


@pytest.mark.parametrize(
    ("line", "value"),
    [
        (r"command = grep 'a\.b' file", r"grep 'a\.b' file"),
        (r"command = printf 'x\n'", r"printf 'x\n'"),
        (r"command = find . -exec rm {} \;", r"find . -exec rm {} \;"),
        (r"command = echo \# not a comment", r"echo \# not a comment"),
        (r"command = a\ b", r"a\ b"),
        ('command = "grep a\\.b"', r"grep a\.b"),
    ],
)
def test_parse_unknown_escape_keeps_backslash(line: str, value: str) -> None:
    assert value_of(line, "command") == value


@pytest.mark.parametrize("line", ['command = echo "a', 'command = "a\\"', 'a = "\\'])
def test_parse_unterminated_quote_is_an_error(line: str) -> None:
    error = error_of(f"[s]\n\n{line}")
    key = line.split(" ")[0]
    assert error.message == f'unterminated quote in value of "{key}"'
    assert (error.file, error.line) == (FILE, 3)


def test_parse_raw_keeps_value_as_written() -> None:
    entry = entry_of('key =   echo "a  b"  # x  ')
    assert entry.raw == 'echo "a  b"  # x'


@pytest.mark.parametrize(
    ("line", "comment_cut", "quotes_removed"),
    [
        ("key = v", False, False),
        ("key = v # c", True, False),
        ('key = "v"', False, True),
        ('key = "v" ; c', True, True),
        ('key = "v # c"', False, True),
        ('key = a\\"b', False, False),
    ],
)
def test_parse_flags_report_changes(
    line: str, comment_cut: bool, quotes_removed: bool
) -> None:
    entry = entry_of(line)
    assert (entry.comment_cut, entry.quotes_removed) == (comment_cut, quotes_removed)


# Reading files


def test_read_file_parses_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "k.conf"
    path.write_text('[job "é"]\ncommand = echo ü\n', encoding="utf-8")
    section = read_file(path)[0]
    assert (section.subsection, section.file) == ("é", str(path))
    assert section.entries[0].value == "echo ü"


def test_read_file_names_file_in_parse_errors(tmp_path: Path) -> None:
    path = tmp_path / "k.conf"
    path.write_text("[s]\nx y = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="k.conf:2: key"):
        read_file(str(path))


def test_read_file_missing_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "missing.conf"
    with pytest.raises(ConfigError) as info:
        read_file(path)
    assert str(info.value) == f"{path}: cannot read: no such file or directory"


def test_read_file_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read: is a directory"):
        read_file(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_read_file_unreadable_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "k.conf"
    path.write_text("[s]\n", encoding="utf-8")
    path.chmod(0)
    with pytest.raises(ConfigError, match="cannot read: permission denied"):
        read_file(path)


def test_read_file_invalid_utf8_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "k.conf"
    path.write_bytes(b"[s]\nkey = ok\nkey = \xff\n")
    with pytest.raises(ConfigError) as info:
        read_file(path)
    assert (info.value.file, info.value.line) == (str(path), 3)
    assert "not valid UTF-8" in str(info.value)


# Properties

_INI_CHARS = '[]"\\#;= \t\n\r.-_aZ1é'
_section_names = st.from_regex(r"[A-Za-z0-9.-]{1,8}", fullmatch=True)
_key_names = st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,8}", fullmatch=True)
_subsections = st.none() | st.text(st.characters(exclude_characters="\n"), max_size=8)
_values = st.text(max_size=20) | st.text('"#;\\ \tab', max_size=20)
_VALUE_ESCAPES = str.maketrans(
    {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\b": "\\b"}
)
# A subsection name knows only two escapes and may hold blanks as they are.
_SUBSECTION_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"'})


def _quote(text: str, escapes: dict[int, str] = _VALUE_ESCAPES) -> str:
    return '"' + text.translate(escapes) + '"'


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200) | st.text(_INI_CHARS, max_size=200))
def test_parse_any_text_gives_sections_or_config_error(text: str) -> None:
    try:
        sections = parse(text, FILE)
    except ConfigError as error:
        assert error.file == FILE and error.line is not None
    else:
        assert all(isinstance(section, Section) for section in sections)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            _section_names,
            _subsections,
            st.lists(st.tuples(_key_names, _values), max_size=4),
        ),
        max_size=4,
    )
)
def test_parse_round_trips_quoted_values(
    layout: list[tuple[str, str | None, list[tuple[str, str]]]],
) -> None:
    lines = []
    for name, subsection, entries in layout:
        sub = ""
        if subsection is not None:
            sub = " " + _quote(subsection, _SUBSECTION_ESCAPES)
        lines.append(f"[{name}{sub}]")
        lines += [f"  {key} = {_quote(value)}  # note" for key, value in entries]
    sections = parse("\n".join(lines), FILE)

    got = [
        (s.name, s.subsection, [(e.key, e.value) for e in s.entries]) for s in sections
    ]
    assert got == [
        (name.lower(), sub, [(key.lower(), value) for key, value in entries])
        for name, sub, entries in layout
    ]


@settings(max_examples=200, deadline=None)
@given(
    st.from_regex(r"[A-Za-z0-9/._-]{1,12}", fullmatch=True),
    st.booleans(),
    st.booleans(),
    st.text(max_size=10).filter(lambda text: "\n" not in text),
)
def test_parse_flags_match_generated_value(
    word: str, is_quoted: bool, has_comment: bool, note: str
) -> None:
    text = f'"{word}"' if is_quoted else word
    if has_comment:
        text += " # " + note
    entry = entry_of(f"key = {text}")
    assert entry.value == word
    assert (entry.comment_cut, entry.quotes_removed) == (has_comment, is_quoted)
