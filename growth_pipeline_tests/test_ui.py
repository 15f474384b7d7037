"""The checks, freshness policies and schedules as the Dagster UI shows them.

Five weeks of the simulated platform are built with `growth-pipeline demo` (what `make demo` runs) into a
temporary instance made from the repository's dagster.yaml; then the real `dagster dev` serves it on
127.0.0.1 (a port in 3160-3169) and everything below is asked of its GraphQL API or read from the page
headless Chromium renders. The server and the browser are stopped whatever happens.
"""

import re
import time
from datetime import UTC, datetime, timedelta

import pytest

from .browser import chromium_path
from .dagster_ui import ASSETS, build_demo, dagster_dev, graphql, lineage_page, pipeline_env

START = datetime.now(UTC).date() - timedelta(weeks=5)

ASSET_NODES = """
{
  assetNodes {
    assetKey { path }
    dependencyKeys { path }
    internalFreshnessPolicy { __typename ... on CronFreshnessPolicy { deadlineCron lowerBoundDeltaSeconds timezone } }
    freshnessStatusInfo { freshnessStatus }
    assetChecksOrError {
      ... on AssetChecks {
        checks {
          name
          blocking
          executionForLatestMaterialization { status evaluation { severity description } }
          partitionStatuses { ... on AssetCheckTimePartitionStatuses { ranges { startKey endKey status } } }
        }
      }
    }
  }
}
"""
EXECUTIONS = """
query ($asset: [String!]!, $check: String!) {
  assetCheckExecutions(assetKey: {path: $asset}, checkName: $check, limit: 50) { status partition }
}
"""
SCHEDULES = """
{
  schedulesOrError(repositorySelector: {repositoryName: "__repository__", repositoryLocationName: "growth_pipeline"}) {
    ... on Schedules { results { name cronSchedule executionTimezone scheduleState { status } } }
  }
}
"""

UPSTREAM = {
    "raw_snapshot": set(),
    "team_usage": {"raw_snapshot"},
    "platform_metrics": {"raw_snapshot", "team_usage"},
    "feature_adoption": {"team_usage"},
    "weekly_growth": {"platform_metrics"},
    "weekly_adoption": {"feature_adoption"},
    "team_growth_accounting": {"team_usage"},
    "product_metrics_dashboard": {"weekly_growth", "weekly_adoption", "team_growth_accounting"},
}
CHECKS = {
    "raw_snapshot": {"snapshot_integrity", "latest_partition_present"},
    "team_usage": {"team_counts_match_platform", "latest_partition_present"},
    "platform_metrics": {"metric_anomalies", "latest_partition_present"},
    "feature_adoption": {"adoption_within_bounds", "latest_partition_present"},
    "weekly_growth": {"week_complete", "latest_partition_present"},
    "weekly_adoption": {"adoption_week_complete", "latest_partition_present"},
    "team_growth_accounting": {"accounting_balances", "latest_partition_present"},
    "product_metrics_dashboard": {"dashboard_current_and_offline"},  # unpartitioned: no partition to be late
}
WEEKLY = {"weekly_growth", "weekly_adoption", "team_growth_accounting"}
UNPARTITIONED = {"product_metrics_dashboard"}
DAILY_POLICY = {"__typename": "CronFreshnessPolicy", "deadlineCron": "0 6 * * *", "lowerBoundDeltaSeconds": 21600}
WEEKLY_POLICY = {**DAILY_POLICY, "deadlineCron": "0 6 * * 1"}


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ui")
    env = pipeline_env(tmp / "home", START.isoformat())
    started = time.monotonic()
    build_demo(env, tmp / "demo.log")
    built = time.monotonic()
    with dagster_dev(env, tmp / "dagster-dev.log") as url:
        print(f"\ndemo {built - started:.0f} s, dagster dev up {time.monotonic() - built:.0f} s")
        yield url, tmp


def nodes(url: str) -> dict[str, dict]:
    return {"/".join(n["assetKey"]["path"]): n for n in graphql(url, ASSET_NODES)["assetNodes"]}


def test_the_asset_graph_and_its_edges(ui):
    url, _ = ui
    graph = nodes(url)
    assert set(ASSETS) <= set(graph)
    for asset, upstream in UPSTREAM.items():
        assert {"/".join(k["path"]) for k in graph[asset]["dependencyKeys"]} == upstream, asset


