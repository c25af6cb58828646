"""Calendar schedules: parse a job's `schedule` value and find its next run.

A schedule is one of karajo's kinds (`minutely`, `hourly@M,...`,
`daily@HH:MM,...`, `weekly@DAY,...@HH:MM,...`, `monthly@D,...@HH:MM,...`) or a
five-field cron expression.  Every form is turned into cron expressions and
croniter walks them on the job's wall clock.  The module is pure: nothing here
reads the clock, so every query takes `now`.

Daylight-saving changes follow Debian cron (man 8 cron).  A job whose minute and
hour fields both avoid a leading `*` is "fixed-time": a run that falls in a
skipped hour happens at the instant of the jump, and a run in a repeated hour
happens once, on the first pass.  Other jobs follow the wall clock: skipped
times never happen and repeated times happen twice.  A change of more than
three hours counts as a correction, which every job simply follows.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError, croniter

__all__ = ["Schedule", "ScheduleError", "parse_schedule"]

_EVERY_MINUTE = "* * * * *"
_KINDS = "minutely, hourly, daily, weekly, monthly"
_CRON_FIELDS = "minute hour day month weekday"

_DAYS_OF_WEEK = {
    name: number
    for number, names in enumerate(
        [
            ("sunday", "sun"),
            ("monday", "mon"),
            ("tuesday", "tue"),
            ("wednesday", "wed"),
            ("thursday", "thu"),
            ("friday", "fri"),
            ("saturday", "sat"),
        ]
    )
    for name in names
}

_NUMBER_RE = re.compile(r"[0-9]{1,2}")
# The original also takes one-digit hours ("9:30") and a seconds part, whose
# value it drops; we keep both readable but refuse seconds other than 00.
_TIME_RE = re.compile(r"([0-9]{1,2}):([0-9]{2})(?::00)?")
_ASCII_SPACE_RE = re.compile(r"[ \t\n\r\f\v]+")
# croniter's hashed (H) and random (R) values depend on a job id or on chance;
# a schedule must mean the same thing on every start.
_HASH_OR_RANDOM_RE = re.compile(r"[hr](\([0-9]+-[0-9]+\))?(/[0-9]+)?", re.IGNORECASE)

# Wall times are found with croniter on naive datetimes, so its DST handling
# never runs; ours below does.  The probe start is fixed so that the "never
# fires" check gives the same answer on every machine and every day.
_PROBE_START = datetime(2000, 1, 1)
# Long enough for the rarest pattern that fires at all: a fifth Monday in
# February ("0 0 * 2 1#5") comes back after at most 40 years.
_MAX_YEARS_BETWEEN_RUNS = 50
# Each step of the search moves past a run or a DST change; a handful suffice.
_MAX_SEARCH_STEPS = 100
_ONE_SECOND = timedelta(seconds=1)
# Debian cron takes a bigger change for a correction of the clock or of the
# zone, and then every job simply follows the new wall clock.
_MAX_DST_SHIFT = timedelta(hours=3)

_Item = TypeVar("_Item", int, tuple[int, int])


class ScheduleError(ValueError):
    """A schedule or its time zone cannot be understood."""


class _BadSchedule(Exception):
    """A problem in part of a schedule; parse_schedule adds the whole text."""


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: the text, its cron expressions and its time zone."""

    text: str
    cron_exprs: tuple[str, ...]
    timezone: str = "UTC"
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _rules: tuple[_CronRule, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "cron_exprs", tuple(self.cron_exprs))
        object.__setattr__(self, "_zone", _load_zone(self.timezone))
        try:
            rules = tuple(_CronRule(expr) for expr in self.cron_exprs)
        except _BadSchedule as exc:
            raise ScheduleError(f'schedule "{self.text}": {exc}') from None
        if not rules:
            raise ScheduleError(f'schedule "{self.text}": no cron expression')
        object.__setattr__(self, "_rules", rules)

    def next_after(self, now: datetime) -> datetime:
        """Return the first run strictly after `now`, as an aware UTC datetime.

        `now` must be aware, in any time zone.  The result has no fraction of
        a second.
        """
        if now.utcoffset() is None:
            raise ValueError("now must be an aware datetime")
        now_utc = now.astimezone(UTC).replace(tzinfo=None)
        local = now.astimezone(self._zone)
        runs = (_next_run(rule, self._zone, now_utc, local) for rule in self._rules)
        return min(runs).replace(tzinfo=UTC)

    def next_runs(self, now: datetime, count: int) -> list[datetime]:
        """Return the next `count` runs after `now`, earliest first."""
        if count < 0:
            raise ValueError(f"count must not be negative, got {count}")
        runs: list[datetime] = []
        for _ in range(count):
            now = self.next_after(now)
            runs.append(now)
        return runs


