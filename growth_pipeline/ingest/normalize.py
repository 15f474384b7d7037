"""Flattening stored snapshot documents into team_usage rows, in DuckDB SQL (set-based over any range of days)."""

import json
from datetime import date

import duckdb

from growth_pipeline.ingest.team_counters import TEAM_COUNTERS

# Flattening holds a statement's whole team lists in memory at once (about 8x their JSON): a long range of
# days is flattened a few days per statement, at most this much JSON each.
JSON_BYTES_PER_STATEMENT = 32 * 2**20


def team_usage_statements(conn: duckdb.DuckDBPyConnection, start: date, end: date) -> list[tuple[str, list]]:
    """The INSERT ... SELECTs that flatten [start, end) into team_usage rows, a few days each (bounded memory)."""
    sizes = conn.execute(
        "SELECT snapshot_date, sum(strlen(text)) FROM raw_snapshot_pieces "
        "WHERE snapshot_date >= ? AND snapshot_date < ? GROUP BY snapshot_date ORDER BY snapshot_date",
        [start, end],
    ).fetchall()
    batches, first, total = [], start, 0
    for day, size in sizes:
        if total and total + size > JSON_BYTES_PER_STATEMENT:
            batches.append((first, day))
            first, total = day, 0
        total += size
    batches.append((first, end))
    return [(team_usage_sql(), [a, b]) for a, b in batches]


def team_usage_sql() -> str:
    """Flatten each stored document's team list (and per-team counters) into one row per team per day,
    for the days in [?, ?) of raw_snapshots."""
    listed = {c.name: "BIGINT" for c in TEAM_COUNTERS.values() if c.endpoint is None}
    structure = json.dumps(
        {
            "id": "VARCHAR",
            "name": "VARCHAR",
            "type": {"name": "VARCHAR"},
            "createdAt": "VARCHAR",
            "suspended": "BOOLEAN",
            **listed,
        }
    )
    extra = ",\n".join(
        f"    max(entry.value) FILTER (WHERE counter = '{name}') AS \"{name}\"" for name in TEAM_COUNTERS
    )
    columns = ",\n".join(
        f'    coalesce(l.team."{c.name}", x."{c.name}") AS {c.column}'
        if c.endpoint is None
        else f'    x."{c.name}" AS {c.column}'
        for c in TEAM_COUNTERS.values()
    )
    return f"""
WITH docs AS (
    SELECT snapshot_date, document FROM raw_snapshots WHERE snapshot_date >= ? AND snapshot_date < ?
), listed AS (
    SELECT snapshot_date, unnest(from_json(document->'teams', '[{structure}]')) AS team FROM docs
), counter_maps AS (
    SELECT snapshot_date,
           unnest(map_entries(CAST(document->'team_counters' AS MAP(VARCHAR, MAP(VARCHAR, BIGINT))))) AS c
    FROM docs
), per_team AS (
    SELECT snapshot_date, c.key AS counter, unnest(map_entries(c.value)) AS entry FROM counter_maps
), extra AS (
    SELECT snapshot_date, entry.key AS team_id,
{extra}
    FROM per_team GROUP BY snapshot_date, entry.key
)
SELECT
    l.snapshot_date,
    l.team.id AS team_id,
    l.team.name AS team_name,
    l.team.type.name AS tier,
    CAST(l.team.createdAt AS TIMESTAMPTZ) AS created_at,
    l.team.suspended AS suspended,
{columns}
FROM listed l
LEFT JOIN extra x ON x.snapshot_date = l.snapshot_date AND x.team_id = l.team.id
"""
