"""Week-on-week rollup of daily levels: pure pandas over the growth math, no Dagster.

Input: one row per (week_start, metric, segment) with the level at the end of that ISO week (the
Sunday, or the latest day of the week that has data) and the week's missing days. Output, for the weeks
asked for: the previous week's value, the WoW growth (or why it is undefined) and its band, the compound
weekly growth over the last 4 and 13 weeks, the 12-month multiple the 4-week rate gives, and the streak
(consecutive weeks in the current band).

The 13-week rate and the streak look back before the weeks asked for, so the input should hold every
earlier week of each series: the streak counts back only as far as the input goes (a series' first week
has no WoW growth, so no band, which ends any streak).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd

from growth_pipeline.growth.math import Bands, classify, compound_weekly_growth, twelve_month_multiple, wow_growth

TREND_WEEKS = (4, 13)

# Weeks of history the weekly rollups' metadata carries per series ("recent"), so alert rules over
# consecutive weeks are evaluated from metadata alone (sensors never open DuckDB). A quarter.
RECENT_WEEKS = 13

ROLLUP_COLUMNS = [
    "week_start", "iso_week", "metric", "segment", "value", "value_date", "missing_days",
    "previous_value", "wow_growth", "growth_note", "band",
    "cgr_4w", "cgr_13w", "multiple_12m", "streak", "trend_note",
]  # fmt: skip


def iso_week_label(week_start: date) -> str:
    year, week, _ = week_start.isocalendar()
    return f"{year}-W{week:02d}"


def _known(value):
    """A pandas NaN/NA or None becomes None; anything else is returned as is."""
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else value


def compound_rate(current: float | None, base: float | None, weeks: int, base_week: date) -> tuple[float | None, str]:
    """(V_w / V_{w-n})^(1/n) - 1, or None with the reason: a missing, zero or negative base."""
    label = f"{weeks}-week rate"
    if current is None:
        return None, f"{label}: no value this week"
    if base is None:
        return None, f"{label}: no value for {iso_week_label(base_week)}"
    if base == 0:
        return None, f"{label}: {iso_week_label(base_week)}'s value is 0"
    if base < 0 or current < 0:
        return None, f"{label}: negative values"
    return compound_weekly_growth(base, current, weeks), ""


def rollup(end_of_week: pd.DataFrame, weeks: list[date], bands: Bands, *, as_of: date | None = None) -> pd.DataFrame:
    """Growth, band, 4- and 13-week rates, 12-month multiple and streak for each metric and segment in
    ``weeks`` (Mondays); columns ROLLUP_COLUMNS.

    ``end_of_week`` has columns week_start, metric, segment, value, value_date, missing_days, and should
    hold every earlier week of each series (see the module docstring). A week that has not ended by
    ``as_of`` (default: today, UTC) is in progress: its rates are provisional and it gets no band and no
    streak. A week whose value is not its Sunday's says so in growth_note.
    """
    as_of = as_of or datetime.now(UTC).date()
    wanted = set(weeks)
    last_wanted = max(wanted, default=date.min)
    records = []
    for (metric, segment), series in end_of_week.groupby(["metric", "segment"], sort=True):
        by_week = {row.week_start: row for row in series.itertuples(index=False) if row.week_start <= last_wanted}
        value_of = {week: _known(row.value) for week, row in by_week.items()}
        band_of: dict[date, str | None] = {}
        streak_of: dict[date, int | None] = {}
        for week_start in sorted(by_week):
            row = by_week[week_start]
            value = value_of[week_start]
            previous_week = week_start - timedelta(days=7)
            previous_value = value_of.get(previous_week)
            growth = wow_growth(value, previous_value)
            notes = [growth.reason] if growth.reason else []
            sunday = week_start + timedelta(days=6)
            complete = sunday < as_of
            if not complete:
                notes.append(f"week in progress until {sunday}: not classified")
            elif row.value_date != sunday:
                notes.append(f"no data on Sunday {sunday}; value from {row.value_date}")
            band = classify(growth.rate, bands) if complete else None
            band_of[week_start] = band
            if band is None:
                streak = None
            elif band_of.get(previous_week) == band:
                streak = streak_of[previous_week] + 1
            else:
                streak = 1
            streak_of[week_start] = streak
            if week_start not in wanted:
                continue
            rates, trend_notes = {}, []
            for n in TREND_WEEKS:
                base_week = week_start - timedelta(days=7 * n)
                rates[n], reason = compound_rate(value, value_of.get(base_week), n, base_week)
                if reason:
                    trend_notes.append(reason)
            records.append(
                {
                    "week_start": week_start,
                    "iso_week": iso_week_label(week_start),
                    "metric": metric,
                    "segment": segment,
                    "value": value,
                    "value_date": row.value_date,
                    "missing_days": _known(row.missing_days) or None,
                    "previous_value": previous_value,
                    "wow_growth": growth.rate,
                    "growth_note": "; ".join(notes) or None,
                    "band": band,
                    "cgr_4w": rates[4],
                    "cgr_13w": rates[13],
                    "multiple_12m": _multiple(rates[4]),
                    "streak": streak,
                    "trend_note": "; ".join(trend_notes) or None,
                }
            )
    frame = pd.DataFrame(records, columns=ROLLUP_COLUMNS)
    numbers = ["value", "previous_value", "wow_growth", "cgr_4w", "cgr_13w", "multiple_12m"]
    frame = frame.astype({**dict.fromkeys(numbers, "float64"), "streak": "Int64"})
    return frame.sort_values(["week_start", "metric", "segment"], ignore_index=True)


def _multiple(weekly_rate: float | None) -> float | None:
    """The 12-month multiple of a 4-week rate; a metric that fell to 0 (-100%) stays at 0."""
    if weekly_rate is None:
        return None
    return 0.0 if weekly_rate <= -1 else twelve_month_multiple(weekly_rate)


def recent_history(
    frame: pd.DataFrame, last_week: date, keys: list[str], columns: list[str], weeks: int = RECENT_WEEKS
) -> dict[tuple, dict[str, list]]:
    """Per series (the values of ``keys``) of ``frame`` (one row per week_start and series), the ``weeks``
    ISO weeks up to ``last_week``, oldest first, as JSON-ready lists: {"weeks": ["2026-W36", ...],
    column: [value or None, ...]}. A week without a row is None, so position i is always the same week."""
    mondays = [last_week - timedelta(days=7 * (weeks - 1 - i)) for i in range(weeks)]
    labels = [iso_week_label(monday) for monday in mondays]
    history = {}
    for key, series in frame[frame["week_start"].isin(mondays)].groupby(keys, sort=False):
        by_week = series.set_index("week_start")
        history[key] = {"weeks": labels, **{c: [_json(by_week[c].get(m)) for m in mondays] for c in columns}}
    return history


def _json(value):
    """A pandas/numpy value as plain JSON: NaN/NA/None become None, numpy numbers plain ones."""
    value = _known(value)
    return value.item() if hasattr(value, "item") else value
