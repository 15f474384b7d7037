"""What a product manager reads about adoption without SQL: the latest day, the end-of-week rate over the
last weeks, and the curve since each launch, as markdown tables (Dagster metadata and the CLI).

No Dagster import. A feature shows "not tracked" where the day or week is before its collected_from:
there are no rows for it there, and that is never shown as 0. "–" is a value that is undefined (a rate
with no eligible team, new adopters on the first tracked day) or unknown (a counter the platform did not
report).
"""

from __future__ import annotations

import math
from datetime import date, timedelta

import duckdb
import pandas as pd

from growth_pipeline.adoption.queries import END_OF_WEEK_SQL
from growth_pipeline.catalog import Catalog, Feature
from growth_pipeline.markdown import markdown_table

NOT_TRACKED = "not tracked"
WEEKS_SHOWN = 8  # the end-of-week rate table: the week of the latest day and the 7 before
WEEKS_SINCE_LAUNCH = (0, 1, 2, 4, 8, 13, 26, 52, 104, 156)


def iso_week_label(monday: date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _count(value: object) -> str:
    return "–" if _missing(value) else f"{int(value):,}"


def _rate(value: object) -> str:
    return "–" if _missing(value) else f"{float(value):.1%}"


def _days(value: object) -> str:
    return "–" if _missing(value) else f"{float(value):g}"


def _tier_order(catalog: Catalog, feature: Feature) -> dict[str, int]:
    return {tier: i for i, tier in enumerate([*(t for t in catalog.tiers if t in feature.tiers), "all"])}


def latest_day_table(catalog: Catalog, rows: pd.DataFrame, day: date) -> str:
    """Every catalog feature on ``day`` (feature_adoption rows of that day): one line per tier and 'all',
    or one "not tracked" line for a feature whose collection starts later."""
    lines = []
    for feature in catalog.features:
        mine = rows[rows["feature"] == feature.key]
        if mine.empty:
            status = f"{NOT_TRACKED} (collected from {feature.collected_from})"
            lines.append({"feature": feature.name, "tier": "–", "eligible": status})
            continue
        order = _tier_order(catalog, feature)
        for row in sorted(mine.itertuples(), key=lambda r: order.get(r.tier, len(order))):
            lines.append(
                {
                    "feature": feature.name,
                    "tier": row.tier,
                    "eligible": _count(row.eligible_teams),
                    "adopting": _count(row.adopting_teams),
                    "rate": _rate(row.adoption_rate),
                    "new": _count(row.new_adopters),
                    "lost": _count(row.lost_adopters),
                    "ever": _count(row.ever_adopted),
                    "days to first use, median": _days(row.median_days_to_first_use),
                    "75th pct": _days(row.p75_days_to_first_use),
                }
            )
    columns = ["feature", "tier", "eligible", "adopting", "rate", "new", "lost", "ever"]
    columns += ["days to first use, median", "75th pct"]
    return f"Adoption on {day}\n\n" + markdown_table(pd.DataFrame(lines, columns=columns).fillna(""))


def weekly_rate_table(catalog: Catalog, end_of_week: pd.DataFrame, weeks: list[date]) -> str:
    """The adoption rate at the end of each of ``weeks`` (Mondays), per feature and tier."""
    rates = {(r.week_start, r.feature, r.tier): r.adoption_rate for r in end_of_week.itertuples()}
    lines = []
    for feature in catalog.features:
        for tier in _tier_order(catalog, feature):
            cells = {}
            for monday in weeks:
                if monday + timedelta(days=6) < feature.collected_from:
                    cells[iso_week_label(monday)] = NOT_TRACKED
                else:
                    cells[iso_week_label(monday)] = _rate(rates.get((monday, feature.key, tier)))
            lines.append({"feature": feature.name, "tier": tier, **cells})
    title = f"Adoption rate at the end of each ISO week ({iso_week_label(weeks[0])} to {iso_week_label(weeks[-1])})"
    return f"{title}\n\n" + markdown_table(pd.DataFrame(lines))


def since_launch_table(catalog: Catalog, rates: pd.DataFrame, last_day: date) -> str:
    """All-tiers adoption rate (adopting teams) N weeks after each feature's launch: its adoption curve.
    ``rates`` holds feature_adoption 'all' rows for the days ``since_launch_days`` asks for."""
    values = {(r.feature, r.snapshot_date): (r.adoption_rate, r.adopting_teams) for r in rates.itertuples()}
    lines = []
    for feature in catalog.features:
        if feature.launched is None:
            continue
        cells = {}
        for weeks in WEEKS_SINCE_LAUNCH:
            day = feature.launched + timedelta(weeks=weeks)
            if day > last_day:
                cells[f"week {weeks}"] = ""
            elif day < feature.collected_from:
                cells[f"week {weeks}"] = NOT_TRACKED
            elif (feature.key, day) in values:
                rate, teams = values[(feature.key, day)]
                cells[f"week {weeks}"] = f"{_rate(rate)} ({_count(teams)})"
            else:
                cells[f"week {weeks}"] = "–"
        lines.append({"feature": feature.name, "launched": str(feature.launched), **cells})
    if not lines:
        return "No feature in the catalog has a launch date."
    return "Adoption since launch: rate (adopting teams) over all tiers, N weeks after the launch day\n\n" + (
        markdown_table(pd.DataFrame(lines))
    )


def since_launch_days(catalog: Catalog, last_day: date) -> list[date]:
    return sorted(
        {
            f.launched + timedelta(weeks=w)
            for f in catalog.features
            if f.launched
            for w in WEEKS_SINCE_LAUNCH
            if f.launched + timedelta(weeks=w) <= last_day
        }
    )


def adoption_report(conn: duckdb.DuckDBPyConnection, catalog: Catalog, last_day: date) -> dict[str, str]:
    """The three tables as markdown, from feature_adoption as stored, up to the day ``last_day``."""
    day_rows = conn.execute("SELECT * FROM feature_adoption WHERE snapshot_date = ?", [last_day]).df()
    last_monday = last_day - timedelta(days=last_day.weekday())
    mondays = [last_monday - timedelta(weeks=n) for n in range(WEEKS_SHOWN - 1, -1, -1)]
    end_of_week = conn.execute(END_OF_WEEK_SQL, {"start": mondays[0], "end": last_day + timedelta(days=1)}).df()
    if not end_of_week.empty:
        end_of_week["week_start"] = end_of_week["week_start"].dt.date
    curve = conn.execute(
        "SELECT feature, snapshot_date, adoption_rate, adopting_teams FROM feature_adoption "
        "WHERE tier = 'all' AND list_contains(?, snapshot_date)",
        [since_launch_days(catalog, last_day)],
    ).df()
    if not curve.empty:
        curve["snapshot_date"] = curve["snapshot_date"].dt.date
    return {
        "latest_day": latest_day_table(catalog, day_rows, last_day),
        "rate_last_8_weeks": weekly_rate_table(catalog, end_of_week, mondays),
        "since_launch": since_launch_table(catalog, curve, last_day),
    }