def parse_schedule(text: str, timezone: str = "UTC") -> Schedule:
    """Parse a job's schedule and time zone; raise ScheduleError if invalid."""
    try:
        exprs = _cron_exprs_of(text)
    except _BadSchedule as exc:
        raise ScheduleError(f'schedule "{text}": {exc}') from None
    return Schedule(text, exprs, timezone)


def _load_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    # Missing keys raise a KeyError subclass, malformed ones ValueError, and a
    # directory such as "America" raises IsADirectoryError.
    except (KeyError, ValueError, OSError):
        raise ScheduleError(f'unknown time zone "{name}"') from None


# Parsing: text -> cron expressions.


def _cron_exprs_of(text: str) -> tuple[str, ...]:
    spec = text.strip()
    if not spec:
        return (_EVERY_MINUTE,)
    if spec.startswith("@"):
        return _macro_exprs(spec)

    kind, *lists = spec.split("@")
    kind = kind.strip()
    parser = _KIND_PARSERS.get(kind.lower())
    if parser is not None:
        return parser([item.strip() for item in lists])
    if lists or len(_ASCII_SPACE_RE.split(spec)) == 1:
        raise _BadSchedule(
            f'unknown kind "{kind}"; expected {_KINDS} or a five-field cron expression'
        )
    return (_ASCII_SPACE_RE.sub(" ", spec),)


def _macro_exprs(spec: str) -> tuple[str, ...]:
    # "@daily" and friends mean what the kind means with its defaults, which
    # is also what cron means by them.  The original read them as minutely.
    name = spec[1:].strip().lower()
    parser = _KIND_PARSERS.get(name)
    if parser is None:
        raise _BadSchedule(
            f'unsupported macro "{spec}"; use one of {_KINDS}'
            " or a five-field cron expression"
        )
    return parser([])


def _parse_minutely(lists: list[str]) -> tuple[str, ...]:
    _check_list_count("minutely", lists, 0)
    return (_EVERY_MINUTE,)


def _parse_hourly(lists: list[str]) -> tuple[str, ...]:
    _check_list_count("hourly", lists, 1)
    minutes = _parse_list(_list_at(lists, 0), _parse_minute, 0)
    return (f"{_join(minutes)} * * * *",)


def _parse_daily(lists: list[str]) -> tuple[str, ...]:
    _check_list_count("daily", lists, 1)
    times = _parse_list(_list_at(lists, 0), _parse_time, (0, 0))
    return _time_exprs(times, "*", "*")


def _parse_weekly(lists: list[str]) -> tuple[str, ...]:
    _check_list_count("weekly", lists, 2)
    days = _parse_list(_list_at(lists, 0), _parse_day_of_week, 0)
    times = _parse_list(_list_at(lists, 1), _parse_time, (0, 0))
    return _time_exprs(times, "*", _join(days))


def _parse_monthly(lists: list[str]) -> tuple[str, ...]:
    _check_list_count("monthly", lists, 2)
    days = _parse_list(_list_at(lists, 0), _parse_day_of_month, 1)
    times = _parse_list(_list_at(lists, 1), _parse_time, (0, 0))
    return _time_exprs(times, _join(days), "*")


_KIND_PARSERS: dict[str, Callable[[list[str]], tuple[str, ...]]] = {
    "minutely": _parse_minutely,
    "hourly": _parse_hourly,
    "daily": _parse_daily,
    "weekly": _parse_weekly,
    "monthly": _parse_monthly,
}


def _check_list_count(kind: str, lists: list[str], limit: int) -> None:
    if len(lists) <= limit:
        return
    if limit == 0:
        raise _BadSchedule(f'{kind} takes no "@" list')
    raise _BadSchedule(
        f'too many "@" lists for {kind}: at most {limit}, got {len(lists)}'
    )


def _list_at(lists: list[str], index: int) -> str:
    return lists[index] if index < len(lists) else ""


def _parse_list(
    raw: str, parse_item: Callable[[str], _Item], default: _Item
) -> list[_Item]:
    # A list left out or empty ("weekly@@10:00") means the default, as in the
    # original; an empty item inside a list is a typo we report.
    if not raw:
        return [default]
    values: set[_Item] = set()
    for item in raw.split(","):
        item = item.strip()
        if not item:
            raise _BadSchedule(f'empty item in list "{raw}"')
        values.add(parse_item(item))
    return sorted(values)


