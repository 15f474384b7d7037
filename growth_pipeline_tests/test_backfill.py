"""Backfills: a range of days in one run gives exactly what one run per day gives, and a bad day in the
middle of a range fails the run saying which day and why, with every other day stored and the bad day's
previous data kept; running the range again after the fix completes it. Expected values come from the
simulated platform's own state, not the pipeline."""

from datetime import date, timedelta

import dagster as dg
import duckdb

from growth_pipeline.definitions import DAILY_ASSETS, WEEKLY_ASSETS
from growth_pipeline.ingest.sources import DemoSource
from growth_pipeline.resources import SnapshotSourceResource
from growth_pipeline.runner import one_planned_event_per_asset
from growth_pipeline.simulator.platform import SimulatedPlatform

from .conftest import pipeline_resources, query, run_days, run_weeks

# Seventeen days across FlowFuse Tables' launch (collected from 2025-07-31): the range holds days with and
# without a feature, two complete ISO weeks (the second with a previous week, so growth accounting has
# rows) and an incomplete one.
FIRST, LAST = date(2025, 7, 28), date(2025, 8, 13)
MONDAYS = (date(2025, 7, 28), date(2025, 8, 11))
PLATFORM = SimulatedPlatform()


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def tables(database) -> list[str]:
    return [row[0] for row in query(database, "SELECT table_name FROM information_schema.tables ORDER BY 1")]


def differing_rows(left, right, table: str) -> int:
    """Rows in one copy of ``table`` and not the other, counting duplicates (a multiset difference)."""
    with duckdb.connect(str(left), read_only=True) as conn:
        conn.execute(f"ATTACH '{right}' AS other (READ_ONLY)")
        return conn.execute(
            f"SELECT count(*) FROM ((FROM {table} EXCEPT ALL FROM other.{table}) "
            f"UNION ALL (FROM other.{table} EXCEPT ALL FROM {table}))"
        ).fetchone()[0]


def test_a_range_in_one_run_equals_one_run_per_day_table_by_table(tmp_path):
    ranged, daily = tmp_path / "ranged.duckdb", tmp_path / "daily.duckdb"
    run_days(FIRST, LAST, pipeline_resources(ranged))
    run_weeks(*MONDAYS, pipeline_resources(ranged), assets=WEEKLY_ASSETS)
    for day in days(FIRST, LAST):
        run_days(day, day, pipeline_resources(daily))
    for monday in days(*MONDAYS)[::7]:
        run_weeks(monday, monday, pipeline_resources(daily), assets=WEEKLY_ASSETS)

    assert tables(ranged) == tables(daily)
    assert {"raw_snapshots", "team_usage", "platform_metrics", "feature_adoption", "weekly_growth"} <= set(
        tables(ranged)
    )
    for table in tables(ranged):
        count = query(ranged, f"SELECT count(*) FROM {table}")[0][0]
        assert count > 0, table
        assert count == query(daily, f"SELECT count(*) FROM {table}")[0][0], table
        assert differing_rows(ranged, daily, table) == 0, table

    # and the rows are the platform's: one team row per team per day, Tables tracked from its launch on
    per_day = dict(query(ranged, "SELECT snapshot_date, count(*) FROM team_usage GROUP BY ALL"))
    assert per_day == {d: PLATFORM.state_on(d).stats["teamCount"] for d in days(FIRST, LAST)}
    tables_days = query(
        ranged, "SELECT DISTINCT snapshot_date FROM feature_adoption WHERE feature = 'tables' ORDER BY 1"
    )
    assert [d for (d,) in tables_days] == days(date(2025, 7, 31), LAST)


class UnsoundOnOneDay(DemoSource):
    """The demo platform, except that on ``bad_day`` one team reports a negative instance count."""

    def __init__(self, bad_day: date | None) -> None:
        super().__init__()
        self.bad_day = bad_day

    def snapshot(self, day, counter_tiers):
        document = super().snapshot(day, counter_tiers)
        if day == self.bad_day:
            document["teams"][5]["instanceCount"] = -3
        return document


class UnsoundOnOneDayResource(SnapshotSourceResource):
    bad_day: str = ""

    def source(self):
        return UnsoundOnOneDay(date.fromisoformat(self.bad_day) if self.bad_day else None)


RANGE_FIRST, BAD_DAY, RANGE_LAST = date(2025, 11, 3), date(2025, 11, 7), date(2025, 11, 11)
DAILY_TABLES = ("raw_snapshots", "team_usage", "platform_metrics", "feature_adoption")


def rows_per_day(database, table: str) -> dict[date, int]:
    return dict(query(database, f"SELECT snapshot_date, count(*) FROM {table} GROUP BY ALL"))


def all_rows(database, table: str) -> list[tuple]:
    return query(database, f"FROM {table} ORDER BY ALL")


