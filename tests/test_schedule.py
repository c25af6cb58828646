"""Tests for karajo.schedule: parsing schedules and finding the next run."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from karajo.schedule import Schedule, ScheduleError, parse_schedule

NEW_YORK = "America/New_York"
BERLIN = "Europe/Berlin"
# Half-hour daylight saving: a 30-minute gap and a 30-minute repeat.
LORD_HOWE = "Australia/Lord_Howe"

# Tells whether a schedule names a (naive) wall time.
Matcher = Callable[[datetime], bool]
_MICRO = timedelta(microseconds=1)
_MINUTE = timedelta(minutes=1)
# Debian cron treats bigger changes as clock corrections: no special rules.
_3_HOURS = timedelta(hours=3)


def utc(year: int, month: int, day: int, *clock: int) -> datetime:
    return datetime(year, month, day, *clock, tzinfo=UTC)


def wall(zone: str, text: str, fold: int = 0) -> datetime:
    """Return the time written "YYYY-MM-DD HH:MM" on ZONE's wall clock."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone), fold=fold)


def in_utc(*texts: str) -> list[datetime]:
    """Return the UTC times written "YYYY-MM-DD HH:MM"."""
    return [datetime.fromisoformat(text).replace(tzinfo=UTC) for text in texts]


def error_of(text: str, timezone: str = "UTC") -> str:
    with pytest.raises(ScheduleError) as info:
        parse_schedule(text, timezone)
    return str(info.value)


# Parsing karajo's forms


@pytest.mark.parametrize(
    ("text", "cron_exprs"),
    [
        ("", ("* * * * *",)),
        ("   ", ("* * * * *",)),
        ("minutely", ("* * * * *",)),
        ("MinUtely", ("* * * * *",)),
        ("hourly", ("0 * * * *",)),
        ("hourly@", ("0 * * * *",)),
        ("hourly@45,15", ("15,45 * * * *",)),
        ("HOURLY@ 45 , 15,15", ("15,45 * * * *",)),
        ("daily", ("0 0 * * *",)),
        ("daily@18:00,10:00", ("0 10,18 * * *",)),
        ("daily@10:00,11:30", ("0 10 * * *", "30 11 * * *")),
        ("daily@10:00,10:30,11:00,11:30", ("0,30 10,11 * * *",)),
        ("daily@9:05", ("5 9 * * *",)),
        ("daily@23:59:00", ("59 23 * * *",)),
        ("Daily @ 06:00 , 06:00", ("0 6 * * *",)),
        ("weekly", ("0 0 * * 0",)),
        ("weekly@@10:00", ("0 10 * * 0",)),
        ("weekly@Mon,friday@18:30", ("30 18 * * 1,5",)),
        ("WEEKLY@SAT,Sunday,sun", ("0 0 * * 0,6",)),
        ("weekly@tue,wed,thu@", ("0 0 * * 2,3,4",)),
        ("monthly", ("0 0 1 * *",)),
        ("monthly@15,1@18:00", ("0 18 1,15 * *",)),
        ("monthly@@06:00", ("0 6 1 * *",)),
        ("MONTHLY@31", ("0 0 31 * *",)),
        ("@hourly", ("0 * * * *",)),
        ("@Daily", ("0 0 * * *",)),
        ("@weekly", ("0 0 * * 0",)),
        ("@monthly", ("0 0 1 * *",)),
    ],
)
def test_parse_karajo_forms(text: str, cron_exprs: tuple[str, ...]) -> None:
    schedule = parse_schedule(text)
    assert schedule.cron_exprs == cron_exprs
    assert schedule.text == text
    assert schedule.timezone == "UTC"


@pytest.mark.parametrize(
    ("text", "cron_expr"),
    [
        ("*/5 * * * *", "*/5 * * * *"),
        ("0 9 * * mon-fri", "0 9 * * mon-fri"),
        ("  0\t9  * *  MON-FRI ", "0 9 * * MON-FRI"),
        ("0 0 L * *", "0 0 L * *"),
        ("0 0 29 2 *", "0 0 29 2 *"),
        ("0 0 * 2 1#5", "0 0 * 2 1#5"),
    ],
)
def test_parse_five_field_cron(text: str, cron_expr: str) -> None:
    assert parse_schedule(text).cron_exprs == (cron_expr,)