def _parse_minute(item: str) -> int:
    if _NUMBER_RE.fullmatch(item) and int(item) <= 59:
        return int(item)
    raise _BadSchedule(f'"{item}" is not a minute (0 to 59)')


def _parse_time(item: str) -> tuple[int, int]:
    match = _TIME_RE.fullmatch(item)
    if match:
        hour, minute = int(match[1]), int(match[2])
        if hour <= 23 and minute <= 59:
            return hour, minute
    raise _BadSchedule(f'"{item}" is not a time HH:MM (00:00 to 23:59)')


def _parse_day_of_week(item: str) -> int:
    day = _DAYS_OF_WEEK.get(item.lower())
    if day is not None:
        return day
    hint = ""
    if _TIME_RE.fullmatch(item):
        hint = f'; for a time on the default day write "weekly@@{item}"'
    raise _BadSchedule(
        f'"{item}" is not a day of the week (sunday to saturday, sun to sat){hint}'
    )


def _parse_day_of_month(item: str) -> int:
    if _NUMBER_RE.fullmatch(item) and 1 <= int(item) <= 31:
        return int(item)
    hint = ""
    if _TIME_RE.fullmatch(item):
        hint = f'; for a time on the default day write "monthly@@{item}"'
    raise _BadSchedule(f'"{item}" is not a day of the month (1 to 31){hint}')


def _time_exprs(
    times: list[tuple[int, int]], days: str, weekdays: str
) -> tuple[str, ...]:
    # One cron line per set of minutes sharing the same hours, so the common
    # "10:00,18:00" stays one line while "10:00,11:30" needs two.
    hours_by_minute: dict[int, list[int]] = {}
    for hour, minute in times:
        hours_by_minute.setdefault(minute, []).append(hour)
    minutes_by_hours: dict[tuple[int, ...], list[int]] = {}
    for minute, hours in hours_by_minute.items():
        minutes_by_hours.setdefault(tuple(sorted(hours)), []).append(minute)

    groups = sorted(
        (hours, sorted(minutes)) for hours, minutes in minutes_by_hours.items()
    )
    return tuple(
        f"{_join(minutes)} {_join(hours)} {days} * {weekdays}"
        for hours, minutes in groups
    )


def _join(values: list[int] | tuple[int, ...]) -> str:
    return ",".join(str(value) for value in values)


# Checking a cron expression once, at parse time.


class _CronRule:
    """One cron expression, checked, with the croniter object that walks it."""

    __slots__ = ("expr", "is_fixed_time", "_cron")

    def __init__(self, expr: str) -> None:
        fields = _ASCII_SPACE_RE.split(expr.strip())
        _check_cron_fields(fields)
        self.expr = expr
        # Debian cron's test: a '*' at the start of the minute or hour field
        # makes the job follow the wall clock through DST changes.
        self.is_fixed_time = not (
            fields[0].startswith("*") or fields[1].startswith("*")
        )
        try:
            self._cron = croniter(
                " ".join(fields),
                _PROBE_START,
                max_years_between_matches=_MAX_YEARS_BETWEEN_RUNS,
            )
        except ValueError as exc:
            raise _BadSchedule(f"invalid cron expression ({exc})") from None
        self._check_fires()

    def _check_fires(self) -> None:
        try:
            self.next_wall(_PROBE_START)
        except CroniterBadDateError:
            raise _BadSchedule(f'cron expression "{self.expr}" never fires') from None

    def next_wall(self, start: datetime) -> datetime:
        """Return the first matching naive wall time strictly after `start`."""
        # The croniter object keeps a position, but every call passes its own
        # start, so sharing it is safe while calls do not interleave (karajo
        # calls it from its one trio thread).
        wall: datetime = self._cron.get_next(datetime, start_time=start)
        return wall


def _check_cron_fields(fields: list[str]) -> None:
    count = len(fields)
    if count in (6, 7):
        raise _BadSchedule(
            f"cron expression has {count} fields; seconds and years are not"
            f" supported, use five: {_CRON_FIELDS}"
        )
    if count != 5:
        raise _BadSchedule(
            f"cron expression has {count} fields; expected five: {_CRON_FIELDS}"
        )
    for item in ",".join(fields).split(","):
        if _HASH_OR_RANDOM_RE.fullmatch(item):
            raise _BadSchedule(
                f'"{item}": hashed (H) and random (R) values are not supported'
            )


# Finding the next run.  Instants are naive UTC datetimes, wall times naive
# local ones; a repeated wall time has two instants, a skipped one none.


