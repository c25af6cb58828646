"""Go durations."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from karajo.duration import (
    HOUR,
    MILLISECOND,
    MINUTE,
    SECOND,
    format_duration,
    parse_duration,
)


@pytest.mark.parametrize(
    ("text", "nanos"),
    [
        ("90s", 90 * SECOND),
        ("1m", MINUTE),
        ("5m0s", 5 * MINUTE),
        ("1h30m", HOUR + 30 * MINUTE),
        ("300ms", 300 * MILLISECOND),
        ("1.5h", HOUR + 30 * MINUTE),
        ("0", 0),
        ("-1s", -SECOND),
        ("+2s", 2 * SECOND),
        ("1us", 1000),
        ("1µs", 1000),
        (" 10s ", 10 * SECOND),
    ],
)
def test_parse_duration_accepts_go_syntax(text, nanos):
    assert parse_duration(text) == nanos


@pytest.mark.parametrize(
    "text", ["", "5", "s", "1x", "1h 2m", "--1s", "1.2.3s", "9" * 30 + "h"]
)
def test_parse_duration_rejects_with_value_error(text):
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("nanos", "text"),
    [
        (0, "0s"),
        (90 * SECOND, "1m30s"),
        (2 * HOUR, "2h0m0s"),
        (300 * MILLISECOND, "300ms"),
        (1500 * MILLISECOND, "1.5s"),
        (-SECOND, "-1s"),
        (5, "5ns"),
    ],
)
def test_format_duration_matches_go(nanos, text):
    assert format_duration(nanos) == text


@given(st.integers(min_value=-(2**62), max_value=2**62))
def test_format_then_parse_round_trips(nanos):
    assert parse_duration(format_duration(nanos)) == nanos


@given(st.text(max_size=20))
def test_parse_duration_raises_only_value_error(text):
    try:
        parse_duration(text)
    except ValueError:
        pass
