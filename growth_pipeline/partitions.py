"""Daily partitions (UTC days) and weekly partitions (ISO weeks, Monday to Sunday)."""

from __future__ import annotations

import warnings
from datetime import date, timedelta

import dagster as dg

# Ranges of days run as one run (BackfillPolicy.single_run), which Dagster 1.13 marks beta. We rely on it
# on purpose (a year of one-day runs would take most of an hour), so its warning is noise here.
warnings.filterwarnings("ignore", category=dg.BetaWarning)


def daily_partitions(start: date) -> dg.DailyPartitionsDefinition:
    return dg.DailyPartitionsDefinition(start_date=start.isoformat(), timezone="UTC")


def weekly_partitions(start: date) -> dg.WeeklyPartitionsDefinition:
    """ISO weeks from the first Monday on or after ``start``. ``day_offset=1``: Dagster's weeks start on Sunday."""
    first_monday = start + timedelta(days=(7 - start.weekday()) % 7)
    return dg.WeeklyPartitionsDefinition(start_date=first_monday.isoformat(), day_offset=1, timezone="UTC")


def window_days(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> tuple[date, date]:
    """The [start, end) dates a run covers: one partition, or a whole range in a single-run backfill
    (where ``context.partition_key`` would raise)."""
    window = context.partition_time_window
    return window.start.date(), window.end.date()


def each_day(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days)]