def test_parse_keeps_time_zone() -> None:
    schedule = parse_schedule("daily@10:00", NEW_YORK)
    assert schedule.timezone == NEW_YORK
    assert schedule == Schedule("daily@10:00", ("0 10 * * *",), NEW_YORK)


# Parsing errors


def test_error_names_schedule_and_bad_time() -> None:
    assert error_of("daily@25:00") == (
        'schedule "daily@25:00": "25:00" is not a time HH:MM (00:00 to 23:59)'
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("daily@10:60", '"10:60" is not a time'),
        ("daily@10", '"10" is not a time'),
        ("daily@10:5", '"10:5" is not a time'),
        ("daily@10:00:30", '"10:00:30" is not a time'),
        ("daily@noon", '"noon" is not a time'),
        ("daily@10:00,,11:00", 'empty item in list "10:00,,11:00"'),
        ("daily@10:00,", 'empty item in list "10:00,"'),
        ("hourly@60", '"60" is not a minute (0 to 59)'),
        ("hourly@-1", '"-1" is not a minute'),
        ("hourly@1.5", '"1.5" is not a minute'),
        ("hourly@,", 'empty item in list ","'),
        ("weekly@10:00", 'write "weekly@@10:00"'),
        ("weekly@funday", '"funday" is not a day of the week'),
        ("weekly@1", '"1" is not a day of the week'),
        ("monthly@0", '"0" is not a day of the month (1 to 31)'),
        ("monthly@32", '"32" is not a day of the month'),
        ("monthly@10:00", 'write "monthly@@10:00"'),
        ("minutely@5", 'minutely takes no "@" list'),
        ("minutely@", 'minutely takes no "@" list'),
        ("daily@10:00@11:00", 'too many "@" lists for daily: at most 1, got 2'),
        ("weekly@sun@10:00@x", 'too many "@" lists for weekly: at most 2, got 3'),
        ("yearly", 'unknown kind "yearly"'),
        ("Yearly@1", 'unknown kind "Yearly"'),
        ("*/5", 'unknown kind "*/5"'),
        ("@yearly", 'unsupported macro "@yearly"'),
        ("@reboot", 'unsupported macro "@reboot"'),
        ("@daily@10:00", 'unsupported macro "@daily@10:00"'),
        ("@", 'unsupported macro "@"'),
    ],
)
def test_invalid_karajo_form_is_rejected(text: str, message: str) -> None:
    assert error_of(text).startswith(f'schedule "{text}": ')
    assert message in error_of(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("* * * * * *", "has 6 fields; seconds and years are not supported"),
        ("0 0 1 1 * 2030", "has 6 fields"),
        ("0 0 0 1 1 * 2030", "has 7 fields"),
        ("* * *", "has 3 fields; expected five: minute hour day month weekday"),
        ("61 * * * *", "invalid cron expression"),
        ("0 0 0 * *", "invalid cron expression"),
        ("0 0 * 13 *", "invalid cron expression"),
        ("0 0 * * funday", "invalid cron expression"),
        ("H * * * *", "hashed (H) and random (R) values are not supported"),
        ("0 r * * *", "hashed (H) and random (R) values are not supported"),
        ("0 0 30 2 *", 'cron expression "0 0 30 2 *" never fires'),
        ("0 0 31 4 *", "never fires"),
        ("0 0 31 2,4,6,9,11 *", "never fires"),
    ],
)
def test_invalid_cron_expression_is_rejected(text: str, message: str) -> None:
    assert message in error_of(text)


@pytest.mark.parametrize("zone", ["Mars/Base", "", "America", "utc", "/etc/localtime"])
def test_unknown_time_zone_is_rejected(zone: str) -> None:
    assert error_of("daily", zone) == f'unknown time zone "{zone}"'


