"""Alerts end to end on the simulated platform: the real daily and weekly assets build three weeks (the
weeks as one single-run backfill), the sensor reads their metadata, and the default rules alert on the
demo data. Expected numbers come from the simulator's own team counts and the growth definitions."""

import json
from datetime import UTC, date, datetime

import dagster as dg
import pytest

from growth_pipeline.growth.math import classify
from growth_pipeline.simulator.platform import SimulatedPlatform

from .conftest import RANGE_END, RANGE_START, local_http_server, pipeline_resources, query, run_days
from .test_alerts import PinnedClock, Receiver, launch, tick

FIRST, LAST = date(2026, 11, 9), date(2026, 11, 29)  # ISO weeks 2026-W46, W47 and W48
SUNDAYS = (date(2026, 11, 15), date(2026, 11, 22), date(2026, 11, 29))
WEEKS_13 = [f"2026-W{n}" for n in range(36, 49)]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from growth_pipeline.definitions import WEEKLY_ASSETS

    database = tmp_path_factory.mktemp("alerts") / "growth.duckdb"
    resources = pipeline_resources(database)
    instance = dg.DagsterInstance.ephemeral()
    run_days(FIRST, LAST, resources, instance)
    weeks = dg.materialize(
        WEEKLY_ASSETS,
        resources=resources,
        instance=instance,
        tags={RANGE_START: "2026-11-09", RANGE_END: "2026-11-23"},
    )
    assert weeks.success
    yield database, instance
    instance.dispose()


def latest_metadata(instance, asset: str, partition: str) -> dict:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(dg.AssetKey(asset), asset_partitions=[partition]), limit=1
    ).records
    return records[0].asset_materialization.metadata


def test_the_rollups_carry_13_weeks_that_match_the_tables(built):
    database, instance = built
    # A range run gives every week the metadata of its last week (2026-W48), with the weeks before it.
    for partition in ("2026-11-09", "2026-11-16", "2026-11-23"):
        entries = latest_metadata(instance, "weekly_growth", partition)["growth"].value
        growth = {(e["metric"], e["segment"]): e for e in entries}
        teams = growth[("teams", "all")]
        assert teams["week"] == "2026-W48"
        assert teams["recent"]["weeks"] == WEEKS_13
    platform = SimulatedPlatform()
    counts = [platform.state_on(day).stats["teamCount"] for day in SUNDAYS]
    assert counts == [771, 776, 779]
    wows = [counts[1] / counts[0] - 1, counts[2] / counts[1] - 1]
    assert teams["recent"]["value"] == [None] * 10 + counts
    assert teams["recent"]["wow_growth"] == pytest.approx([None] * 11 + wows)
    assert teams["recent"]["band"] == [None] * 11 + [classify(w) for w in wows] == [None] * 11 + ["not acceptable"] * 2
    for (metric, segment), entry in growth.items():
        stored = query(
            database,
            "SELECT iso_week, value, wow_growth, band FROM weekly_growth WHERE metric = ? AND segment = ? ORDER BY 1",
            [metric, segment],
        )
        columns = [entry["recent"][c] for c in ("weeks", "value", "wow_growth", "band")]
        assert [row for row in zip(*columns, strict=True) if row[1] is not None] == stored

    adoption = latest_metadata(instance, "weekly_adoption", "2026-11-23")["adoption"].value
    for entry in adoption:
        stored = query(
            database,
            "SELECT iso_week, adopting_teams, adoption_rate, wow_growth, band FROM weekly_adoption "
            "WHERE feature = ? AND tier = ? ORDER BY 1",
            [entry["feature"], entry["tier"]],
        )
        fields = ("weeks", "adopting_teams", "adoption_rate", "wow_growth", "band")
        assert set(entry["recent"]) == set(fields)
        columns = [entry["recent"][c] for c in fields]
        assert [row for row in zip(*columns, strict=True) if row[1] is not None] == stored


def test_the_default_rules_alert_on_the_demo_data(built, monkeypatch):
    database, instance = built
    alerting = PinnedClock(pinned_now=datetime(2026, 11, 30, 9, tzinfo=UTC).isoformat())
    weak_twice = {
        metric
        for (metric,) in query(
            database,
            "SELECT metric FROM weekly_growth WHERE segment = 'all' AND iso_week IN ('2026-W47', '2026-W48') "
            "GROUP BY metric HAVING count(*) FILTER (WHERE band = 'not acceptable') = 2",
        )
    }
    assert "teams" in weak_twice

    receiver = Receiver()
    with local_http_server(receiver) as base:
        monkeypatch.setenv("GROWTH_ALERT_WEBHOOK_URL", base + "/hook")
        result = tick(instance, alerting)
        assert [r.run_key for r in result.run_requests] == ["not_acceptable_2_weeks:2026-W48"]
        (run,) = launch(instance, alerting, result)
        assert run.success
        assert tick(instance, alerting, result.cursor).run_requests == []

    ((_, body),) = receiver.posts
    lines = body["text"].splitlines()
    assert lines[0] == ":warning: *Growth alert not_acceptable_2_weeks, 2026-W48 (2026-11-23 to 2026-11-29)*"
    assert "• Teams (all): WoW +0.39%, band not acceptable, streak 2 weeks, value 779 " in body["text"]
    assert "[2026-W47 +0.65% not acceptable; 2026-W48 +0.39% not acceptable]" in body["text"]
    config = json.loads(json.dumps(run.dagster_run.run_config))["ops"]["deliver_alert"]["config"]
    assert {f["key"] for f in config["findings"]} == weak_twice
    alerted = {
        r.asset_observation.metadata["alert"].value["metric"]
        for r in instance.fetch_observations(dg.AssetKey("weekly_growth"), limit=50).records
    }
    assert alerted == weak_twice