def test_every_asset_has_its_checks_and_freshness_policy(ui):
    url, _ = ui
    for asset, node in nodes(url).items():
        checks = {c["name"]: c for c in node["assetChecksOrError"]["checks"]}
        # Every partitioned asset, including ones added later, gets the latest-partition check and a data
        # check of its own.
        if asset not in UNPARTITIONED:
            assert "latest_partition_present" in checks and len(checks) >= 2, (asset, sorted(checks))
        if asset in CHECKS:
            assert set(checks) == CHECKS[asset]
        assert {name for name, c in checks.items() if c["blocking"]} == (
            {"snapshot_integrity"} if asset == "raw_snapshot" else set()
        )
        policy = node["internalFreshnessPolicy"]
        weekly = asset in WEEKLY | UNPARTITIONED  # the dashboard is written by the weekly job
        assert policy == {**(WEEKLY_POLICY if weekly else DAILY_POLICY), "timezone": "UTC"}


def test_after_the_demo_every_check_has_a_result_for_every_partition(ui):
    url, _ = ui
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    first_monday = START + timedelta(days=(7 - START.weekday()) % 7)
    last_monday = yesterday - timedelta(days=yesterday.weekday() + (0 if yesterday.weekday() == 6 else 7))
    graph = nodes(url)
    for asset in ASSETS:
        for check in graph[asset]["assetChecksOrError"]["checks"]:
            where = f"{asset}/{check['name']}"
            latest = check["executionForLatestMaterialization"]
            assert latest is not None, f"{where} has no result for the latest materialization"
            assert latest["status"] in ("SUCCEEDED", "FAILED"), where
            if asset in UNPARTITIONED:
                assert check["partitionStatuses"] is None
                assert latest["status"] == "SUCCEEDED", latest["evaluation"]
                continue
            if check["name"] == "latest_partition_present":
                assert check["partitionStatuses"] is None  # about the asset as a whole
                assert latest["status"] == "SUCCEEDED", latest["evaluation"]
                continue
            ranges = check["partitionStatuses"]["ranges"]
            # One result per partition of the single-run backfill: none left skipped or in progress.
            assert {r["status"] for r in ranges} <= {"SUCCEEDED", "FAILED"}, (where, ranges)
            first, last = (first_monday, last_monday) if asset in WEEKLY else (START, yesterday)
            assert (ranges[0]["startKey"], ranges[-1]["endKey"]) == (first.isoformat(), last.isoformat()), where
            assert all(
                datetime.fromisoformat(b["startKey"]) > datetime.fromisoformat(a["endKey"])
                for a, b in zip(ranges, ranges[1:], strict=False)
            ), where
    # The latest-partition check ran in its own unpartitioned run: no "skipped" rows, one per day, in its history.
    history = graphql(url, EXECUTIONS, {"asset": ["raw_snapshot"], "check": "latest_partition_present"})
    assert history["assetCheckExecutions"] == [{"status": "SUCCEEDED", "partition": None}]
    integrity = {c["name"]: c for c in graph["raw_snapshot"]["assetChecksOrError"]["checks"]}["snapshot_integrity"]
    assert integrity["executionForLatestMaterialization"]["evaluation"] == {
        "severity": "ERROR",
        "description": f"the stored snapshot for {yesterday} is sound",
    }


def test_the_freshness_daemon_finds_every_asset_fresh(ui):
    url, _ = ui
    deadline = time.monotonic() + 120
    while True:
        states = {asset: (n["freshnessStatusInfo"] or {}).get("freshnessStatus") for asset, n in nodes(url).items()}
        if all(state == "HEALTHY" for state in states.values()) or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert states == dict.fromkeys(states, "HEALTHY")


def test_schedules_are_there_and_off(ui):
    url, _ = ui
    schedules = graphql(url, SCHEDULES)["schedulesOrError"]["results"]
    assert {
        s["name"]: (s["cronSchedule"], s["executionTimezone"], s["scheduleState"]["status"]) for s in schedules
    } == {
        "daily_snapshot_schedule": ("15 0 * * *", "UTC", "STOPPED"),
        "weekly_growth_schedule": ("0 2 * * 1", "UTC", "STOPPED"),
        "freshness_checks_schedule": ("5 6 * * *", "UTC", "STOPPED"),
    }


def test_chromium_draws_the_lineage_with_each_assets_checks(ui):
    url, tmp = ui
    chromium_path()  # fails, saying what to install, when Chromium is missing
    with lineage_page(url) as page:
        text = page.evaluate("document.body.innerText")
        png = page.screenshot(height=1150)
    assert text.count("Asset checks") == len(ASSETS)
    # Each node: how many of its checks passed (2 each; 1 on the unpartitioned dashboard).
    assert len(re.findall(r"\d / 2 ", text)) == len(ASSETS) - len(UNPARTITIONED)
    assert len(re.findall(r"\d / 1 ", text)) == len(UNPARTITIONED)
    for asset in ASSETS:
        assert asset in text
    assert png.startswith(b"\x89PNG") and len(png) > 50_000
    (tmp / "asset-lineage.png").write_bytes(png)
