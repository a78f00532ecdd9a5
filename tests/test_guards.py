"""Quiet hours as `guards.next_allowed` computes them: in the shop's wall-clock time, so a
message is never moved to 3 a.m. by a DST change and never lands outside the window."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from shoper_retention.messaging.guards import next_allowed

WARSAW = ZoneInfo("Europe/Warsaw")
SMS = (time(9, 0), time(20, 0))
EMAIL = (time(8, 0), time(21, 0))


def warsaw(year: int, month: int, day: int, hour: int, minute: int, fold: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=WARSAW, fold=fold)


def utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def allowed(due_local: datetime, window: tuple[time, time]) -> datetime:
    """Ask in UTC, as dispatch does (everything is stored in UTC)."""
    return next_allowed(due_local.astimezone(UTC), "Europe/Warsaw", window)


def test_sms_due_at_half_past_eleven_at_night_moves_to_nine_next_morning():
    moved = allowed(warsaw(2026, 3, 3, 23, 30), SMS)

    assert moved == warsaw(2026, 3, 4, 9, 0)
    assert moved.tzinfo is UTC  # handed back in the zone it was asked in


def test_email_due_at_half_past_eleven_at_night_moves_to_eight_next_morning():
    assert allowed(warsaw(2026, 3, 3, 23, 30), EMAIL) == warsaw(2026, 3, 4, 8, 0)


def test_due_at_five_in_the_morning_moves_to_the_opening_of_the_same_day():
    assert allowed(warsaw(2026, 3, 4, 5, 0), SMS) == warsaw(2026, 3, 4, 9, 0)
    assert allowed(warsaw(2026, 3, 4, 5, 0), EMAIL) == warsaw(2026, 3, 4, 8, 0)


@pytest.mark.parametrize(
    "due",
    [
        warsaw(2026, 3, 4, 9, 0),  # the opening minute itself
        warsaw(2026, 3, 4, 13, 37),
        warsaw(2026, 3, 4, 19, 59),
    ],
)
def test_inside_the_window_the_time_is_unchanged(due: datetime):
    assert allowed(due, SMS) == due


def test_the_closing_minute_is_already_quiet():
    assert allowed(warsaw(2026, 3, 4, 20, 0), SMS) == warsaw(2026, 3, 5, 9, 0)


def test_just_after_midnight_moves_to_the_same_calendar_day():
    # 00:10 local on 5 March is still 4 March in UTC: the local date decides.
    due = warsaw(2026, 3, 5, 0, 10)
    assert due.astimezone(UTC).day == 4

    assert allowed(due, SMS) == warsaw(2026, 3, 5, 9, 0)


def test_across_the_end_of_a_month_and_a_year():
    assert allowed(warsaw(2026, 12, 31, 22, 0), SMS) == warsaw(2027, 1, 1, 9, 0)


def test_night_before_spring_dst_change_moves_to_nine_summer_time():
    # 29 March 2026: clocks go 02:00 -> 03:00; 09:00 CEST is 07:00 UTC.
    moved = allowed(warsaw(2026, 3, 28, 23, 30), SMS)

    assert moved == utc(2026, 3, 29, 7, 0)
    assert moved.astimezone(WARSAW).hour == 9


def test_inside_the_skipped_spring_hour_moves_to_nine_summer_time():
    # 00:30 UTC is 01:30 CET; 01:30 UTC is already 03:30 CEST (02:xx never happens).
    assert next_allowed(utc(2026, 3, 29, 0, 30), "Europe/Warsaw", SMS) == utc(2026, 3, 29, 7, 0)
    assert next_allowed(utc(2026, 3, 29, 1, 30), "Europe/Warsaw", SMS) == utc(2026, 3, 29, 7, 0)


def test_night_before_autumn_dst_change_moves_to_nine_winter_time():
    # 25 October 2026: clocks go 03:00 -> 02:00; 09:00 CET is 08:00 UTC.
    moved = allowed(warsaw(2026, 10, 24, 23, 30), SMS)

    assert moved == utc(2026, 10, 25, 8, 0)
    assert moved.astimezone(WARSAW).hour == 9


def test_both_passes_of_the_repeated_autumn_hour_move_to_nine_winter_time():
    first = warsaw(2026, 10, 25, 2, 30, fold=0)  # 00:30 UTC, still summer time
    second = warsaw(2026, 10, 25, 2, 30, fold=1)  # 01:30 UTC, already winter time
    assert first.astimezone(UTC) != second.astimezone(UTC)

    assert allowed(first, SMS) == utc(2026, 10, 25, 8, 0)
    assert allowed(second, SMS) == utc(2026, 10, 25, 8, 0)


def test_email_window_across_the_autumn_change_opens_at_eight_winter_time():
    assert allowed(warsaw(2026, 10, 24, 21, 30), EMAIL) == utc(2026, 10, 25, 7, 0)


def test_afternoon_on_the_dst_days_is_unchanged():
    for due in (warsaw(2026, 3, 29, 15, 0), warsaw(2026, 10, 25, 15, 0)):
        assert allowed(due, SMS) == due