def test_schedule_built_directly_is_checked() -> None:
    with pytest.raises(ScheduleError, match="never fires"):
        Schedule("x", ("0 0 30 2 *",), "UTC")
    with pytest.raises(ScheduleError, match="no cron expression"):
        Schedule("x", (), "UTC")


# Next run in UTC


@pytest.mark.parametrize(
    ("text", "now", "expected"),
    [
        ("minutely", utc(2025, 6, 1, 10, 0, 30), utc(2025, 6, 1, 10, 1)),
        ("", utc(2025, 6, 1, 10, 59, 59), utc(2025, 6, 1, 11, 0)),
        ("hourly", utc(2025, 6, 1, 10, 0, 1), utc(2025, 6, 1, 11, 0)),
        ("hourly@15,45", utc(2025, 6, 1, 10, 20), utc(2025, 6, 1, 10, 45)),
        ("hourly@15,45", utc(2025, 6, 1, 10, 50), utc(2025, 6, 1, 11, 15)),
        ("daily", utc(2025, 6, 1, 10, 0), utc(2025, 6, 2, 0, 0)),
        ("daily@10:00,18:30", utc(2025, 6, 1, 12, 0), utc(2025, 6, 1, 18, 30)),
        ("daily@10:00,18:30", utc(2025, 6, 1, 19, 0), utc(2025, 6, 2, 10, 0)),
        # 2025-06-01 is a Sunday.
        ("weekly", utc(2025, 6, 1, 0, 0, 1), utc(2025, 6, 8, 0, 0)),
        ("weekly@wed,fri@08:00", utc(2025, 6, 1, 9, 0), utc(2025, 6, 4, 8, 0)),
        ("weekly@wed,fri@08:00", utc(2025, 6, 4, 8, 0), utc(2025, 6, 6, 8, 0)),
        ("monthly", utc(2025, 6, 1, 0, 0, 1), utc(2025, 7, 1, 0, 0)),
        ("monthly@1,15@12:00", utc(2025, 6, 2), utc(2025, 6, 15, 12, 0)),
        ("*/5 * * * *", utc(2025, 6, 1, 10, 2), utc(2025, 6, 1, 10, 5)),
        # 2025-06-06 is a Friday.
        ("0 9 * * mon-fri", utc(2025, 6, 6, 9, 0), utc(2025, 6, 9, 9, 0)),
    ],
)
def test_next_after_in_utc(text: str, now: datetime, expected: datetime) -> None:
    assert parse_schedule(text).next_after(now) == expected


@pytest.mark.parametrize(
    ("text", "now", "expected"),
    [
        ("monthly@31", utc(2025, 1, 31), utc(2025, 3, 31)),
        ("monthly@31", utc(2025, 4, 1), utc(2025, 5, 31)),
        ("monthly@30", utc(2025, 1, 30), utc(2025, 3, 30)),
        ("monthly@30", utc(2025, 4, 30), utc(2025, 5, 30)),
        ("monthly@29", utc(2027, 1, 29), utc(2027, 3, 29)),
        ("monthly@29", utc(2028, 1, 29), utc(2028, 2, 29)),
        ("monthly@29,30,31", utc(2025, 2, 1), utc(2025, 3, 29)),
        ("0 0 29 2 *", utc(2026, 1, 1), utc(2028, 2, 29)),
        ("0 0 29 2 *", utc(2028, 2, 29), utc(2032, 2, 29)),
        ("0 0 L * *", utc(2025, 2, 1), utc(2025, 2, 28)),
        ("0 0 L * *", utc(2028, 2, 1), utc(2028, 2, 29)),
    ],
)
def test_next_after_at_month_end(text: str, now: datetime, expected: datetime) -> None:
    assert parse_schedule(text).next_after(now) == expected


