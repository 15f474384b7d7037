"""What the charts and the dashboard show, read from the DuckDB tables the weekly assets write. No Dagster:
the weekly assets (charts in their metadata), the dashboard asset and the tests share these reads.

Every read is bounded by a week (``last_week``, a Monday): the dashboard of week W shows W and the weeks
before it, never a later week that a backfill may have stored already.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import duckdb
import pandas as pd

from growth_pipeline.catalog import Catalog

# The tiles at the top of the dashboard and the weekly growth chart: the north-star metric first.
HEADLINE_METRICS = ("weighted_customer_index", "teams", "instances", "devices")
CHART_WEEKS = 26  # the weekly growth chart: half a year of weeks
ACCOUNTING_WEEKS = 13  # the team growth accounting table: a quarter


@dataclass(frozen=True)
class SnapshotInfo:
    """Where the numbers come from: the snapshot of the week's last day with data."""

    snapshot_date: date
    taken_at: datetime
    source: str  # raw_snapshots.source: demo, flowfuse, archive
    base_url: str | None  # the platform the snapshot was read from, when the document says
    simulated: bool
    simulated_days: int  # simulated snapshots among the days the dashboard reads (any makes it simulated)


@dataclass(frozen=True)
class DashboardData:
    """Everything on the dashboard for the ISO week starting ``week_start``."""

    catalog: Catalog
    week_start: date
    growth: pd.DataFrame  # weekly_growth rows of the week: every metric and segment
    growth_history: pd.DataFrame  # headline metrics, segment 'all', the last CHART_WEEKS weeks
    adoption: pd.DataFrame  # weekly_adoption rows of the week (the latest week with adoption rows up to it)
    adoption_history: pd.DataFrame  # weekly_adoption rows of every week up to the week
    accounting: pd.DataFrame  # team_growth_accounting of the last ACCOUNTING_WEEKS weeks, every tier
    snapshot: SnapshotInfo | None
    alerts: list[dict]  # the alerts raised in the last weeks, newest first (see dashboard/alerts.py)
    generated_at: datetime

    @property
    def simulated(self) -> bool:
        return self.snapshot is not None and (self.snapshot.simulated or self.snapshot.simulated_days > 0)


def _dates(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    for column in columns:
        if column in frame and not frame.empty:
            frame[column] = pd.to_datetime(frame[column]).dt.date
    return frame


def latest_growth_week(conn: duckdb.DuckDBPyConnection) -> date | None:
    """The Monday of the latest ISO week in weekly_growth, or None while it is empty."""
    return conn.execute("SELECT max(week_start) FROM weekly_growth").fetchone()[0]


def growth_history(
    conn: duckdb.DuckDBPyConnection, metrics: tuple[str, ...], last_week: date, weeks: int = CHART_WEEKS
) -> pd.DataFrame:
    """week_start, iso_week, metric, value, wow_growth, band of ``metrics`` (segment 'all') over the ``weeks``
    ISO weeks ending with ``last_week``."""
    frame = conn.execute(
        """
        SELECT week_start, iso_week, metric, value, wow_growth, band
        FROM weekly_growth
        WHERE segment = 'all' AND list_contains($metrics, metric) AND week_start > $first AND week_start <= $last
        ORDER BY metric, week_start
        """,
        {"metrics": list(metrics), "first": last_week - timedelta(weeks=weeks), "last": last_week},
    ).df()
    return _dates(frame, "week_start")


def adoption_history(conn: duckdb.DuckDBPyConnection, last_week: date) -> pd.DataFrame:
    """Every weekly_adoption row up to ``last_week``: each feature's curve since it is tracked, per tier."""
    frame = conn.execute(
        "SELECT * FROM weekly_adoption WHERE week_start <= ? ORDER BY feature, tier, week_start", [last_week]
    ).df()
    return _dates(frame, "week_start", "value_date")


def snapshot_info(conn: duckdb.DuckDBPyConnection, last_week: date) -> SnapshotInfo | None:
    """The snapshot of the last day with data in the week of ``last_week``, or before it."""
    sunday = last_week + timedelta(days=6)
    row = conn.execute(
        "SELECT snapshot_date, taken_at, source, simulated FROM raw_snapshot_days "
        "WHERE snapshot_date <= ? ORDER BY snapshot_date DESC LIMIT 1",
        [sunday],
    ).fetchone()
    if row is None:
        return None
    day, taken_at, source, simulated = row
    # the one document the base URL is in: read by its day, the view reassembles only that one
    (base_url,) = conn.execute(
        "SELECT document->>'$.source.base_url' FROM raw_snapshots WHERE snapshot_date = ?", [day]
    ).fetchone()
    (simulated_days,) = conn.execute(
        "SELECT count(*) FROM raw_snapshot_days WHERE simulated AND snapshot_date <= ?", [sunday]
    ).fetchone()
    return SnapshotInfo(day, taken_at, source, base_url, bool(simulated), int(simulated_days))


def load_dashboard(
    conn: duckdb.DuckDBPyConnection,
    catalog: Catalog,
    week_start: date,
    alerts: list[dict],
    generated_at: datetime,
) -> DashboardData:
    """The dashboard of the ISO week starting ``week_start``, from the stored weekly tables."""
    growth = conn.execute("SELECT * FROM weekly_growth WHERE week_start = ?", [week_start]).df()
    adoption_all = adoption_history(conn, week_start)
    adoption_week = adoption_all["week_start"].max() if not adoption_all.empty else None
    accounting = conn.execute(
        "SELECT * FROM team_growth_accounting WHERE week_start > ? AND week_start <= ? ORDER BY week_start, tier",
        [week_start - timedelta(weeks=ACCOUNTING_WEEKS), week_start],
    ).df()
    return DashboardData(
        catalog=catalog,
        week_start=week_start,
        growth=_dates(growth, "week_start", "value_date"),
        growth_history=growth_history(conn, HEADLINE_METRICS, week_start),
        adoption=adoption_all[adoption_all["week_start"] == adoption_week],
        adoption_history=adoption_all,
        accounting=_dates(accounting, "week_start", "activity_date"),
        snapshot=snapshot_info(conn, week_start),
        alerts=alerts,
        generated_at=generated_at,
    )
