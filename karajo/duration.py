"""Go's duration syntax (`90s`, `1h30m`, `300ms`), which karajo files use.

Durations are kept as whole nanoseconds, the unit of the original's JSON.
"""

from __future__ import annotations

import re

NANOSECOND = 1
MICROSECOND = 1_000 * NANOSECOND
MILLISECOND = 1_000 * MICROSECOND
SECOND = 1_000 * MILLISECOND
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE

_UNITS = {
    "ns": NANOSECOND,
    "us": MICROSECOND,
    "µs": MICROSECOND,  # U+00B5 micro sign
    "μs": MICROSECOND,  # U+03BC Greek mu; Go accepts both
    "ms": MILLISECOND,
    "s": SECOND,
    "m": MINUTE,
    "h": HOUR,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
# Go's time.Duration is an int64 of nanoseconds.
_MAX = 2**63 - 1


def parse_duration(text: str) -> int:
    """Return the nanoseconds of a Go duration such as `1h30m` or `-5s`."""
    value = text.strip()
    sign = 1
    if value[:1] in "+-" and value:
        sign = -1 if value[0] == "-" else 1
        value = value[1:]
    if value == "0":
        return 0
    if not value:
        raise ValueError(f"invalid duration {text!r}: empty")

    total = 0
    position = 0
    for match in _PART.finditer(value):
        if match.start() != position:
            break
        number, unit = match.groups()
        total += _scaled(number, _UNITS[unit])
        position = match.end()
    if position != len(value):
        raise ValueError(
            f"invalid duration {text!r}: expected numbers with units "
            "ns, us, ms, s, m or h, like 90s or 1h30m"
        )
    if total > _MAX:
        raise ValueError(f"invalid duration {text!r}: too large")
    return sign * total


def _scaled(number: str, unit: int) -> int:
    whole, _, fraction = number.partition(".")
    nanos = int(whole or "0") * unit
    if fraction:
        nanos += int(fraction) * unit // 10 ** len(fraction)
    return nanos


def format_duration(nanos: int) -> str:
    """Format nanoseconds the way Go's Duration.String does (`1h30m0s`)."""
    if nanos == 0:
        return "0s"
    sign = "-" if nanos < 0 else ""
    nanos = abs(nanos)
    if nanos < SECOND:
        for unit, size in (("ms", MILLISECOND), ("µs", MICROSECOND)):
            if nanos >= size:
                return sign + _decimal(nanos, size) + unit
        return f"{sign}{nanos}ns"

    hours, rest = divmod(nanos, HOUR)
    minutes, rest = divmod(rest, MINUTE)
    text = _decimal(rest, SECOND) + "s"
    if hours or minutes:
        text = f"{minutes}m" + text
    if hours:
        text = f"{hours}h" + text
    return sign + text


def _decimal(nanos: int, unit: int) -> str:
    whole, fraction = divmod(nanos, unit)
    if not fraction:
        return str(whole)
    digits = len(str(unit)) - 1
    return f"{whole}.{fraction:0{digits}d}".rstrip("0")