def test_monthly_31_skips_february() -> None:
    runs = parse_schedule("monthly@31@12:00").next_runs(utc(2025, 1, 31, 13), 3)
    assert runs == [utc(2025, 3, 31, 12), utc(2025, 5, 31, 12), utc(2025, 7, 31, 12)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("minutely", utc(2026, 1, 1, 0, 0)),
        ("hourly@30", utc(2026, 1, 1, 0, 30)),
        ("daily", utc(2026, 1, 1, 0, 0)),
        ("weekly@thu", utc(2026, 1, 1, 0, 0)),
        ("monthly@31", utc(2026, 1, 31, 0, 0)),
        ("0 0 1 1 *", utc(2026, 1, 1, 0, 0)),
    ],
)
def test_next_after_crosses_year_end(text: str, expected: datetime) -> None:
    now = utc(2025, 12, 31, 23, 59, 59)
    assert parse_schedule(text).next_after(now) == expected


@pytest.mark.parametrize("text", ["minutely", "hourly@15", "daily@10:15", "monthly"])
def test_next_after_is_strictly_after_a_scheduled_second(text: str) -> None:
    schedule = parse_schedule(text)
    run = schedule.next_after(utc(2025, 6, 1))
    assert schedule.next_after(run) > run
    assert schedule.next_after(run - timedelta(microseconds=1)) == run


def test_next_after_returns_whole_seconds() -> None:
    run = parse_schedule("minutely").next_after(utc(2025, 6, 1, 10, 0, 0) + _MICRO)
    assert run == utc(2025, 6, 1, 10, 1)
    assert run.tzinfo is UTC


def test_next_after_takes_now_in_any_zone() -> None:
    now = wall("Asia/Tokyo", "2025-06-01 19:00")
    assert parse_schedule("daily@10:30").next_after(now) == utc(2025, 6, 1, 10, 30)


def test_next_after_rejects_naive_now() -> None:
    with pytest.raises(ValueError, match="aware"):
        parse_schedule("daily").next_after(datetime(2025, 6, 1))


def test_next_runs_gives_increasing_times() -> None:
    runs = parse_schedule("hourly@0,30").next_runs(utc(2025, 6, 1, 10, 10), 3)
    assert runs == in_utc("2025-06-01 10:30", "2025-06-01 11:00", "2025-06-01 11:30")
    assert parse_schedule("daily").next_runs(utc(2025, 6, 1), 0) == []


def test_daily_follows_the_job_time_zone() -> None:
    schedule = parse_schedule("daily@09:00", BERLIN)
    assert schedule.next_runs(utc(2025, 1, 1), 1) == [utc(2025, 1, 1, 8)]
    assert schedule.next_runs(utc(2025, 7, 1), 1) == [utc(2025, 7, 1, 7)]


# Daylight saving (Debian cron rules).  New York: 2025-03-09 02:00 EST jumps to
# 03:00 EDT (07:00 UTC); 2025-11-02 02:00 EDT falls back to 01:00 EST (06:00
# UTC).  Berlin: 2025-03-30 02:00 CET jumps to 03:00 CEST (01:00 UTC);
# 2025-10-26 03:00 CEST falls back to 02:00 CET (01:00 UTC).  Times in these
# tables are written as "YYYY-MM-DD HH:MM": local for `now`, UTC for runs.


