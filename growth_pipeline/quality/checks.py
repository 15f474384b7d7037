"""The data-quality asset checks, one result per partition, also in single-run backfills.

How Dagster 1.13.27 evaluates a partitioned check over a range (a single-run backfill): the run plans
one evaluation per partition, but an ``AssetCheckResult`` is recorded once, with no partition, so every
day of the range is left "planned" and the UI shows it as skipped. So each check here reads its whole
window in one pass (``rules.py``) and yields one ``AssetCheckEvaluation`` per partition, tied to that
partition's latest materialization; a failed blocking ERROR evaluation then stops the downstream steps
as Dagster's own blocking does. One evaluation costs one event (~30 ms in SQLite) per partition.

A new asset gets its checks by adding one ``partition_check`` here; the framework stays as it is.
"""

import warnings
from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb

# Not re-exported at the top level in 1.13.27, but the public AssetCheckEvaluation takes one.
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

from growth_pipeline.adoption.assets import feature_adoption, weekly_adoption
from growth_pipeline.dashboard.assets import product_metrics_dashboard
from growth_pipeline.growth.assets import team_growth_accounting, weekly_growth
from growth_pipeline.growth.rollup import iso_week_label
from growth_pipeline.ingest.assets import WRITER_POOL, platform_metrics, raw_snapshot, team_usage
from growth_pipeline.partitions import window_days
from growth_pipeline.quality.rules import (
    ERROR,
    WARN,
    Verdict,
    accounting_verdicts,
    adoption_verdicts,
    anomaly_verdicts,
    dashboard_verdict,
    snapshot_integrity_verdicts,
    team_count_verdicts,
    week_completeness_verdicts,
)
from growth_pipeline.resources import Warehouse
from growth_pipeline.storage.warehouse import ensure_tables

# Partitioned asset checks are a preview feature in Dagster 1.13; we rely on them on purpose.
warnings.filterwarnings("ignore", category=dg.PreviewWarning)

Judge = Callable[[duckdb.DuckDBPyConnection, date, date], Mapping[date, Verdict]]
SEVERITY = {ERROR: dg.AssetCheckSeverity.ERROR, WARN: dg.AssetCheckSeverity.WARN}


def latest_materializations(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, partition_keys: list[str]
) -> dict[str, dg.EventLogRecord]:
    """The latest materialization record of each partition (newest first, paged), so each evaluation
    points at the materialization it checked and the UI shows it as current."""
    latest: dict[str, dg.EventLogRecord] = {}
    cursor = None
    while len(latest) < len(partition_keys):
        page = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=partition_keys), limit=1000, cursor=cursor
        )
        for record in page.records:
            latest.setdefault(record.partition_key, record)
        if not page.has_more:
            break
        cursor = page.cursor
    return latest


def partition_check(
    asset: dg.AssetsDefinition, *, name: str, description: str, severity: str, blocking: bool = False
) -> Callable[[Judge], dg.AssetChecksDefinition]:
    """Make ``judge(conn, start, end) -> {partition date: Verdict}`` a partitioned check of ``asset``."""
    partitions_def = asset.partitions_def

    def build(judge: Judge) -> dg.AssetChecksDefinition:
        @dg.asset_check(
            asset=asset,
            name=name,
            description=description,
            blocking=blocking,
            partitions_def=partitions_def,
            pool=WRITER_POOL,  # it opens the DuckDB file, which takes one process at a time
        )
        def the_check(context: dg.AssetCheckExecutionContext, warehouse: Warehouse):
            start, end = window_days(context)
            keys = partitions_def.get_partition_keys_in_range(context.partition_key_range)
            with warehouse.get_connection() as conn:
                ensure_tables(conn)  # a check run on its own, before any materialization, finds empty tables
                verdicts = judge(conn, start, end)
            materializations = latest_materializations(context.instance, asset.key, keys)
            failed = 0
            for key in keys:
                verdict = verdicts[date.fromisoformat(key)]
                level = verdict.severity or severity
                if not verdict.passed:
                    failed += 1
                    log = context.log.error if level == ERROR else context.log.warning
                    log(f"{name} [{key}] {level}: {verdict.description}")
                record = materializations.get(key)
                yield dg.AssetCheckEvaluation(
                    asset_key=asset.key,
                    check_name=name,
                    passed=verdict.passed,
                    severity=SEVERITY[level],
                    description=verdict.description,
                    metadata={
                        **verdict.metadata,
                        **({"details": dg.MetadataValue.md(verdict.details)} if verdict.details else {}),
                    },
                    target_materialization_data=AssetCheckEvaluationTargetMaterializationData(
                        storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp
                    )
                    if record
                    else None,
                    blocking=blocking,
                    partition=key,
                )
            context.log.info(
                f"{name}: {len(keys) - failed} of {len(keys)} partition(s) passed, {keys[0]} to {keys[-1]}"
            )
            # The check's output: downstream steps wait on it when the check is blocking.
            (output,) = context.op_execution_context.op_def.output_defs
            yield dg.Output(None, output_name=output.name)

        return the_check

    return build


