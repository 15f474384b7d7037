"""The Dagster code location: every asset, check, job, schedule and resource of the growth pipeline.

Loading this module loads and checks the catalog, so a mistake in catalog.yaml stops the code location
from loading and the Dagster UI shows the error naming the file, entry and field.
"""

from __future__ import annotations

import os

import dagster as dg

from growth_pipeline.adoption.assets import feature_adoption, weekly_adoption
from growth_pipeline.alerts.jobs import growth_alert_job
from growth_pipeline.alerts.resources import alert_settings_from_env
from growth_pipeline.alerts.sensors import growth_alert_sensor
from growth_pipeline.catalog import load_catalog
from growth_pipeline.dashboard.assets import product_metrics_dashboard
from growth_pipeline.growth.assets import team_growth_accounting, weekly_growth
from growth_pipeline.growth.calculator_job import growth_calculator_job
from growth_pipeline.ingest.assets import platform_metrics, raw_snapshot, team_usage
from growth_pipeline.quality.checks import QUALITY_CHECKS
from growth_pipeline.quality.freshness import (
    WEEKLY_FRESHNESS,
    latest_partition_check,
    with_freshness_policies,
    with_freshness_policy,
)
from growth_pipeline.resources import resources_from_env
from growth_pipeline.schedules import pipeline_schedules

load_catalog(os.getenv("GROWTH_CATALOG") or None)
ALERTING = alert_settings_from_env()
ALERTING.load()  # checks the alert rules too: a mistake names the file, the rule and the field

DAILY_ASSETS = [raw_snapshot, team_usage, platform_metrics, feature_adoption]
WEEKLY_ASSETS = [weekly_growth, weekly_adoption, team_growth_accounting]
# Run on their own (freshness_checks_job), never inside a partitioned run: Dagster 1.13.27 plans an
# unpartitioned check once per partition of such a run and leaves every one of those rows "skipped".
FRESHNESS_CHECKS = [latest_partition_check(asset) for asset in [*DAILY_ASSETS, *WEEKLY_ASSETS]]

daily_usage_job = dg.define_asset_job(
    "daily_usage_job",
    selection=dg.AssetSelection.assets(*DAILY_ASSETS) - dg.AssetSelection.checks(*FRESHNESS_CHECKS),
    description="Snapshot the platform for a day (or a range, in one run) and derive team usage, "
    "platform metrics and feature adoption.",
)
weekly_growth_job = dg.define_asset_job(
    "weekly_growth_job",
    selection=dg.AssetSelection.assets(*WEEKLY_ASSETS, product_metrics_dashboard)
    - dg.AssetSelection.checks(*FRESHNESS_CHECKS),
    description="Roll daily metrics up into ISO weeks with week-on-week growth and bands, and account "
    "for teams won, kept, won back and lost each week; then write the product metrics dashboard.",
)
dashboard_job = dg.define_asset_job(
    "product_metrics_dashboard_job",
    selection=dg.AssetSelection.assets(product_metrics_dashboard),
    description="Write the product metrics dashboard (HTML) of the latest week, with the alerts raised so far.",
)

freshness_checks_job = dg.define_asset_job(
    "freshness_checks_job",
    selection=dg.AssetSelection.checks(*FRESHNESS_CHECKS),
    description="Check that every asset's latest due day or week is there (scheduled just after the deadline).",
)

defs = dg.Definitions(
    assets=[
        *with_freshness_policies([*DAILY_ASSETS, *WEEKLY_ASSETS]),
        # Written by the weekly job, after the rollups: expected when they are.
        with_freshness_policy(product_metrics_dashboard, WEEKLY_FRESHNESS),
    ],
    asset_checks=[*QUALITY_CHECKS, *FRESHNESS_CHECKS],
    jobs=[
        daily_usage_job,
        weekly_growth_job,
        freshness_checks_job,
        growth_calculator_job,
        growth_alert_job,
        dashboard_job,
    ],
    schedules=pipeline_schedules(daily_usage_job, weekly_growth_job, freshness_checks_job),
    sensors=[growth_alert_sensor],
    resources={**resources_from_env(), "alerting": ALERTING},
    # One process per run: DuckDB takes one writer process, and the steps share a file.
    executor=dg.in_process_executor,
)
