"""DuckDB tables and partition writes.

Every table is long/tidy (one row per day x metric x segment, or per day x team) so that a new metric,
segment or feature arrives as rows, never as a schema change. Writing a partition deletes exactly its
date window and inserts the new rows in one transaction: re-running a day leaves one copy, and a failure
leaves the previous rows in place.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import duckdb
import pandas as pd

from growth_pipeline.growth.trailing import DAILY_TRAILING_GROWTH_SQL
from growth_pipeline.ingest.team_counters import TEAM_COUNTERS

# A day's snapshot document is kept verbatim, in pieces of this many characters, one row each (read it
# whole through the raw_snapshots view). A document is megabytes at 10k teams, and DuckDB keeps up to
# 122,880 rows in one row group: stored as one value per day, every day's document shares one row group,
# so reading or writing any day decompresses or rewrites all of them, and a daily run grows with history.
DOCUMENT_PIECE_CHARS = 2048

TABLES: dict[str, dict[str, str]] = {
    "raw_snapshot_days": {
        "snapshot_date": "DATE NOT NULL",
        "taken_at": "TIMESTAMPTZ NOT NULL",
        "source": "VARCHAR NOT NULL",
        "simulated": "BOOLEAN NOT NULL",
        # A copy of the document's "stats" object: platform_metrics reads it without reassembling the
        # whole document (megabytes at 10k teams) for a few hundred bytes.
        "stats": "JSON NOT NULL",
    },
    "raw_snapshot_pieces": {
        "snapshot_date": "DATE NOT NULL",
        "piece": "INTEGER NOT NULL",  # 0, 1, ...: the document is the pieces' text in this order
        "text": "VARCHAR NOT NULL",
    },
    "team_usage": {
        "snapshot_date": "DATE NOT NULL",
        "team_id": "VARCHAR NOT NULL",
        "team_name": "VARCHAR",
        "tier": "VARCHAR",
        "created_at": "TIMESTAMPTZ",
        "suspended": "BOOLEAN",  # NULL where the platform version has no suspension
        # One nullable column per known counter: NULL is "unknown / not collected", never 0.
        **{counter.column: "BIGINT" for counter in TEAM_COUNTERS.values()},
    },
    "platform_metrics": {
        "snapshot_date": "DATE NOT NULL",
        "metric": "VARCHAR NOT NULL",
        "segment": "VARCHAR NOT NULL",  # 'all', or '<kind>:<value>' such as 'tier:starter'
        "value": "DOUBLE NOT NULL",
    },
    "feature_adoption": {
        "snapshot_date": "DATE NOT NULL",
        "feature": "VARCHAR NOT NULL",
        "tier": "VARCHAR NOT NULL",  # a tier, or 'all'
        "eligible_teams": "BIGINT",
        "adopting_teams": "BIGINT",  # NULL when the signal's counter was unknown for an eligible team
        "adoption_rate": "DOUBLE",
        # Definitions: growth_pipeline/adoption/queries.py. NULL = undefined or unknown, never a guess.
        "new_adopters": "BIGINT",  # adopting today, not yesterday; NULL on a feature's first tracked day
        "lost_adopters": "BIGINT",  # adopting yesterday, not today (incl. teams that left)
        "ever_adopted": "BIGINT",  # teams whose first use is on or before this day
        "median_days_to_first_use": "DOUBLE",  # from launch (or team creation, if later)
        "p75_days_to_first_use": "DOUBLE",
    },
    "weekly_growth": {
        "week_start": "DATE NOT NULL",  # the Monday of the ISO week
        "iso_week": "VARCHAR NOT NULL",  # e.g. 2026-W48
        "metric": "VARCHAR NOT NULL",
        "segment": "VARCHAR NOT NULL",
        "value": "DOUBLE",  # the level at the end of the week
        "value_date": "DATE",  # Sunday, or the latest day of the week with data
        "missing_days": "VARCHAR",  # the days of the week with no data, e.g. '2026-11-29'; NULL when complete
        "previous_value": "DOUBLE",
        "wow_growth": "DOUBLE",
        "growth_note": "VARCHAR",  # why wow_growth is NULL, or why the value is not Sunday's
        "band": "VARCHAR",
        "cgr_4w": "DOUBLE",  # compound weekly growth over the last 4 weeks: (V_w / V_{w-4})^(1/4) - 1
        "cgr_13w": "DOUBLE",  # the same over 13 weeks
        "multiple_12m": "DOUBLE",  # (1 + cgr_4w)^52: where 52 more weeks at the 4-week rate would take it
        "streak": "INTEGER",  # consecutive weeks in the current band, this one included; NULL without a band
        "trend_note": "VARCHAR",  # why cgr_4w / cgr_13w is NULL
    },
    "team_growth_accounting": {
        "week_start": "DATE NOT NULL",
        "iso_week": "VARCHAR NOT NULL",
        "tier": "VARCHAR NOT NULL",  # a tier, or 'all'
        "activity_date": "DATE",  # the day that decided the week's activity: its last day with team data
        "missing_days": "VARCHAR",
        "active_teams": "BIGINT",
        "new_teams": "BIGINT",  # definitions: growth_pipeline/growth/accounting.py
        "retained_teams": "BIGINT",
        "resurrected_teams": "BIGINT",
        "churned_teams": "BIGINT",
        "quick_ratio": "DOUBLE",  # (new + resurrected) / churned; NULL when nothing churned
        "note": "VARCHAR",
    },
    "weekly_adoption": {
        "week_start": "DATE NOT NULL",  # the Monday of the ISO week
        "iso_week": "VARCHAR NOT NULL",
        "feature": "VARCHAR NOT NULL",
        "tier": "VARCHAR NOT NULL",  # a tier, or 'all'
        "value_date": "DATE",  # the day the end-of-week values are from: Sunday, or the latest day with data
        "missing_days": "VARCHAR",  # days of the week without data (not tracked yet, or no snapshot)
        "eligible_teams": "BIGINT",
        "adopting_teams": "BIGINT",
        "adoption_rate": "DOUBLE",
        "previous_adopting_teams": "BIGINT",
        "wow_growth": "DOUBLE",  # of adopting teams; NULL with a reason in growth_note
        "growth_note": "VARCHAR",
        "band": "VARCHAR",
    },
}

# One row per day: the snapshot's metadata and its whole document (a filter on snapshot_date reaches
# both tables, so reading a day reads only that day's pieces).
RAW_SNAPSHOTS_SQL = """
SELECT d.snapshot_date, d.taken_at, d.source, d.simulated, CAST(p.document AS JSON) AS document
FROM raw_snapshot_days d
JOIN (SELECT snapshot_date, string_agg(text, '' ORDER BY piece) AS document
      FROM raw_snapshot_pieces GROUP BY snapshot_date) p USING (snapshot_date)