@pytest.mark.parametrize(
    ("text", "zone", "now", "expected"),
    [
        # A fixed time in the skipped hour runs at the jump.
        (
            "daily@02:30",
            NEW_YORK,
            "2025-03-09 00:00",
            ("2025-03-09 07:00", "2025-03-10 06:30", "2025-03-11 06:30"),
        ),
        (
            "daily@02:30",
            BERLIN,
            "2025-03-30 00:00",
            ("2025-03-30 01:00", "2025-03-31 00:30", "2025-04-01 00:30"),
        ),
        (
            "weekly@sun@02:15",
            BERLIN,
            "2025-03-29 00:00",
            ("2025-03-30 01:00", "2025-04-06 00:15", "2025-04-13 00:15"),
        ),
        # Several fixed times in the gap collapse into one run.
        (
            "daily@02:00,02:30,02:59",
            NEW_YORK,
            "2025-03-09 00:00",
            ("2025-03-09 07:00", "2025-03-10 06:00", "2025-03-10 06:30"),
        ),
        (
            "daily@02:30,03:00,03:30",
            NEW_YORK,
            "2025-03-09 00:00",
            ("2025-03-09 07:00", "2025-03-09 07:30", "2025-03-10 06:30"),
        ),
        # Wall-clock schedules skip wall times that do not exist.
        (
            "hourly@30",
            NEW_YORK,
            "2025-03-09 01:00",
            ("2025-03-09 06:30", "2025-03-09 07:30", "2025-03-09 08:30"),
        ),
        (
            "hourly@30",
            BERLIN,
            "2025-03-30 01:00",
            ("2025-03-30 00:30", "2025-03-30 01:30", "2025-03-30 02:30"),
        ),
        (
            "*/15 * * * *",
            NEW_YORK,
            "2025-03-09 01:40",
            ("2025-03-09 06:45", "2025-03-09 07:00", "2025-03-09 07:15"),
        ),
        (
            "minutely",
            BERLIN,
            "2025-03-30 01:59",
            ("2025-03-30 01:00", "2025-03-30 01:01", "2025-03-30 01:02"),
        ),
        (
            "* 2 * * *",
            NEW_YORK,
            "2025-03-09 00:00",
            ("2025-03-10 06:00", "2025-03-10 06:01", "2025-03-10 06:02"),
        ),
    ],
)
def test_next_runs_across_spring_forward(
    text: str, zone: str, now: str, expected: tuple[str, ...]
) -> None:
    runs = parse_schedule(text, zone).next_runs(wall(zone, now), 3)
    assert runs == in_utc(*expected)


@pytest.mark.parametrize(
    ("text", "zone", "now", "expected"),
    [
        # A fixed time in the repeated hour runs once, on the first pass.
        (
            "daily@01:30",
            NEW_YORK,
            "2025-11-02 00:00",
            ("2025-11-02 05:30", "2025-11-03 06:30", "2025-11-04 06:30"),
        ),
        (
            "daily@02:30",
            BERLIN,
            "2025-10-26 00:00",
            ("2025-10-26 00:30", "2025-10-27 01:30", "2025-10-28 01:30"),
        ),
        # Wall-clock schedules run on both passes.
        (
            "hourly@30",
            NEW_YORK,
            "2025-11-02 00:40",
            ("2025-11-02 05:30", "2025-11-02 06:30", "2025-11-02 07:30"),
        ),
        (
            "hourly@30",
            BERLIN,
            "2025-10-26 01:40",
            ("2025-10-26 00:30", "2025-10-26 01:30", "2025-10-26 02:30"),
        ),
        (
            "minutely",
            NEW_YORK,
            "2025-11-02 01:58:30",
            ("2025-11-02 05:59", "2025-11-02 06:00", "2025-11-02 06:01"),
        ),
    ],
)
def test_next_runs_across_fall_back(
    text: str, zone: str, now: str, expected: tuple[str, ...]
) -> None:
    runs = parse_schedule(text, zone).next_runs(wall(zone, now), 3)
    assert runs == in_utc(*expected)