@partition_check(
    raw_snapshot,
    name="snapshot_integrity",
    severity=ERROR,
    blocking=True,
    description="ERROR, blocking: the stored snapshot document parses; required fields are present with the "
    "right types; counts are non-negative whole numbers; team ids are unique; its snapshot_date is the "
    "partition's day. The same rules the ingest applies before storing (ingest.snapshot.snapshot_problems), "
    "applied to what is stored, which is what downstream reads. A failure names the day and every wrong "
    "field, and the day's downstream assets do not run (in a single-run backfill, the range's).",
)
def snapshot_integrity(conn, start, end):
    return snapshot_integrity_verdicts(conn, start, end)


@partition_check(
    team_usage,
    name="team_counts_match_platform",
    severity=WARN,
    description="Team rows per tier agree with the platform's own count in the same snapshot "
    "(GET /admin/stats teamsByType and teamCount). WARN when no tier is off by more than 2: the stats and "
    "the team list are two API calls moments apart, and a team created or deleted in between is real, not "
    "a fault. ERROR beyond that: a lost page or a mislabelled tier, and per-tier numbers are not to be trusted.",
)
def team_counts_match_platform(conn, start, end):
    return team_count_verdicts(conn, start, end)


@partition_check(
    feature_adoption,
    name="adoption_within_bounds",
    severity=ERROR,
    description="ERROR: adopting teams never exceed eligible teams, counts are non-negative, the rate lies in "
    "[0, 1] and equals adopting / eligible, and each feature's 'all' row is the sum of its tiers. No real "
    "platform can produce a violation, so one means the derivation is wrong and the rates cannot be used.",
)
def adoption_within_bounds(conn, start, end):
    return adoption_verdicts(conn, start, end)


@partition_check(
    platform_metrics,
    name="metric_anomalies",
    severity=WARN,
    description="WARN: each metric and segment's change into the day, scored against the changes into the "
    "same weekday over the trailing 8 weeks (median and MAD, modified z-score; the spread is at least 1% of "
    "the level); |score| > 5 is an anomaly. A day needs 4 such weeks of history to be judged; a flat series "
    "(MAD 0) falls back to the mean absolute deviation, then to that floor. Metadata: the most extreme "
    "metric's value, expected range and score. An anomaly may be real (a big customer leaving, an outage), "
    "so it warns, it does not block.",
)
def metric_anomalies(conn, start, end):
    return anomaly_verdicts(conn, start, end)


@partition_check(
    weekly_growth,
    name="week_complete",
    severity=WARN,
    description="WARN: the week's rollup is built on all 7 days of platform_metrics; otherwise it names the "
    "missing days (the week's value then comes from its latest day, as the growth_note says).",
)
def week_complete(conn, start, end):
    return week_completeness_verdicts(conn, "platform_metrics", start, end)


@partition_check(
    weekly_adoption,
    name="adoption_week_complete",
    severity=WARN,
    description="WARN: the week's adoption rollup is built on all 7 days of feature_adoption; otherwise it "
    "names the missing days (end-of-week adoption then comes from the week's latest day).",
)
def adoption_week_complete(conn, start, end):
    return week_completeness_verdicts(conn, "feature_adoption", start, end)


@partition_check(
    team_growth_accounting,
    name="accounting_balances",
    severity=ERROR,
    description="ERROR: per tier, new + retained + resurrected teams = active teams, no count is negative, "
    "the quick ratio is (new + resurrected) / churned (NULL when nothing churned), and every state's tiers "
    "add up to the 'all' row. Growth accounting partitions the teams, so anything else is a derivation bug.",
)
def accounting_balances(conn, start, end):
    return accounting_verdicts(conn, start, end)


@dg.asset_check(
    asset=product_metrics_dashboard,
    name="dashboard_current_and_offline",
    description="ERROR: the dashboard file written by the latest materialization exists, shows the latest ISO "
    "week of weekly_growth, and references nothing on the network (no http(s) src, href or url()), so it "
    "opens offline and can be attached to a weekly update.",
    pool=WRITER_POOL,  # it opens the DuckDB file, which takes one process at a time
)
def dashboard_current_and_offline(context: dg.AssetCheckExecutionContext, warehouse: Warehouse):
    event = context.instance.get_latest_materialization_event(product_metrics_dashboard.key)
    metadata = event.asset_materialization.metadata if event and event.asset_materialization else {}
    path = metadata["path"].value if "path" in metadata else "(never written)"
    shown = metadata["week"].value if "week" in metadata else None
    with warehouse.get_connection() as conn:
        ensure_tables(conn)
        (latest,) = conn.execute("SELECT max(week_start) FROM weekly_growth").fetchone()
    page = Path(path).read_text(encoding="utf-8") if Path(path).is_file() else None
    verdict = dashboard_verdict(page, path, shown, iso_week_label(latest) if latest else None)
    return dg.AssetCheckResult(
        passed=verdict.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=verdict.description,
        metadata=verdict.metadata,
    )


QUALITY_CHECKS = [
    snapshot_integrity,
    team_counts_match_platform,
    adoption_within_bounds,
    metric_anomalies,
    week_complete,
    adoption_week_complete,
    accounting_balances,
    dashboard_current_and_offline,
]
