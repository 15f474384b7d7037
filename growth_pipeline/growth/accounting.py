"""Growth accounting for teams, week over week, from team_usage rows (DuckDB SQL and pandas, no Dagster).

A team's activity in an ISO week is decided on the week's last day with team data (Sunday when the week
is complete; otherwise the latest day, named in activity_date and missing_days): the team is *active*
that week when it is active on that day as the catalog defines it (``Catalog.active_team_sql()``, e.g.
an instance or a device; suspension does not matter, as for the active_teams metric). Then, for week w:

- new:         active in w, and in no earlier week since team data begins;
- retained:    active in w and in w-1;
- resurrected: active in w, not in w-1, but in some week before w-1;
- churned:     active in w-1, not in w.

new + retained + resurrected = the teams active in w; retained + churned = the teams active in w-1.
Quick ratio = (new + resurrected) / churned: NULL when nothing churned. When w or w-1 has no team data
at all, the states are unknown: NULL, with a note.

Per tier, each team counts in the tier it had when it was last active: its tier in w (new, retained,
resurrected) or in w-1 (churned). A team that changes tier while staying active is retained in its new
tier and does not churn from the old one, so every state's tiers add up to the total ('all').
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import duckdb
import pandas as pd

from growth_pipeline.growth.rollup import iso_week_label

STATES = ("new", "retained", "resurrected", "churned")

ACCOUNTING_COLUMNS = [
    "week_start", "iso_week", "tier", "activity_date", "missing_days", "active_teams",
    "new_teams", "retained_teams", "resurrected_teams", "churned_teams", "quick_ratio", "note",
]  # fmt: skip

# The days with team data in each week up to $end (the weeks before $start are the history "never
# before" and "some week before" look back on).
_WEEK_DAYS_SQL = """
SELECT date_trunc('week', snapshot_date)::DATE AS week_start,
       list(DISTINCT snapshot_date ORDER BY snapshot_date) AS days
FROM team_usage WHERE snapshot_date < $end GROUP BY ALL
"""

_STATES_SQL = """
WITH week_end AS (
    SELECT date_trunc('week', snapshot_date)::DATE AS week_start, max(snapshot_date) AS activity_date
    FROM team_usage WHERE snapshot_date < $end GROUP BY ALL
), active AS (
    SELECT w.week_start, u.team_id, u.tier
    FROM team_usage u JOIN week_end w ON u.snapshot_date = w.activity_date
    WHERE {active}
), first_active AS (
    SELECT team_id, min(week_start) AS first_week FROM active GROUP BY team_id
), this_week AS (
    SELECT week_start, team_id, tier FROM active WHERE week_start >= $start
), last_week AS (
    SELECT week_start + 7 AS week_start, team_id, tier FROM active WHERE week_start + 7 >= $start
), states AS (
    SELECT coalesce(t.week_start, l.week_start) AS week_start,
           coalesce(t.tier, l.tier) AS tier,
           CASE WHEN t.team_id IS NULL THEN 'churned'
                WHEN l.team_id IS NOT NULL THEN 'retained'
                WHEN f.first_week = t.week_start THEN 'new'
                ELSE 'resurrected' END AS state
    FROM this_week t
    FULL JOIN last_week l ON l.week_start = t.week_start AND l.team_id = t.team_id
    JOIN first_active f ON f.team_id = coalesce(t.team_id, l.team_id)
)
SELECT week_start, CASE WHEN grouping(tier) = 1 THEN 'all' ELSE coalesce(tier, 'unknown') END AS tier,
       {counts}
FROM states
WHERE week_start < $end
GROUP BY GROUPING SETS ((week_start, tier), (week_start))
"""


def team_growth_accounting(
    conn: duckdb.DuckDBPyConnection, start: date, end: date, active_team_sql: str, tiers: Sequence[str]
) -> pd.DataFrame:
    """One row per ISO week in [start, end) (Mondays) and per tier (``tiers``, any other tier seen, and
    'all'); columns ACCOUNTING_COLUMNS. Reads team_usage before ``start`` for the history."""
    counts = ", ".join(f"count(*) FILTER (WHERE state = '{s}') AS {s}_teams" for s in STATES)
    states = conn.execute(_STATES_SQL.format(active=active_team_sql, counts=counts), {"start": start, "end": end}).df()
    days_of = dict(conn.execute(_WEEK_DAYS_SQL, {"end": end}).fetchall())
    counted = {(row.week_start.date(), row.tier): row for row in states.itertuples(index=False)}
    all_tiers = [*tiers, *sorted({t for _, t in counted} - {*tiers, "all"}), "all"]

    records = []
    for week_start in (start + timedelta(days=7 * i) for i in range((end - start).days // 7)):
        days, previous_days = days_of.get(week_start), days_of.get(week_start - timedelta(days=7))
        notes = []
        if not days:
            notes.append("no team data this week")
        elif not previous_days:
            notes.append(f"no team data in the previous week ({iso_week_label(week_start - timedelta(days=7))})")
        week_days = [week_start + timedelta(days=i) for i in range(7)]
        missing = [d for d in week_days if d not in (days or [])]
        for tier in all_tiers:
            row = counted.get((week_start, tier))
            record = {
                "week_start": week_start,
                "iso_week": iso_week_label(week_start),
                "tier": tier,
                "activity_date": max(days) if days else None,
                "missing_days": ", ".join(d.isoformat() for d in missing) or None,
                "active_teams": None,
                **{f"{s}_teams": None for s in STATES},
                "quick_ratio": None,
                "note": "; ".join(notes) or None,
            }
            if days:
                n = {s: 0 if row is None else int(getattr(row, f"{s}_teams")) for s in STATES}
                record["active_teams"] = n["new"] + n["retained"] + n["resurrected"]
                if previous_days:
                    record.update({f"{s}_teams": n[s] for s in STATES})
                    if n["churned"]:
                        record["quick_ratio"] = (n["new"] + n["resurrected"]) / n["churned"]
                    else:
                        record["note"] = "nothing churned: no quick ratio"
            records.append(record)
    frame = pd.DataFrame(records, columns=ACCOUNTING_COLUMNS)
    for column in ["active_teams", *(f"{s}_teams" for s in STATES)]:
        frame[column] = frame[column].astype("Int64")
    return frame