@pytest.mark.parametrize(
    ("text", "zone", "now", "fold", "expected"),
    [
        # First pass, past the wall time: its second pass comes next.
        ("hourly@30", NEW_YORK, "2025-11-02 01:40", 0, "2025-11-02 06:30"),
        ("hourly@30", BERLIN, "2025-10-26 02:40", 0, "2025-10-26 01:30"),
        ("*/20 * * * *", NEW_YORK, "2025-11-02 01:50", 0, "2025-11-02 06:00"),
        ("minutely", NEW_YORK, "2025-11-02 01:40:30", 0, "2025-11-02 05:41"),
        # First pass, fixed time: only what is left of the first pass.
        ("daily@01:30", NEW_YORK, "2025-11-02 01:40", 0, "2025-11-03 06:30"),
        ("daily@01:50", NEW_YORK, "2025-11-02 01:40", 0, "2025-11-02 05:50"),
        ("daily@02:30", BERLIN, "2025-10-26 02:40", 0, "2025-10-27 01:30"),
        # Second pass: wall times behind us are done.
        ("hourly@30", NEW_YORK, "2025-11-02 01:10", 1, "2025-11-02 06:30"),
        ("hourly@30", NEW_YORK, "2025-11-02 01:40", 1, "2025-11-02 07:30"),
        ("hourly@30", BERLIN, "2025-10-26 02:40", 1, "2025-10-26 02:30"),
        ("daily@01:30", NEW_YORK, "2025-11-02 01:10", 1, "2025-11-03 06:30"),
        ("daily@01:50", NEW_YORK, "2025-11-02 01:40", 1, "2025-11-03 06:50"),
        ("daily@02:30", BERLIN, "2025-10-26 02:10", 1, "2025-10-27 01:30"),
    ],
)
def test_next_after_inside_repeated_hour(
    text: str, zone: str, now: str, fold: int, expected: str
) -> None:
    run = parse_schedule(text, zone).next_after(wall(zone, now, fold))
    assert [run] == in_utc(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Samoa skipped 2011-12-30 (a 24-hour jump).  Debian cron takes a
        # change over three hours for a clock correction: nothing catches up.
        ("daily@10:00", ("2011-12-30 20:00", "2011-12-31 20:00")),
        ("hourly", ("2011-12-30 09:00", "2011-12-30 10:00")),
    ],
)
def test_jump_over_three_hours_runs_nothing_missed(
    text: str, expected: tuple[str, ...]
) -> None:
    now = wall("Pacific/Apia", "2011-12-29 22:30")
    assert parse_schedule(text, "Pacific/Apia").next_runs(now, 2) == in_utc(*expected)


# Properties

_KARAJO_WORDS = st.sampled_from(
    ["minutely", "hourly", "daily", "weekly", "monthly", "@", ",", ":", " ", "*", "/"]
    + ["sun", "Monday", "31", "29", "0", "9", "10:00", "25", "-", "#", "L", "H", "\t"]
)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40) | st.lists(_KARAJO_WORDS, max_size=12).map("".join))
def test_any_text_parses_or_raises_schedule_error(text: str) -> None:
    try:
        schedule = parse_schedule(text)
    except ScheduleError:
        return
    assert schedule.next_after(utc(2025, 6, 1)) > utc(2025, 6, 1)


_DAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
_MINUTES = st.lists(st.integers(0, 59), min_size=1, max_size=4)
_TIMES = st.lists(
    st.tuples(st.integers(0, 23), st.integers(0, 59)), min_size=1, max_size=3
)
_WEEKDAYS = st.lists(st.integers(0, 6), min_size=1, max_size=3)


def _clock_list(times: list[tuple[int, int]]) -> str:
    return ",".join(f"{hour:02}:{minute:02}" for hour, minute in times)


@st.composite
def _karajo_schedules(draw: st.DrawFn, kinds: tuple[str, ...]) -> tuple[str, Matcher]:
    """Draw a karajo schedule text and a test of the wall times it names."""
    kind = draw(st.sampled_from(kinds))
    if kind == "minutely":
        return "minutely", lambda wall: True
    if kind == "hourly":
        minutes = draw(_MINUTES)
        return f"hourly@{_join(minutes)}", lambda wall: wall.minute in minutes
    times = draw(_TIMES)
    clocks = _clock_list(times)
    if kind == "daily":
        return f"daily@{clocks}", lambda wall: (wall.hour, wall.minute) in times
    days = draw(_WEEKDAYS)
    names = ",".join(_DAY_NAMES[day] for day in days)
    return (
        f"weekly@{names}@{clocks}",
        lambda wall: (
            wall.isoweekday() % 7 in days and (wall.hour, wall.minute) in times
        ),
    )


def _join(values: list[int]) -> str:
    return ",".join(str(value) for value in values)


