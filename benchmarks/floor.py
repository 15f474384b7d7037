"""The floor: the daily derivations as plain DuckDB SQL over raw_snapshots, one statement per table.

No Dagster, no pandas, no partition bookkeeping, no per-day work: what DuckDB alone needs to turn the
stored documents into team_usage, platform_metrics and feature_adoption. team_usage and the stats metrics
are written here from the definitions (README, catalog.yaml), not from the pipeline's SQL; the adoption
rows (new and lost adopters, first use, ...) reuse the pipeline's own set-based statement
(growth_pipeline/adoption/queries.py), run once over the whole range, because their definitions are that
SQL. Every table is checked against the pipeline's, so the benchmark also says whether both give the same rows.

Like the pipeline, it reads the documents once into a temporary table and flattens them a few days per
statement: any read of raw_snapshots decompresses every stored document, and flattening a year of 10k-team
documents in one statement would hold some 13 GB.
"""

from __future__ import annotations

import time
from datetime import timedelta

import duckdb

from growth_pipeline.adoption.queries import adoption_metrics_sql, daily_adoption_sql
from growth_pipeline.catalog import Catalog
from growth_pipeline.ingest.snapshot import STATS_BREAKDOWNS, STATS_LEVELS

DAYS_PER_STATEMENT = 8

TEAM_USAGE = """
WITH docs AS (
    SELECT snapshot_date,
           from_json(document, '{
               "teams": [{"id": "VARCHAR", "name": "VARCHAR", "type": {"name": "VARCHAR"}, "createdAt": "VARCHAR",
                          "suspended": "BOOLEAN", "memberCount": "BIGINT", "instanceCount": "BIGINT",
                          "deviceCount": "BIGINT", "brokerCount": "BIGINT", "teamBrokerClientsCount": "BIGINT"}],
               "team_counters": {"pipelineCount": "MAP(VARCHAR, BIGINT)", "tablesCount": "MAP(VARCHAR, BIGINT)",
                                 "deviceCount": "MAP(VARCHAR, BIGINT)"}
           }') AS doc
    FROM documents WHERE snapshot_date >= ? AND snapshot_date < ?
), teams AS (
    SELECT snapshot_date, unnest(doc.teams) AS t, doc.team_counters AS c FROM docs
)
SELECT snapshot_date, t.id AS team_id, t.name AS team_name, t.type.name AS tier,
       CAST(t.createdAt AS TIMESTAMPTZ) AS created_at, t.suspended,
       t.memberCount AS member_count, t.instanceCount AS instance_count,
       coalesce(t.deviceCount, c.deviceCount[t.id]) AS device_count,
       t.brokerCount AS broker_count, t.teamBrokerClientsCount AS broker_client_count,
       c.pipelineCount[t.id] AS pipeline_count, c.tablesCount[t.id] AS table_count
FROM teams
"""


def platform_metrics_sql(catalog: Catalog) -> str:
    levels = ", ".join(f"('{field}', '{metric}')" for field, metric in STATS_LEVELS.items())
    breakdowns = ", ".join(f"('{field}', '{metric}', '{kind}')" for field, (metric, kind) in STATS_BREAKDOWNS.items())
    weights = " ".join(f"WHEN '{tier}' THEN {weight}" for tier, weight in catalog.wci_weights.items())
    return f"""
CREATE TABLE platform_metrics AS
WITH stats AS (SELECT snapshot_date, document->'stats' AS s FROM raw_snapshots)
SELECT snapshot_date, metric, 'all' AS segment, CAST(s->>field AS DOUBLE) AS value
FROM stats, (VALUES {levels}) AS l(field, metric)
WHERE json_type(s, field) IN ('UBIGINT', 'BIGINT')
UNION ALL
SELECT snapshot_date, metric, kind || ':' || e.key, CAST(e.value AS DOUBLE)
FROM stats, (VALUES {breakdowns}) AS b(field, metric, kind), json_each(s->field) AS e
WHERE json_type(s, field) = 'OBJECT'
UNION ALL
SELECT snapshot_date, 'active_teams', 'all', count(*) FILTER (WHERE {catalog.active_team_sql()})
FROM team_usage GROUP BY snapshot_date
UNION ALL
SELECT snapshot_date, 'active_teams', 'tier:' || tier, count(*) FILTER (WHERE {catalog.active_team_sql()})
FROM team_usage GROUP BY snapshot_date, tier
UNION ALL
SELECT snapshot_date, 'weighted_customer_index', 'all',
       coalesce(sum(CASE tier {weights} ELSE 0 END) FILTER (WHERE NOT coalesce(suspended, false)), 0)
FROM team_usage GROUP BY snapshot_date
""" + (f"UNION ALL {adoption}" if (adoption := adoption_metrics_sql(catalog)) else "")


def feature_adoption_sql(catalog: Catalog) -> str:
    return f"CREATE TABLE feature_adoption AS {daily_adoption_sql(catalog)}"


def derive(conn: duckdb.DuckDBPyConnection, catalog: Catalog) -> dict[str, float]:
    """Build the three tables from ``raw_snapshots``; seconds per table."""
    started = time.perf_counter()
    conn.execute("CREATE TEMP TABLE documents AS SELECT snapshot_date, document FROM raw_snapshots")
    start, end = conn.execute("SELECT min(snapshot_date), max(snapshot_date) + 1 FROM documents").fetchone()
    conn.execute(f"CREATE TABLE team_usage AS {TEAM_USAGE} LIMIT 0", [start, start])
    for offset in range(0, (end - start).days, DAYS_PER_STATEMENT):
        first = start + timedelta(days=offset)
        conn.execute(f"INSERT INTO team_usage {TEAM_USAGE}", [first, first + timedelta(days=DAYS_PER_STATEMENT)])
    seconds = {"team_usage": round(time.perf_counter() - started, 3)}
    window = {"start": start, "end": end}
    for table, sql in (
        ("platform_metrics", platform_metrics_sql(catalog)),
        ("feature_adoption", feature_adoption_sql(catalog)),
    ):
        started = time.perf_counter()
        conn.execute(sql, window)
        seconds[table] = round(time.perf_counter() - started, 3)
    return seconds


def compare_with(conn: duckdb.DuckDBPyConnection, pipeline_database: str, first: str, last: str) -> dict[str, bool]:
    """Whether each floor table holds exactly the pipeline's rows for [first, last] (as multisets)."""
    conn.execute(f"ATTACH '{pipeline_database}' AS pipeline (READ_ONLY)")
    try:
        same = {}
        for table in ("team_usage", "platform_metrics", "feature_adoption"):
            columns = ", ".join(
                r[0] for r in conn.execute(f"SELECT column_name FROM (DESCRIBE pipeline.{table})").fetchall()
            )
            window = f"snapshot_date BETWEEN DATE '{first}' AND DATE '{last}'"
            differing = conn.execute(
                f"""SELECT count(*) FROM (
                    (SELECT {columns} FROM {table} EXCEPT ALL SELECT {columns} FROM pipeline.{table} WHERE {window})
                    UNION ALL
                    (SELECT {columns} FROM pipeline.{table} WHERE {window} EXCEPT ALL SELECT {columns} FROM {table}))"""
            ).fetchone()[0]
            same[table] = differing == 0
        return same
    finally:
        conn.execute("DETACH pipeline")
