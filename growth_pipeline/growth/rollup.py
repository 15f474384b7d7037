"""Week-on-week rollup of daily levels: pure pandas over the growth math, no Dagster.

Input: one row per (week_start, metric, segment) with the level at the end of that ISO week (the
Sunday, or the latest day of the week that has data) and the week's missing days. Output adds the
previous week's value, the WoW growth (or why it is undefined) and the band.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from growth_pipeline.growth.math import Bands, classify, wow_growth


def iso_week_label(week_start: date) -> str:
    year, week, _ = week_start.isocalendar()
    return f"{year}-W{week:02d}"


def rollup(end_of_week: pd.DataFrame, weeks: list[date], bands: Bands) -> pd.DataFrame:
    """WoW growth and band for each metric and segment in ``weeks`` (Mondays).

    ``end_of_week`` must hold those weeks and the week before each, with columns week_start, metric,
    segment, value, value_date, missing_days.
    """
    levels = {(row.week_start, row.metric, row.segment): row for row in end_of_week.itertuples(index=False)}
    records = []
    for week_start, metric, segment in sorted(k for k in levels if k[0] in set(weeks)):
        row = levels[(week_start, metric, segment)]
        previous = levels.get((week_start - timedelta(days=7), metric, segment))
        previous_value = None if previous is None else previous.value
        growth = wow_growth(row.value, previous_value)
        notes = [growth.reason] if growth.reason else []
        sunday = week_start + timedelta(days=6)
        if row.value_date != sunday:
            notes.append(f"no data on Sunday {sunday}; value from {row.value_date}")
        records.append(
            {
                "week_start": week_start,
                "iso_week": iso_week_label(week_start),
                "metric": metric,
                "segment": segment,
                "value": row.value,
                "value_date": row.value_date,
                "missing_days": row.missing_days or None,
                "previous_value": previous_value,
                "wow_growth": growth.rate,
                "growth_note": "; ".join(notes) or None,
                "band": classify(growth.rate, bands),
            }
        )
    columns = [
        "week_start", "iso_week", "metric", "segment", "value", "value_date", "missing_days",
        "previous_value", "wow_growth", "growth_note", "band",
    ]  # fmt: skip
    return pd.DataFrame(records, columns=columns)