def test_a_bad_day_in_the_middle_keeps_the_other_days_and_a_rerun_completes_the_range(warehouse):
    # Earlier good data around the bad day: the bad day's previous rows must survive the failed run.
    before_first, before_last = BAD_DAY - timedelta(days=1), BAD_DAY + timedelta(days=1)
    run_days(before_first, before_last, pipeline_resources(warehouse))
    previous = {t: all_rows(warehouse, t) for t in DAILY_TABLES[1:]}
    fingerprint = "SELECT snapshot_date, md5(CAST(document AS VARCHAR)) FROM raw_snapshots ORDER BY 1"
    previous_documents = query(warehouse, fingerprint)

    instance = dg.DagsterInstance.ephemeral()
    bad = UnsoundOnOneDayResource(bad_day=BAD_DAY.isoformat())
    failed = run_days(RANGE_FIRST, RANGE_LAST, pipeline_resources(warehouse, bad), instance, raise_on_error=False)

    assert not failed.success
    message = next(e for e in failed.all_events if e.is_step_failure).step_failure_data.error.message
    team = PLATFORM.state_on(BAD_DAY).teams[5]["id"]
    assert f"2025-11-07 failed: the snapshot for 2025-11-07 from {bad.describe()} is unsound" in message
    assert f"teams[5] (id {team}).instanceCount is -3; counts cannot be negative" in message
    assert "raw_snapshot: 1 day(s) failed; the other 8 day(s) of this run were stored" in message
    assert "A day that could not be fetched keeps what was stored for it before" in message
    # the downstream assets did not run on a failed upstream
    assert [e.step_key for e in failed.all_events if e.is_step_success] == []

    # Raw: every day of the range but the bad one is stored; the bad day keeps the document it held.
    every_day = days(RANGE_FIRST, RANGE_LAST)
    assert rows_per_day(warehouse, "raw_snapshots") == {d: 1 for d in every_day}
    documents = dict(query(warehouse, fingerprint))
    assert documents[BAD_DAY] == dict(previous_documents)[BAD_DAY]
    # Derived tables are untouched: exactly their previous rows (the new raw days are derived on the rerun).
    for table in DAILY_TABLES[1:]:
        assert all_rows(warehouse, table) == previous[table], table
    # Dagster records what was stored: raw_snapshot for the eight good days, nothing downstream.
    raw_key, usage_key = (a.key for a in DAILY_ASSETS[:2])
    stored_days = [d for d in every_day if d != BAD_DAY]
    assert instance.get_materialized_partitions(raw_key) == {d.isoformat() for d in stored_days}
    assert instance.get_materialized_partitions(usage_key) == set()

    fixed = run_days(RANGE_FIRST, RANGE_LAST, pipeline_resources(warehouse, UnsoundOnOneDayResource()), instance)

    assert fixed.success
    assert rows_per_day(warehouse, "raw_snapshots") == {d: 1 for d in every_day}
    assert rows_per_day(warehouse, "team_usage") == {d: PLATFORM.state_on(d).stats["teamCount"] for d in every_day}
    for table, key in (("platform_metrics", "metric, segment"), ("feature_adoption", "feature, tier")):
        duplicates = query(warehouse, f"SELECT count(*) - count(DISTINCT (snapshot_date, {key})) FROM {table}")
        assert duplicates == [(0,)], table
        assert set(rows_per_day(warehouse, table)) == set(every_day), table
    for asset in DAILY_ASSETS:
        assert instance.get_materialized_partitions(asset.key) == {d.isoformat() for d in every_day}


def test_a_bad_first_day_stores_the_rest_of_the_range_and_says_which_day_failed(warehouse):
    bad = UnsoundOnOneDayResource(bad_day=RANGE_FIRST.isoformat())
    failed = run_days(RANGE_FIRST, RANGE_LAST, pipeline_resources(warehouse, bad), raise_on_error=False)
    message = next(e for e in failed.all_events if e.is_step_failure).step_failure_data.error.message
    assert "raw_snapshot: 1 day(s) failed; the other 8 day(s) of this run were stored" in message
    assert "2025-11-03 failed: the snapshot for 2025-11-03" in message
    assert rows_per_day(warehouse, "raw_snapshots") == {d: 1 for d in days(RANGE_FIRST + timedelta(days=1), RANGE_LAST)}


def planned_partitions(instance: dg.DagsterInstance, run_id: str) -> list[str | None]:
    """The partition of each "materialization planned" event of a run (None: one event for the range)."""
    events = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED)
    return [event.dagster_event.event_specific_data.partition for event in events]


def test_the_demo_build_plans_each_asset_once_per_run_and_other_runs_per_day_again(warehouse):
    """The demo's build of the simulator asks Dagster for one planned event per asset for its range run;
    outside it (make backfill, the UI), a three-day run plans every asset once per day."""
    first, last = date(2025, 7, 28), date(2025, 7, 30)
    instance = dg.DagsterInstance.ephemeral()
    with one_planned_event_per_asset():
        demo_build = run_days(first, last, pipeline_resources(warehouse), instance)
    backfill = run_days(first, last, pipeline_resources(warehouse), instance)

    assert planned_partitions(instance, demo_build.run_id) == [None] * len(DAILY_ASSETS)
    assert sorted(planned_partitions(instance, backfill.run_id)) == sorted(
        day.isoformat() for day in days(first, last) for _ in DAILY_ASSETS
    )
    # Either way every day is recorded as materialized.
    for asset in DAILY_ASSETS:
        assert instance.get_materialized_partitions(asset.key) == {d.isoformat() for d in days(first, last)}
