"""Daily ingest assets: the raw snapshot (verbatim), team usage, and platform metrics.

Each asset handles a single day or, in a single-run backfill, a whole range of days: the raw snapshot
fetches day by day (committing each; a bad day is reported and the run fails, with every other day stored), and
the derived tables are rebuilt for the whole range in set-based DuckDB SQL (team usage a few days per
statement, to bound memory).
"""

import json
from collections import defaultdict
from datetime import date, timedelta

import dagster as dg
import pandas as pd

from growth_pipeline.adoption.queries import adoption_metrics_sql
from growth_pipeline.catalog import Catalog
from growth_pipeline.ingest.archive import write_snapshot
from growth_pipeline.ingest.fetching import FailedDay, FetchedSnapshot, fetch_days
from growth_pipeline.ingest.normalize import team_usage_statements
from growth_pipeline.ingest.snapshot import stats_metric_rows
from growth_pipeline.markdown import markdown_table
from growth_pipeline.partitions import daily_partitions, each_day, window_days
from growth_pipeline.resources import CatalogResource, SnapshotSourceResource, Warehouse
from growth_pipeline.settings import start_date
from growth_pipeline.storage.warehouse import ensure_tables, replace_window, store_snapshot

DAILY = daily_partitions(start_date())
WRITER_POOL = "duckdb_writer"  # one writer at a time: see dagster.yaml


def counters_to_collect(catalog: Catalog, day: date) -> dict[str, set[str]]:
    """Per-team counters a day's snapshot needs, with the tiers to collect each for."""
    wanted: dict[str, set[str]] = defaultdict(set)
    for signal in catalog.active_team:
        wanted[signal.counter] |= set(catalog.tiers)
    for feature in catalog.features_collected_on(day):
        wanted[feature.signal.counter] |= set(feature.tiers)
    return dict(wanted)


@dg.asset(
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=WRITER_POOL,
    group_name="ingest",
    kinds={"duckdb"},
    description="The platform's meta snapshot at the end of each UTC day, kept verbatim as JSON "
    "(GET /api/v1/admin/stats and every page of GET /api/v1/teams): the audit trail every table is rebuilt from.",
)
def raw_snapshot(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    snapshot_source: SnapshotSourceResource,
    catalog: CatalogResource,
) -> dg.MaterializeResult:
    start, end = window_days(context)
    tracked = catalog.get()
    days = each_day(start, end)
    archive_dir = snapshot_source.archive_directory() if snapshot_source.archives_snapshots() else None
    stored: list[FetchedSnapshot] = []
    failed: list[FailedDay] = []
    with warehouse.get_connection() as conn:
        # Each day is committed on its own, and DuckDB would checkpoint every few days: each checkpoint
        # rewrites the open row group of raw_snapshot_pieces (hundreds of MB), so a year of days would cost
        # O(days^2). Checkpoint once instead, when the connection closes.
        conn.execute("SET checkpoint_threshold = '1TB'")
        ensure_tables(conn)
        fetched = fetch_days(
            snapshot_source.source(),
            days,
            plan=lambda day: counters_to_collect(tracked, day),
            origin=snapshot_source.describe(),
        )
        for snapshot in fetched:
            if isinstance(snapshot, FailedDay):
                context.log.error(str(snapshot))
                failed.append(snapshot)
                continue
            store_snapshot(
                conn, snapshot.day, snapshot.taken_at, snapshot.source_kind, snapshot.simulated, snapshot.document_json
            )
            if archive_dir is not None:
                try:
                    write_snapshot(archive_dir, snapshot.day, snapshot.document_json)
                except OSError as exc:
                    failed.append(
                        FailedDay(
                            snapshot.day,
                            f"stored in raw_snapshots but NOT archived: cannot write to {archive_dir}: {exc}. "
                            "Fix the archive directory (GROWTH_ARCHIVE_DIR) and re-run the day",
                        )
                    )
                    continue
            stored.append(snapshot)
    if failed:
        # The days that were stored are committed: record them as materialized, so Dagster shows what the
        # warehouse holds. Their derived tables are rebuilt when the range is run again.
        for snapshot in stored:
            context.log_event(
                dg.AssetMaterialization(
                    context.asset_key,
                    partition=snapshot.day.isoformat(),
                    metadata={"teams": snapshot.teams, "taken_at": snapshot.taken_at},
                )
            )
        raise dg.Failure(
            description=_failure_report(failed, stored),
            metadata={"failed_days": ", ".join(str(f.day) for f in failed), "days_stored": len(stored)},
        )
    last = stored[-1]
    context.log.info(
        f"stored {len(stored)} snapshot(s), {start} to {last.day}; "
        f"the last has {last.teams} teams, taken {last.taken_at}"
    )
    return dg.MaterializeResult(
        metadata={
            "days": len(stored),
            "last_day": str(last.day),
            "source": last.source_kind,
            "simulated": last.simulated,
            "taken_at": last.taken_at,
            "teams": last.teams,
            "archived_to": str(archive_dir) if archive_dir else _why_not_archived(snapshot_source),
            "stats_preview": dg.MetadataValue.md(
                "| stat | value |\n|---|---|\n"
                + "\n".join(f"| {k} | {v} |" for k, v in last.stats.items() if not isinstance(v, dict))
            ),
        }
    )


