"""Freshness: when each asset is expected, as Dagster freshness policies, and a partition-aware check.

A day's data is expected within ``DEADLINE_HOURS`` after the day ends (midnight UTC): the daily schedule
runs at 00:15 UTC, and a live FlowFuse can only be snapshotted for the day that just ended in the first
hours after midnight (FLOWFUSE_LIVE_WINDOW_HOURS, default 6). A week's rollup is expected by the same
hour on the Monday after it.

A ``FreshnessPolicy`` looks at the asset's latest materialization of *any* partition, so backfilling an
old day makes the asset look fresh. ``latest_partition_present`` looks for the latest partition itself.
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import dagster as dg

from growth_pipeline.quality.rules import latest_due_day, latest_due_week

DEADLINE_HOURS = 6
GRACE = timedelta(hours=DEADLINE_HOURS)

# Materialized between midnight UTC and the deadline, each day / each Monday.
DAILY_FRESHNESS = dg.FreshnessPolicy.cron(deadline_cron=f"0 {DEADLINE_HOURS} * * *", lower_bound_delta=GRACE)
WEEKLY_FRESHNESS = dg.FreshnessPolicy.cron(deadline_cron=f"0 {DEADLINE_HOURS} * * 1", lower_bound_delta=GRACE)


def _cadence(asset: dg.AssetsDefinition) -> str:
    partitions_def = asset.partitions_def
    if isinstance(partitions_def, dg.DailyPartitionsDefinition):
        return "daily"
    if isinstance(partitions_def, dg.WeeklyPartitionsDefinition):
        return "weekly"
    raise ValueError(f"{asset.key.to_user_string()} is not daily or weekly partitioned: give it a freshness policy")


def with_freshness_policy(asset: dg.AssetsDefinition, policy: dg.FreshnessPolicy) -> dg.AssetsDefinition:
    return asset.map_asset_specs(lambda spec: spec.replace_attributes(freshness_policy=policy))


def with_freshness_policies(assets: Sequence[dg.AssetsDefinition]) -> list[dg.AssetsDefinition]:
    """The assets with the freshness policy of their partitioning (daily or weekly) attached."""
    policies = {"daily": DAILY_FRESHNESS, "weekly": WEEKLY_FRESHNESS}
    return [with_freshness_policy(a, policies[_cadence(a)]) for a in assets]


def latest_partition_check(asset: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    """ERROR when the latest partition due by now (its day or week ended over DEADLINE_HOURS ago) has
    no materialization, whatever older partitions were materialized lately."""
    weekly = _cadence(asset) == "weekly"
    partitions_def = asset.partitions_def
    unit = "week" if weekly else "day"

    @dg.asset_check(
        asset=asset,
        name="latest_partition_present",
        description=f"ERROR when the latest {unit} is missing {DEADLINE_HOURS} hours after it ended "
        f"({'Monday ' if weekly else ''}{DEADLINE_HOURS:02d}:00 UTC). Unlike the freshness policy, a backfill "
        "of older partitions does not satisfy it.",
    )
    def latest_partition_present(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        now = datetime.now(UTC)
        due = (latest_due_week if weekly else latest_due_day)(now, GRACE)
        first = partitions_def.get_first_partition_key()
        key = due.isoformat()
        if first is None or key < first:
            return dg.AssetCheckResult(passed=True, description=f"no {unit} is due yet (the first is {first})")
        materialized = context.instance.get_materialized_partitions(asset.key)
        latest = max(materialized, default=None)
        metadata = {
            f"expected_{unit}": key,
            f"latest_materialized_{unit}": latest or "none",
            "checked_at": dg.MetadataValue.timestamp(now.timestamp()),
        }
        if key in materialized:
            return dg.AssetCheckResult(
                passed=True, description=f"the latest {unit} due, {key}, is there", metadata=metadata
            )
        return dg.AssetCheckResult(
            passed=False,
            severity=dg.AssetCheckSeverity.ERROR,
            description=f"{key}, the latest {unit} due by now, has not been materialized; "
            f"the latest {unit} materialized is {latest or 'none'}",
            metadata=metadata,
        )

    return latest_partition_present