def _next_run(
    rule: _CronRule, zone: ZoneInfo, now_utc: datetime, local: datetime
) -> datetime:
    run = _next_run_in_wall_order(rule, zone, now_utc, local.replace(tzinfo=None))
    old_offset = local.utcoffset()
    new_offset = local.replace(fold=1).utcoffset()
    assert old_offset is not None and new_offset is not None
    if local.fold or old_offset <= new_offset:
        return run
    if not _follows_wall_clock(rule, old_offset - new_offset):
        return run
    # Inside the first pass of a repeated hour, the second pass of a wall time
    # already behind us is still to come, and may come before `run`.
    repeat = _next_run_in_second_pass(rule, zone, now_utc, old_offset, new_offset)
    return run if repeat is None else min(run, repeat)


def _next_run_in_wall_order(
    rule: _CronRule, zone: ZoneInfo, now_utc: datetime, wall: datetime
) -> datetime:
    # The earliest instant of a wall time never decreases as the wall time
    # grows, so the first wall time giving an instant after now gives the
    # answer; the second pass of a repeated time only counts for a wall time
    # whose first pass is over, and then nothing later can beat it.
    start = wall
    for _ in range(_MAX_SEARCH_STEPS):
        run_wall = rule.next_wall(start)
        first_offset, second_offset = _offsets(zone, run_wall)
        if first_offset == second_offset:
            run = run_wall - first_offset
            if run > now_utc:
                return run
            start = run_wall
        elif first_offset > second_offset:
            run = _repeated_run(rule, run_wall, first_offset, second_offset, now_utc)
            if run is not None:
                return run
            # A fixed-time run skips the second pass; go past the wall times
            # whose first pass is over.
            start = max(run_wall, now_utc + first_offset)
        else:
            jump = _transition(zone, run_wall - second_offset, run_wall - first_offset)
            if not _follows_wall_clock(rule, second_offset - first_offset):
                return jump
            start = jump + second_offset - _ONE_SECOND
    raise RuntimeError(f'cron expression "{rule.expr}": no run after {now_utc}')


def _repeated_run(
    rule: _CronRule,
    run_wall: datetime,
    first_offset: timedelta,
    second_offset: timedelta,
    now_utc: datetime,
) -> datetime | None:
    first = run_wall - first_offset
    if first > now_utc:
        return first
    second = run_wall - second_offset
    if second > now_utc and _follows_wall_clock(rule, first_offset - second_offset):
        return second
    return None


def _next_run_in_second_pass(
    rule: _CronRule,
    zone: ZoneInfo,
    now_utc: datetime,
    old_offset: timedelta,
    new_offset: timedelta,
) -> datetime | None:
    jump = _transition(zone, now_utc, now_utc + (old_offset - new_offset))
    repeat_start = jump + new_offset
    repeat_end = jump + old_offset

    run_wall = rule.next_wall(repeat_start - _ONE_SECOND)
    if run_wall < repeat_end:
        return run_wall - new_offset
    return None


def _follows_wall_clock(rule: _CronRule, shift: timedelta) -> bool:
    return not rule.is_fixed_time or shift > _MAX_DST_SHIFT


def _offsets(zone: ZoneInfo, wall: datetime) -> tuple[timedelta, timedelta]:
    # PEP 495: in a repeated hour fold=0 is the first pass, so its offset is the
    # larger; in a skipped hour fold=0 keeps the offset from before the jump,
    # the smaller.  Equal offsets mean an ordinary wall time.
    aware = wall.replace(tzinfo=zone)
    first = aware.utcoffset()
    second = aware.replace(fold=1).utcoffset()
    assert first is not None and second is not None
    return first, second


def _offset_at(zone: ZoneInfo, instant: datetime) -> timedelta | None:
    return zone.fromutc(instant.replace(tzinfo=zone)).utcoffset()


def _transition(zone: ZoneInfo, before: datetime, after: datetime) -> datetime:
    """Return the first whole second in (before, after] with a new UTC offset."""
    # zoneinfo keeps its transition table private, so bisect; a gap or a
    # repeat spans at most a day, under 17 halvings.
    old_offset = _offset_at(zone, before)
    low = before.replace(microsecond=0)
    span = math.ceil((after - low).total_seconds())
    while span > 1:
        half = span // 2
        if _offset_at(zone, low + timedelta(seconds=half)) == old_offset:
            low += timedelta(seconds=half)
            span -= half
        else:
            span = half
    return low + timedelta(seconds=span)