def _fires(
    wall_matches: Matcher, zone: ZoneInfo, fixed: bool, instant: datetime
) -> bool:
    """Debian cron's rules, stated per UTC minute, as the test's oracle."""
    here = instant.astimezone(zone)
    wall = here.replace(tzinfo=None)
    repeat = here.replace(fold=0).utcoffset() - here.replace(fold=1).utcoffset()
    if wall_matches(wall) and not (fixed and here.fold == 1 and repeat <= _3_HOURS):
        return True
    # A fixed-time run in a skipped stretch of wall time happens at its end.
    skipped = (instant - _MINUTE).astimezone(zone).replace(tzinfo=None) + _MINUTE
    if not fixed or wall - skipped > _3_HOURS:
        return False
    while skipped < wall:
        if wall_matches(skipped):
            return True
        skipped += _MINUTE
    return False


def _scan_next(fires: Callable[[datetime], bool], now: datetime) -> datetime:
    """Return the first whole UTC minute after `now` for which `fires` holds."""
    instant = now.replace(second=0, microsecond=0) + _MINUTE
    for _ in range(8 * 24 * 60):
        if fires(instant):
            return instant
        instant += _MINUTE
    raise AssertionError("no run within eight days")


def _instants(first: int, last: int) -> st.SearchStrategy[datetime]:
    return st.datetimes(
        datetime(first, 1, 1), datetime(last, 12, 31), timezones=st.just(UTC)
    )


_INSTANTS_2025 = _instants(2025, 2025)


@settings(max_examples=150, deadline=None)
@given(
    _karajo_schedules(("minutely", "hourly", "daily", "weekly")),
    _instants(1990, 2100),
)
def test_next_after_matches_minute_scan_in_utc(
    drawn: tuple[str, Matcher], now: datetime
) -> None:
    text, wall_matches = drawn
    run = parse_schedule(text).next_after(now)
    assert run > now
    assert run.microsecond == 0
    assert run == _scan_next(wall_matches, now)


def _near_transitions(zone: str) -> st.SearchStrategy[datetime]:
    """Instants within two hours of the zone's 2025 changes, or anywhere."""
    edges = {
        NEW_YORK: [utc(2025, 3, 9, 7), utc(2025, 11, 2, 6)],
        BERLIN: [utc(2025, 3, 30, 1), utc(2025, 10, 26, 1)],
        LORD_HOWE: [utc(2025, 4, 5, 15), utc(2025, 10, 4, 15, 30)],
    }[zone]
    near = st.builds(
        lambda edge, seconds: edge + timedelta(seconds=seconds),
        st.sampled_from(edges),
        st.floats(-7200, 7200).map(lambda value: round(value, 6)),
    )
    return st.one_of(near, _INSTANTS_2025)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_next_after_follows_debian_rules_near_dst(data: st.DataObject) -> None:
    zone = data.draw(st.sampled_from([NEW_YORK, BERLIN, LORD_HOWE]))
    # Weekly is fixed-time like daily and would only make the scan longer.
    text, wall_matches = data.draw(_karajo_schedules(("minutely", "hourly", "daily")))
    now = data.draw(_near_transitions(zone))
    fixed = not text.startswith(("minutely", "hourly"))

    run = parse_schedule(text, zone).next_after(now)
    oracle = partial(_fires, wall_matches, ZoneInfo(zone), fixed)
    assert run == _scan_next(oracle, now)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(1, 31), min_size=1, max_size=3),
    _TIMES,
    _INSTANTS_2025 | st.just(utc(2027, 12, 31, 23, 59, 59)),
)
def test_monthly_matches_day_scan_in_utc(
    days: list[int], times: list[tuple[int, int]], now: datetime
) -> None:
    run = parse_schedule(f"monthly@{_join(days)}@{_clock_list(times)}").next_after(now)
    assert run > now
    assert run.day in days and (run.hour, run.minute) in times

    day = now.date()
    while day <= run.date():
        if day.day in days:
            for hour, minute in times:
                candidate = utc(day.year, day.month, day.day, hour, minute)
                assert not now < candidate < run
        day += timedelta(days=1)