def _failure_report(failed: list[FailedDay], stored: list[FetchedSnapshot]) -> str:
    """Every failed day with its reason (the first 20), what was stored, and what to do."""
    listed = "\n".join(f"  - {failure}" for failure in failed[:20])
    more = f"\n  ... and {len(failed) - 20} more days" if len(failed) > 20 else ""
    kept = f"the other {len(stored)} day(s) of this run were stored" if stored else "nothing was stored"
    return (
        f"raw_snapshot: {len(failed)} day(s) failed; {kept}:\n{listed}{more}\n"
        "A day that could not be fetched keeps what was stored for it before. "
        "Fix the cause and re-run the failed day(s)."
    )


def _why_not_archived(snapshot_source: SnapshotSourceResource) -> str:
    if snapshot_source.kind == "archive":
        return "not archived again: read from the archive"
    return "not archived: demo snapshots are reproducible from the seed (GROWTH_ARCHIVE_DEMO=1 archives them)"


@dg.asset(
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=WRITER_POOL,
    deps=[raw_snapshot],
    group_name="ingest",
    kinds={"duckdb"},
    description="One row per team per day with its tier, suspension and counters (NULL = unknown, never 0).",
)
def team_usage(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    start, end = window_days(context)
    with warehouse.get_connection() as conn:
        ensure_tables(conn)
        rows = replace_window(conn, "team_usage", start, end, team_usage_statements(conn, start, end))
        by_tier = conn.execute(
            "SELECT tier, count(*) AS teams, count(*) FILTER (WHERE suspended) AS suspended "
            "FROM team_usage WHERE snapshot_date = ? GROUP BY tier ORDER BY tier",
            [end - timedelta(days=1)],
        ).df()
    return dg.MaterializeResult(
        metadata={
            "rows": rows,
            "days": (end - start).days,
            "teams_on_last_day": int(by_tier["teams"].sum()),
            "last_day_by_tier": dg.MetadataValue.md(markdown_table(by_tier)),
        }
    )


def _team_metrics_sql(catalog: Catalog) -> str:
    """Metrics only team rows can give: active teams (by tier), the weighted customer index, and the
    catalog's adoption metrics (device and pipeline adoption: a feature's adoption rate)."""
    weights = " ".join(f"WHEN '{tier}' THEN {weight}" for tier, weight in catalog.wci_weights.items())
    active = catalog.active_team_sql()
    adoption = adoption_metrics_sql(catalog)
    return f"""
    SELECT snapshot_date, 'active_teams' AS metric, 'all' AS segment, count(*) FILTER (WHERE {active}) AS value
    FROM team_usage WHERE snapshot_date >= $start AND snapshot_date < $end GROUP BY snapshot_date
    UNION ALL
    SELECT snapshot_date, 'active_teams', 'tier:' || tier, count(*) FILTER (WHERE {active})
    FROM team_usage WHERE snapshot_date >= $start AND snapshot_date < $end GROUP BY snapshot_date, tier
    UNION ALL
    SELECT snapshot_date, 'weighted_customer_index', 'all',
           coalesce(sum(CASE tier {weights} ELSE 0 END) FILTER (WHERE NOT coalesce(suspended, false)), 0)
    FROM team_usage WHERE snapshot_date >= $start AND snapshot_date < $end GROUP BY snapshot_date
    """ + (f"UNION ALL {adoption}" if adoption else "")


@dg.asset(
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=WRITER_POOL,
    deps=[raw_snapshot, team_usage],
    group_name="ingest",
    kinds={"duckdb"},
    description="Platform metrics per day in long form (date, metric, segment, value): the admin stats "
    "(teams by tier, instances by state, devices by mode and last seen, ...) plus active teams and the "
    "weighted customer index (WCI = Starter + 4 x Team + 8 x Enterprise unsuspended teams).",
)
def platform_metrics(
    context: dg.AssetExecutionContext, warehouse: Warehouse, catalog: CatalogResource
) -> dg.MaterializeResult:
    start, end = window_days(context)
    with warehouse.get_connection() as conn:
        ensure_tables(conn)
        stats = conn.execute(
            "SELECT snapshot_date, CAST(stats AS VARCHAR) FROM raw_snapshot_days "
            "WHERE snapshot_date >= ? AND snapshot_date < ?",
            [start, end],
        ).fetchall()
        from_stats = pd.DataFrame(
            [(day, *row) for day, document in stats for row in stats_metric_rows(json.loads(document))],
            columns=["snapshot_date", "metric", "segment", "value"],
        )
        from_teams = conn.execute(_team_metrics_sql(catalog.get()), {"start": start, "end": end}).df()
        frame = pd.concat([from_stats, from_teams], ignore_index=True)
        rows = replace_window(conn, "platform_metrics", start, end, frame)
        latest = conn.execute(
            "SELECT metric, segment, value FROM platform_metrics WHERE snapshot_date = ? ORDER BY metric, segment",
            [end - timedelta(days=1)],
        ).df()
    headline = latest[latest["segment"] == "all"]
    return dg.MaterializeResult(
        metadata={
            "rows": rows,
            "days": (end - start).days,
            **{f"latest/{m}": float(v) for m, v in zip(headline["metric"], headline["value"], strict=True)},
            "latest_day": dg.MetadataValue.md(markdown_table(latest)),
        }
    )