"""

# Views over the tables, always current (nothing to materialize): name -> SELECT.
VIEWS: dict[str, str] = {"raw_snapshots": RAW_SNAPSHOTS_SQL, "daily_trailing_growth": DAILY_TRAILING_GROWTH_SQL}

# The column that places a row in its partition.
PARTITION_COLUMN = {
    name: ("week_start" if "week_start" in columns else "snapshot_date") for name, columns in TABLES.items()
}


def ensure_tables(conn: duckdb.DuckDBPyConnection) -> None:
    """Create missing tables, add columns that a newer version of the code knows (never drops any), and
    (re)define the views."""
    for table, columns in TABLES.items():
        definition = ", ".join(f"{name} {kind}" for name, kind in columns.items())
        conn.execute(f"CREATE TABLE IF NOT EXISTS {table} ({definition})")
        for name, kind in columns.items():
            conn.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {name} {kind.replace(' NOT NULL', '')}")
    _move_whole_documents_into_pieces(conn)
    for view, select in VIEWS.items():
        conn.execute(f"CREATE OR REPLACE VIEW {view} AS {select}")
    _copy_missing_stats(conn)


def _copy_missing_stats(conn: duckdb.DuckDBPyConnection) -> None:
    """Days stored before raw_snapshot_days had its stats column get them from their documents, once."""
    (missing,) = conn.execute("SELECT count(*) FROM raw_snapshot_days WHERE stats IS NULL").fetchone()
    if missing:
        conn.execute(
            "UPDATE raw_snapshot_days SET stats = r.document->'stats' FROM raw_snapshots r "
            "WHERE raw_snapshot_days.stats IS NULL AND r.snapshot_date = raw_snapshot_days.snapshot_date"
        )


def _move_whole_documents_into_pieces(conn: duckdb.DuckDBPyConnection) -> None:
    """A warehouse written before documents were stored in pieces has a raw_snapshots table (one document
    per row): move its days into raw_snapshot_days and raw_snapshot_pieces, verbatim, and drop it."""
    (old_table,) = conn.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_name = 'raw_snapshots' AND table_type = 'BASE TABLE'"
    ).fetchone()
    if not old_table:
        return
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute(
            "INSERT INTO raw_snapshot_days BY NAME "
            "SELECT snapshot_date, taken_at, source, simulated, document->'stats' AS stats FROM raw_snapshots"
        )
        conn.execute(
            f"""INSERT INTO raw_snapshot_pieces
            SELECT snapshot_date, i, substr(text, i * {DOCUMENT_PIECE_CHARS} + 1, {DOCUMENT_PIECE_CHARS})
            FROM (SELECT snapshot_date, CAST(document AS VARCHAR) AS text FROM raw_snapshots),
                 range(CAST(ceil(length(text) / {DOCUMENT_PIECE_CHARS}) AS BIGINT)) AS pieces(i)"""
        )
        conn.execute("DROP TABLE raw_snapshots")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def store_snapshot(
    conn: duckdb.DuckDBPyConnection, day: date, taken_at: object, source: str, simulated: bool, document_json: str
) -> None:
    """Atomically replace ``day``'s snapshot: its metadata row and its document, verbatim, in pieces."""
    conn.execute("BEGIN TRANSACTION")
    try:
        for table in ("raw_snapshot_days", "raw_snapshot_pieces"):
            conn.execute(f"DELETE FROM {table} WHERE snapshot_date = ?", [day])
        conn.execute(
            "INSERT INTO raw_snapshot_days BY NAME SELECT $day AS snapshot_date, $taken_at AS taken_at, "
            "$source AS source, $simulated AS simulated, CAST($document AS JSON)->'stats' AS stats",
            {"day": day, "taken_at": taken_at, "source": source, "simulated": simulated, "document": document_json},
        )
        conn.execute(
            f"""INSERT INTO raw_snapshot_pieces
            SELECT $day, i, substr($document, i * {DOCUMENT_PIECE_CHARS} + 1, {DOCUMENT_PIECE_CHARS})
            FROM range(CAST(ceil(length($document) / {DOCUMENT_PIECE_CHARS}) AS BIGINT)) AS pieces(i)""",
            {"day": day, "document": document_json},
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def replace_window(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    start: date,
    end: date,
    rows: pd.DataFrame | str | list[tuple[str, Sequence[object]]],
    params: Sequence[object] = (),
) -> int:
    """Atomically replace the rows of ``table`` in [start, end) with ``rows``; returns the rows written.

    ``rows`` is a DataFrame with the table's columns, a SELECT producing them (with ``params``), or several
    (SELECT, params) inserted in turn in the same transaction (to bound the memory of a long window).
    """
    key = PARTITION_COLUMN[table]
    columns = ", ".join(TABLES[table])
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute(f"DELETE FROM {table} WHERE {key} >= ? AND {key} < ?", [start, end])
        if isinstance(rows, pd.DataFrame):
            conn.register("_rows", rows)
            try:
                conn.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM _rows")
            finally:
                conn.unregister("_rows")
        else:
            for select, select_params in [(rows, params)] if isinstance(rows, str) else rows:
                conn.execute(f"INSERT INTO {table} ({columns}) {select}", list(select_params))
        written = conn.execute(f"SELECT count(*) FROM {table} WHERE {key} >= ? AND {key} < ?", [start, end])
        count = written.fetchone()[0]
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return count
