"""Data-quality checks, freshness and schedules.

Each rule fails on a small hand-made bad input and passes on a good one; expected ranges and scores are
computed by hand below. Then the Dagster side: one result per partition in a single-run backfill, a
bad stored document stopping everything downstream, the latest-partition check, and the schedules.
"""

import json
import warnings
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import duckdb
import pytest

from growth_pipeline.adoption.assets import feature_adoption
from growth_pipeline.definitions import DAILY_ASSETS, FRESHNESS_CHECKS, defs
from growth_pipeline.growth.assets import weekly_growth
from growth_pipeline.ingest.assets import platform_metrics, raw_snapshot, team_usage
from growth_pipeline.quality.anomaly import AnomalySettings, NotJudged, Score, score_day
from growth_pipeline.quality.checks import (
    adoption_within_bounds,
    metric_anomalies,
    snapshot_integrity,
    team_counts_match_platform,
    week_complete,
)
from growth_pipeline.quality.rules import (
    ERROR,
    WARN,
    accounting_verdict,
    adoption_verdict,
    anomaly_verdict,
    dashboard_verdict,
    latest_due_day,
    latest_due_week,
    snapshot_integrity_verdicts,
    team_count_verdict,
    week_completeness_verdicts,
)
from growth_pipeline.storage.warehouse import ensure_tables, store_snapshot

from .conftest import RANGE_END, RANGE_START, pipeline_resources, query, run_days

SIGMA = 1 / 0.6745  # one MAD in standard deviations: 1.482580

# ------------------------------------------------------------------------------------ anomaly score


def levels_from_changes(first: date, start_level: float, change_on) -> dict[date, float]:
    """Daily levels from ``first`` (holding ``start_level``) through 2026-03-09, each day moved by change_on(day)."""
    levels, level, day = {first: start_level}, start_level, first
    while day < date(2026, 3, 9):
        day += timedelta(days=1)
        level += change_on(day)
        levels[day] = level
    return levels


# The 8 Mondays before Monday 2026-03-09 (2026-01-12 ... 2026-03-02) grew by these; other days by 1.
MONDAY_CHANGES = dict(
    zip([date(2026, 1, 12) + timedelta(weeks=k) for k in range(8)], [10, 12, 11, 9, 13, 10, 11, 12], strict=True)
)
JUDGED = date(2026, 3, 9)  # a Monday


def monday_series(change_on_judged_day: float) -> dict[date, float]:
    def change(day):
        if day == JUDGED:
            return change_on_judged_day
        return MONDAY_CHANGES.get(day, 1)

    return levels_from_changes(date(2026, 1, 4), 0, change)


NO_FLOOR = AnomalySettings(min_relative_scale=0)  # isolate the median/MAD arithmetic from the 1% floor


def test_a_spike_scores_against_same_weekday_median_and_mad():
    # Monday changes: median 11; absolute deviations 1,1,0,2,2,1,0,1 -> MAD 1 -> spread 1.482580.
    levels = monday_series(30)
    previous = levels[JUDGED - timedelta(days=1)]
    score = score_day(levels, JUDGED, NO_FLOOR)
    assert score == Score(
        value=previous + 30,
        previous_value=previous,
        expected_low=pytest.approx(previous + 11 - 5 * SIGMA),  # previous + 3.587
        expected_high=pytest.approx(previous + 11 + 5 * SIGMA),  # previous + 18.413
        score=pytest.approx((30 - 11) / SIGMA),  # +12.815
        history=8,
        anomalous=True,
    )


def test_a_drop_is_an_anomaly_too():
    score = score_day(monday_series(-20), JUDGED, NO_FLOOR)
    assert score.score == pytest.approx((-20 - 11) / SIGMA)  # -20.909
    assert score.anomalous


def test_a_usual_monday_passes():
    score = score_day(monday_series(12), JUDGED, NO_FLOOR)
    assert score.score == pytest.approx(1 / SIGMA)  # 0.674
    assert not score.anomalous


def test_the_score_is_day_of_week_aware():
    # +2 is a usual day but an unusual Monday: (2 - 11) / 1.482580 = -6.070.
    assert score_day(monday_series(2), JUDGED, NO_FLOOR).score == pytest.approx(-9 / SIGMA)
    assert score_day(monday_series(2), JUDGED, NO_FLOOR).anomalous
    # The Sunday before, +1 like every past Sunday: a flat history, score 0.
    sunday = score_day(monday_series(2), JUDGED - timedelta(days=1), NO_FLOOR)
    assert (sunday.score, sunday.anomalous) == (0, False)


def test_a_flat_series_passes_while_flat_and_a_jump_scores_in_units():
    flat = levels_from_changes(date(2026, 1, 4), 40, lambda day: 0)
    # Every past change 0: MAD 0 and mean deviation 0, so the spread is the floor, 1 unit (1% of 40 is 0.4).
    assert score_day(flat, JUDGED) == Score(40, 40, 35, 45, 0, 8, False)
    jumped = {**flat, JUDGED: 52}
    assert score_day(jumped, JUDGED) == Score(52, 40, 35, 45, 12, 8, True)
    assert score_day({**flat, JUDGED: 44}, JUDGED).anomalous is False  # 4 units: within 5


def test_mad_zero_falls_back_to_the_mean_absolute_deviation():
    # Past Monday changes 0,0,0,0,0,8,8,8: median 0, MAD 0; mean absolute deviation 3 -> spread 3 x 1.2533.
    changes = dict(zip(sorted(MONDAY_CHANGES), [0, 0, 0, 0, 0, 8, 8, 8], strict=True))
    levels = levels_from_changes(date(2026, 1, 4), 0, lambda d: 20 if d == JUDGED else changes.get(d, 0))
    score = score_day(levels, JUDGED)
    assert score.score == pytest.approx(20 / (3 * 1.2533))  # 5.319
    assert score.anomalous


def test_the_spread_is_never_below_one_percent_of_the_level():
    steady = levels_from_changes(date(2026, 1, 4), 10_000, lambda day: 10)
    # 63 days of +10 after 10,000: 10,630 on the Sunday; every past change 10, so the spread is the floor, 106.3.
    small = score_day({**steady, JUDGED: 10_630 + 400}, JUDGED)
    assert small.previous_value == 10_630
    assert small.score == pytest.approx(390 / 106.3)  # 3.669
    assert (small.expected_low, small.expected_high) == pytest.approx((10_640 - 531.5, 10_640 + 531.5))
    assert not small.anomalous
    assert score_day({**steady, JUDGED: 10_630 + 700}, JUDGED).anomalous  # 690 / 106.3 = 6.49


def test_no_judgement_before_enough_history():
    levels = monday_series(30)
    short = {d: v for d, v in levels.items() if d >= date(2026, 2, 15)}  # Mondays 02-16, 02-23, 03-02
    assert score_day(short, JUDGED) == NotJudged("3 of the 4 Monday changes needed in the last 8 weeks")
    assert score_day({d: v for d, v in levels.items() if d != JUDGED - timedelta(days=1)}, JUDGED) == NotJudged(
        "no value on the day before (2026-03-08) to measure the change from"
    )


def test_anomaly_verdict_shows_value_expected_range_and_score():
    series = {("teams", "all"): monday_series(12), ("devices", "mode:developer"): monday_series(30)}
    verdict = anomaly_verdict(JUDGED, series, NO_FLOOR)
    previous = series[("teams", "all")][JUDGED - timedelta(days=1)]
    assert not verdict.passed
    assert verdict.metadata == {
        "metrics_judged": 2,
        "metrics_not_judged": 0,
        "anomalies": 1,
        "metric": "devices (mode:developer)",
        "value": previous + 30,
        "expected_range": f"{previous + 11 - 5 * SIGMA:,.1f} to {previous + 11 + 5 * SIGMA:,.1f}",
        "score": 12.82,
    }
    assert "1 of 2 metrics out of range: devices (mode:developer) is" in verdict.description
    assert anomaly_verdict(JUDGED, {("teams", "all"): monday_series(12)}, NO_FLOOR).passed


# ------------------------------------------------------------------------------------ the other rules

DAY = date(2026, 11, 16)


def good_document(day: date = DAY) -> dict:
    return {
        "snapshot_date": day.isoformat(),
        "stats": {"teamCount": 3, "userCount": 7, "teamsByType": {"starter": 2, "team": 1}},
        "teams": [
            {"id": "t1", "type": {"name": "starter"}, "createdAt": "2026-01-01T00:00:00Z", "instanceCount": 1},
            {"id": "t2", "type": {"name": "starter"}, "createdAt": "2026-02-01T00:00:00Z", "instanceCount": 0},
            {"id": "t3", "type": {"name": "team"}, "createdAt": "2026-03-01T00:00:00Z", "instanceCount": 2},
        ],
    }


def store_documents(database, documents: dict[date, dict]) -> None:
    with duckdb.connect(str(database)) as conn:
        ensure_tables(conn)
        for day, document in documents.items():
            store_snapshot(conn, day, datetime.now(UTC), "test", True, json.dumps(document))


def integrity(database, day=DAY):
    with duckdb.connect(str(database)) as conn:
        return snapshot_integrity_verdicts(conn, day, day + timedelta(days=1))[day]


def test_integrity_passes_a_sound_document(warehouse):
    store_documents(warehouse, {DAY: good_document()})
    verdict = integrity(warehouse)
    assert (verdict.passed, verdict.description) == (True, "the stored snapshot for 2026-11-16 is sound")


@pytest.mark.parametrize(
    ("spoil", "problem"),
    [
        (lambda d: d["stats"].update(userCount=-4), "stats.userCount is -4; counts cannot be negative"),
        (
            lambda d: d["teams"][1].update(instanceCount=-1),
            "teams[1] (id t2).instanceCount is -1; counts cannot be negative",
        ),
        (lambda d: d["teams"].append(dict(d["teams"][0])), "teams[3] (id t1): duplicate team id, also teams[0]"),
        (lambda d: d["teams"][2].pop("createdAt"), "teams[2] (id t3).createdAt is missing"),
        (lambda d: d["stats"].pop("teamCount"), "stats.teamCount is missing"),
        (lambda d: d.update(snapshot_date="2026-11-15"), "snapshot_date is 2026-11-15 but the partition is 2026-11-16"),
        (lambda d: d["stats"].update(teamCount="3"), "stats.teamCount is '3', not a whole number"),
    ],
)
def test_integrity_names_the_day_and_the_field(warehouse, spoil, problem):
    document = good_document()
    spoil(document)
    store_documents(warehouse, {DAY: document})
    verdict = integrity(warehouse)
    assert not verdict.passed
    assert verdict.description == f"the stored snapshot for 2026-11-16 has 1 problem: {problem}"
    assert verdict.metadata["problems"] == 1


def test_integrity_of_a_missing_or_doubled_day(warehouse):
    store_documents(warehouse, {DAY: good_document(), DAY + timedelta(days=2): good_document(DAY + timedelta(days=2))})
    with duckdb.connect(str(warehouse)) as conn:
        # what no run writes (each replaces its day): a second snapshot row for the same day
        conn.execute("INSERT INTO raw_snapshot_days VALUES (?, now(), 'test', true, '{}')", [DAY])
        verdicts = snapshot_integrity_verdicts(conn, DAY, DAY + timedelta(days=3))
    assert verdicts[DAY].description == (
        "the stored snapshot for 2026-11-16 has 1 problem: 2 documents are stored for 2026-11-16; there must be one"
    )
    assert verdicts[DAY + timedelta(days=1)].description == "no raw snapshot is stored for 2026-11-17"
    assert verdicts[DAY + timedelta(days=2)].passed


def test_team_counts_agree():
    verdict = team_count_verdict(DAY, {"starter": 2, "team": 1}, good_document()["stats"])
    assert verdict.passed and verdict.metadata == {"team_rows": 3, "platform_team_count": 3}


def test_a_team_or_two_off_is_a_warning_more_is_an_error():
    stats = {"teamCount": 103, "teamsByType": {"starter": 80, "team": 23}}
    one_off = team_count_verdict(DAY, {"starter": 79, "team": 23}, stats)
    assert (one_off.passed, one_off.severity) == (False, WARN)
    assert one_off.description == (
        "2026-11-16: team rows disagree with the platform's team count "
        "(starter: 79 rows, platform says 80, all: 102 rows, platform says 103)"
    )
    lost_page = team_count_verdict(DAY, {"starter": 30, "team": 23}, stats)
    assert (lost_page.passed, lost_page.severity, lost_page.metadata["largest_difference"]) == (False, ERROR, 50)
    assert "| starter | 30 | 80 | -50 |" in lost_page.details
    unknown_tier = team_count_verdict(DAY, {"starter": 80, "team": 23, "enterprise": 4}, {**stats, "teamCount": 107})
    assert "enterprise: 4 rows, platform says 0" in unknown_tier.description and unknown_tier.severity == ERROR


def test_without_teams_by_type_only_the_total_is_compared():
    assert team_count_verdict(DAY, {"starter": 3}, {"teamCount": 3}).passed
    verdict = team_count_verdict(DAY, {"starter": 3}, {"teamCount": 4})
    assert "all (teamsByType not reported): 3 rows, platform says 4" in verdict.description


GOOD_ADOPTION = [
    ("mqtt_broker", "team", 60, 30, 0.5),
    ("mqtt_broker", "enterprise", 50, 19, 0.38),
    ("mqtt_broker", "all", 110, 49, 49 / 110),
    ("tables", "enterprise", 50, None, None),  # unknown counter: NULL, not a violation
    ("tables", "all", 50, None, None),
]


def test_adoption_within_bounds_passes_good_rows():
    verdict = adoption_verdict(DAY, GOOD_ADOPTION)
    assert verdict.passed and verdict.description == "2026-11-16: 5 adoption rows within bounds"


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        (("mqtt_broker", "team", 60, 61, 61 / 60), "mqtt_broker / team: 61 adopting teams exceed 60 eligible teams"),
        (("mqtt_broker", "team", 60, 30, 1.5), "mqtt_broker / team: adoption_rate 1.5000 is outside [0, 1]"),
        (("mqtt_broker", "team", 60, 30, 0.25), "mqtt_broker / team: adoption_rate 0.2500 is not 30/60"),
        (("mqtt_broker", "team", 60, -1, 0.0), "mqtt_broker / team: adopting_teams is -1"),
    ],
)
def test_adoption_violations_are_named(row, problem):
    rows = [row if r[:2] == row[:2] else r for r in GOOD_ADOPTION]
    verdict = adoption_verdict(DAY, rows)
    assert not verdict.passed
    assert problem in verdict.description


def test_adoption_all_row_must_be_the_sum_of_its_tiers():
    rows = [r if r[:2] != ("mqtt_broker", "all") else ("mqtt_broker", "all", 111, 49, 49 / 111) for r in GOOD_ADOPTION]
    verdict = adoption_verdict(DAY, rows)
    assert verdict.description == "2026-11-16: mqtt_broker / all: 111 eligible teams, but its tiers add up to 110"


def test_week_completeness_names_the_missing_days(warehouse):
    monday = date(2025, 11, 17)
    with duckdb.connect(str(warehouse)) as conn:
        ensure_tables(conn)
        for n in (0, 1, 2, 4, 5):  # no Thursday 11-20, no Sunday 11-23
            conn.execute("INSERT INTO platform_metrics VALUES (?, 'teams', 'all', 1)", [monday + timedelta(days=n)])
        for n in range(7, 14):
            conn.execute("INSERT INTO platform_metrics VALUES (?, 'teams', 'all', 1)", [monday + timedelta(days=n)])
        verdicts = week_completeness_verdicts(conn, "platform_metrics", monday, monday + timedelta(weeks=2))
    assert verdicts[monday].description == (
        "2025-W47 is built on a week with 2 missing day(s) in platform_metrics: 2025-11-20 (Thu), 2025-11-23 (Sun)"
    )
    assert verdicts[monday].metadata == {
        "week": "2025-W47",
        "days_present": 5,
        "missing_days": "2025-11-20, 2025-11-23",
    }
    assert verdicts[monday + timedelta(weeks=1)].passed


def test_latest_due_day_and_week():
    assert latest_due_day(datetime(2026, 12, 3, 5, 59, tzinfo=UTC), timedelta(hours=6)) == date(2026, 12, 1)
    assert latest_due_day(datetime(2026, 12, 3, 6, 0, tzinfo=UTC), timedelta(hours=6)) == date(2026, 12, 2)
    monday = datetime(2026, 11, 30, tzinfo=UTC)
    assert latest_due_week(monday.replace(hour=5, minute=59), timedelta(hours=6)) == date(2026, 11, 16)
    assert latest_due_week(monday.replace(hour=6), timedelta(hours=6)) == date(2026, 11, 23)
    assert latest_due_week(datetime(2026, 12, 6, 23, 0, tzinfo=UTC), timedelta(hours=6)) == date(2026, 11, 23)


# ------------------------------------------------------------------------------------ in Dagster

DAILY_CHECKS = [snapshot_integrity, team_counts_match_platform, adoption_within_bounds, metric_anomalies]
FIRST, LAST = date(2025, 11, 3), date(2025, 11, 16)


def checked_days(first, last, resources, instance, checks=DAILY_CHECKS, selection=None):
    return dg.materialize(
        [*DAILY_ASSETS, *checks],
        resources=resources,
        instance=instance,
        selection=selection,
        tags={RANGE_START: first.isoformat(), RANGE_END: last.isoformat()},
        raise_on_error=False,
    )


def check_key(check: dg.AssetChecksDefinition) -> dg.AssetCheckKey:
    (key,) = check.check_keys
    return key


def partition_infos(instance, check) -> dict:
    infos = instance.event_log_storage.get_asset_check_partition_info([check_key(check)], after_storage_id=None)
    return {info.partition_key: info for info in infos}


@pytest.fixture(scope="module")
def checked_range(tmp_path_factory):
    """Two simulated weeks materialized with their checks in one single-run backfill."""
    database = tmp_path_factory.mktemp("checks") / "growth.duckdb"
    instance = dg.DagsterInstance.ephemeral()
    result = checked_days(FIRST, LAST, pipeline_resources(database), instance)
    return database, instance, result


def test_a_range_run_records_one_current_result_per_day(checked_range):
    _, instance, result = checked_range
    assert result.success
    days = [(FIRST + timedelta(days=n)).isoformat() for n in range(14)]
    for check in DAILY_CHECKS:
        infos = partition_infos(instance, check)
        assert sorted(k for k in infos if k is not None) == days, check_key(check)
        assert None not in infos  # no unpartitioned leftover
        for info in infos.values():
            assert info.latest_execution_status.value == "SUCCEEDED"
            assert info.is_current  # tied to that day's latest materialization: the UI shows it
    evaluations = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    integrity_evaluations = [e for e in evaluations if e.check_name == "snapshot_integrity"]
    assert [e.partition for e in integrity_evaluations] == days
    assert integrity_evaluations[3].description == "the stored snapshot for 2025-11-06 is sound"


def test_anomaly_check_judges_only_with_history_and_shows_its_figures(checked_range):
    _, _, result = checked_range
    anomalies = {
        e.event_specific_data.partition: e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.event_specific_data.check_name == "metric_anomalies"
    }
    # The range starts 2025-11-03: no day in it has 4 same-weekday changes of history yet.
    assert anomalies["2025-11-16"].description.startswith("2025-11-16: not judged yet (1 of the 4 Sunday changes")


def test_dagster_alone_leaves_a_range_unjudged():
    """Why the checks yield one evaluation per partition: a partitioned check returning AssetCheckResult
    in a single-run backfill records one unpartitioned result, and each day stays planned (then skipped)."""
    partitions = dg.DailyPartitionsDefinition(start_date="2026-01-01")

    @dg.asset(partitions_def=partitions, backfill_policy=dg.BackfillPolicy.single_run())
    def daily() -> dg.MaterializeResult:
        return dg.MaterializeResult()

    @dg.asset_check(asset=daily, partitions_def=partitions)
    def plain(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=True)

    instance = dg.DagsterInstance.ephemeral()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dg.materialize([daily, plain], instance=instance, tags={RANGE_START: "2026-01-02", RANGE_END: "2026-01-04"})
    infos = partition_infos(instance, plain)
    assert infos[None].latest_execution_status.value == "SUCCEEDED"
    assert {k: i.latest_execution_status.value for k, i in infos.items() if k} == {
        "2026-01-02": "PLANNED",
        "2026-01-03": "PLANNED",
        "2026-01-04": "PLANNED",
    }


def corrupt_stored_document(database, day: date) -> str:
    """What no run of raw_snapshot would store (it validates first), written straight into DuckDB.
    Returns the id of the team whose createdAt it removed."""
    with duckdb.connect(str(database)) as conn:
        (text,) = conn.execute(
            "SELECT CAST(document AS VARCHAR) FROM raw_snapshots WHERE snapshot_date = ?", [day]
        ).fetchone()
        document = json.loads(text)
        document["stats"]["userCount"] = -5
        document["teams"][3].pop("createdAt")
        (taken_at,) = conn.execute("SELECT taken_at FROM raw_snapshots WHERE snapshot_date = ?", [day]).fetchone()
        store_snapshot(conn, day, taken_at, "test", True, json.dumps(document))
    return document["teams"][3]["id"]


DOWNSTREAM = dg.AssetSelection.assets(team_usage, platform_metrics, feature_adoption)


def test_a_bad_stored_document_stops_downstream(warehouse):
    resources = pipeline_resources(warehouse)
    instance = dg.DagsterInstance.ephemeral()
    monday, tuesday = date(2025, 11, 10), date(2025, 11, 11)
    assert run_days(monday, tuesday, resources, instance).success
    team3 = corrupt_stored_document(warehouse, tuesday)
    usage_before = query(warehouse, "SELECT snapshot_date, count(*) FROM team_usage GROUP BY ALL ORDER BY 1")

    # Re-derive both days from what is stored, as after an import or a manual fix.
    selection = DOWNSTREAM | dg.AssetSelection.checks(snapshot_integrity)
    result = checked_days(monday, tuesday, resources, instance, [snapshot_integrity], selection)

    assert not result.success
    evaluations = {
        e.event_specific_data.partition: e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    assert evaluations["2025-11-10"].passed
    bad = evaluations["2025-11-11"]
    assert (bad.passed, bad.severity) == (False, dg.AssetCheckSeverity.ERROR)
    assert bad.description == (
        "the stored snapshot for 2025-11-11 has 2 problems: stats.userCount is -5; counts cannot be negative; "
        f"teams[3] (id {team3}).createdAt is missing"
    )
    assert [e.step_key for e in result.all_events if e.is_step_failure] == ["raw_snapshot_snapshot_integrity"]
    assert [e.step_key for e in result.all_events if e.event_type_value == "STEP_START"] == [
        "raw_snapshot_snapshot_integrity"
    ]  # team_usage, platform_metrics and feature_adoption never started
    assert query(warehouse, "SELECT snapshot_date, count(*) FROM team_usage GROUP BY ALL ORDER BY 1") == usage_before

    # The good day alone goes through; the bad day alone is stopped.
    assert checked_days(monday, monday, resources, instance, [snapshot_integrity], selection).success
    alone = checked_days(tuesday, tuesday, resources, instance, [snapshot_integrity], selection)
    assert not alone.success and alone.asset_materializations_for_node("team_usage") == []


def test_a_week_with_missing_days_warns(warehouse):
    resources = pipeline_resources(warehouse)
    instance = dg.DagsterInstance.ephemeral()
    run_days(date(2025, 11, 10), date(2025, 11, 22), resources, instance)  # no Sunday 2025-11-23
    result = dg.materialize(
        [weekly_growth, week_complete],
        resources=resources,
        instance=instance,
        tags={RANGE_START: "2025-11-10", RANGE_END: "2025-11-17"},
    )
    evaluations = {
        e.event_specific_data.partition: e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    assert evaluations["2025-11-10"].passed
    week = evaluations["2025-11-17"]
    assert (week.passed, week.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert week.description == "2025-W47 is built on a week with 1 missing day(s) in platform_metrics: 2025-11-23 (Sun)"
    assert result.success  # a warning does not fail the run


# ------------------------------------------------------------------------------------ freshness


def latest_check_result(check, resources, instance):
    result = dg.materialize(
        [*DAILY_ASSETS, check], resources=resources, instance=instance, selection=dg.AssetSelection.checks(check)
    )
    (evaluation,) = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    return evaluation


def test_backfilling_an_old_day_does_not_satisfy_the_latest_partition_check(warehouse):
    resources = pipeline_resources(warehouse)
    instance = dg.DagsterInstance.ephemeral()
    (check,) = [c for c in FRESHNESS_CHECKS if check_key(c).asset_key == raw_snapshot.key]
    due = latest_due_day(datetime.now(UTC), timedelta(hours=6))

    run_days(due - timedelta(days=30), due - timedelta(days=30), resources, instance)  # a backfill, just now
    stale = latest_check_result(check, resources, instance)
    assert (stale.passed, stale.severity) == (False, dg.AssetCheckSeverity.ERROR)
    assert stale.description == (
        f"{due}, the latest day due by now, has not been materialized; "
        f"the latest day materialized is {due - timedelta(days=30)}"
    )

    run_days(due, due, resources, instance)
    fresh = latest_check_result(check, resources, instance)
    assert fresh.passed and fresh.description == f"the latest day due, {due}, is there"


def test_every_asset_has_a_freshness_policy_and_checks():
    graph = defs.resolve_asset_graph()
    daily = dg.FreshnessPolicy.cron(deadline_cron="0 6 * * *", lower_bound_delta=timedelta(hours=6))
    weekly = dg.FreshnessPolicy.cron(deadline_cron="0 6 * * 1", lower_bound_delta=timedelta(hours=6))
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        # The dashboard is unpartitioned and written by the weekly job: it is due when the weekly rollups are.
        weekly_cadence = isinstance(node.partitions_def, dg.WeeklyPartitionsDefinition) or node.partitions_def is None
        assert node.freshness_policy == (weekly if weekly_cadence else daily), key
        names = {check.name for check in graph.get_check_keys_for_assets({key})}
        if node.partitions_def is None:
            assert names == {"dashboard_current_and_offline"}, (key, names)
        else:
            assert "latest_partition_present" in names and len(names) >= 2, (key, names)


# ------------------------------------------------------------------------------------ schedules


def tick(name: str, when: datetime) -> list[dg.RunRequest]:
    schedule = defs.resolve_schedule_def(name)
    context = dg.build_schedule_context(
        instance=dg.DagsterInstance.ephemeral(), scheduled_execution_time=when, repository_def=defs.get_repository_def()
    )
    with warnings.catch_warnings():  # Dagster's partitioned schedule calls its own deprecated helper
        warnings.simplefilter("ignore", DeprecationWarning)
        return list(schedule.evaluate_tick(context).run_requests)


def test_schedules_are_off_by_default_and_request_the_period_that_just_ended():
    for name in ("daily_snapshot_schedule", "weekly_growth_schedule", "freshness_checks_schedule"):
        assert defs.resolve_schedule_def(name).default_status == dg.DefaultScheduleStatus.STOPPED
    daily = defs.resolve_schedule_def("daily_snapshot_schedule")
    assert (daily.cron_schedule, daily.execution_timezone, daily.job_name) == ("15 0 * * *", "UTC", "daily_usage_job")
    (request,) = tick("daily_snapshot_schedule", datetime(2026, 11, 30, 0, 15, tzinfo=UTC))
    assert request.partition_key == "2026-11-29"
    weekly = defs.resolve_schedule_def("weekly_growth_schedule")
    assert (weekly.cron_schedule, weekly.job_name) == ("0 2 * * 1", "weekly_growth_job")
    (request,) = tick("weekly_growth_schedule", datetime(2026, 11, 30, 2, 0, tzinfo=UTC))
    assert request.partition_key == "2026-11-23"  # 2026-W48, Monday 23 to Sunday 29
    freshness = defs.resolve_schedule_def("freshness_checks_schedule")
    assert (freshness.cron_schedule, freshness.job_name) == ("5 6 * * *", "freshness_checks_job")


def test_partitioned_jobs_run_the_data_checks_and_not_the_latest_partition_checks():
    def steps(job):
        return {node.name for node in defs.resolve_job_def(job).nodes_in_topological_order}

    assert steps("daily_usage_job") == {
        "raw_snapshot",
        "team_usage",
        "platform_metrics",
        "feature_adoption",
        "raw_snapshot_snapshot_integrity",
        "team_usage_team_counts_match_platform",
        "feature_adoption_adoption_within_bounds",
        "platform_metrics_metric_anomalies",
    }
    assert steps("weekly_growth_job") == {
        "weekly_growth",
        "weekly_adoption",
        "team_growth_accounting",
        "product_metrics_dashboard",
        "weekly_growth_week_complete",
        "weekly_adoption_adoption_week_complete",
        "team_growth_accounting_accounting_balances",
        "product_metrics_dashboard_dashboard_current_and_offline",
    }
    assert {step for step in steps("freshness_checks_job") if step.endswith("_latest_partition_present")} == {
        f"{asset}_latest_partition_present" for asset in PARTITIONED_ASSETS
    }


PARTITIONED_ASSETS = (
    "raw_snapshot",
    "team_usage",
    "platform_metrics",
    "feature_adoption",
    "weekly_growth",
    "weekly_adoption",
    "team_growth_accounting",
)


def test_the_freshness_checks_job_runs_on_its_own():
    """What freshness_checks_schedule launches: the latest-partition check of every asset, nothing else."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = defs.resolve_job_def("freshness_checks_job").execute_in_process(
            instance=dg.DagsterInstance.ephemeral()
        )
    evaluations = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert result.success  # a failed check is reported, it does not fail the run
    assert sorted(e.asset_key.to_user_string() for e in evaluations) == sorted(PARTITIONED_ASSETS)
    assert {(e.check_name, e.passed) for e in evaluations} == {("latest_partition_present", False)}  # nothing built
    assert result.asset_materializations_for_node("raw_snapshot") == []


def test_the_anomaly_check_warns_with_value_range_and_score(warehouse):
    """Hand-made platform_metrics: the Monday spike above, through the Dagster check. The level on Sunday
    2026-03-08 is 143 (55 days of +1 and the 8 listed Mondays, 88); 1% of it is below the MAD spread."""
    with duckdb.connect(str(warehouse)) as conn:
        ensure_tables(conn)
        for day, value in monday_series(30).items():
            conn.execute("INSERT INTO platform_metrics VALUES (?, 'teams', 'all', ?)", [day, value])
    result = dg.materialize(
        [platform_metrics, metric_anomalies],
        resources=pipeline_resources(warehouse),
        instance=dg.DagsterInstance.ephemeral(),
        selection=dg.AssetSelection.checks(metric_anomalies),
        tags={RANGE_START: JUDGED.isoformat(), RANGE_END: JUDGED.isoformat()},
    )
    (evaluation,) = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert (evaluation.partition, evaluation.passed, evaluation.severity) == (
        "2026-03-09",
        False,
        dg.AssetCheckSeverity.WARN,
    )
    metadata = {k: v.value for k, v in evaluation.metadata.items() if k != "details"}
    assert metadata == {
        "metrics_judged": 1,
        "metrics_not_judged": 0,
        "anomalies": 1,
        "metric": "teams",
        "value": 173.0,
        "expected_range": "146.6 to 161.4",  # 143 + 11 -/+ 5 x 1.482580
        "score": 12.82,  # (30 - 11) / 1.482580
    }
    assert evaluation.description == (
        "2026-03-09: 1 of 1 metrics out of range: teams is 173, expected 146.6 to 161.4 (score +12.8)"
    )
    assert result.success  # a warning does not fail the run


# ------------------------------------------------------------------------- growth accounting, dashboard

W48 = date(2026, 11, 23)
BALANCED = [  # tier, active, new, retained, resurrected, churned, quick ratio
    ("starter", 5, 1, 3, 1, 2, 1.0),
    ("team", 3, 0, 3, 0, 0, None),
    ("all", 8, 1, 6, 1, 2, 1.0),
]


def test_balanced_growth_accounting_passes():
    verdict = accounting_verdict(W48, BALANCED)
    assert verdict.passed and verdict.description == "2026-W48: the growth accounting balances in every tier"


@pytest.mark.parametrize(
    ("rows", "problem"),
    [
        (
            [("starter", 6, 1, 3, 1, 2, 1.0), *BALANCED[1:]],
            "starter: new 1 + retained 3 + resurrected 1 != active 6",
        ),
        ([("starter", 5, 1, 3, 1, 2, 0.5), *BALANCED[1:]], "starter: quick ratio 0.5 is not (new + resurrected) / "),
        ([BALANCED[0], ("team", 3, 0, 3, 0, 0, 0.0), BALANCED[2]], "team: quick ratio 0.0 is not"),
        (
            [*BALANCED[:2], ("all", 9, 2, 6, 1, 2, 1.5)],
            "the tiers add up to [8, 1, 6, 1, 2] (active, new, retained, resurrected, churned), "
            "not 'all' [9, 2, 6, 1, 2]",
        ),
        ([("starter", -1, -1, 0, 0, 2, -0.5), *BALANCED[1:]], "starter: a negative count"),
    ],
)
def test_unbalanced_growth_accounting_is_named(rows, problem):
    verdict = accounting_verdict(W48, rows)
    assert not verdict.passed
    assert problem in verdict.description


def test_a_week_of_unknown_states_passes_and_a_week_without_rows_fails():
    unknown = [("all", None, None, None, None, None, None)]
    assert accounting_verdict(W48, unknown).passed
    assert accounting_verdict(W48, []).description == "2026-W48: team_growth_accounting has no rows for this week"


PAGE = '<html><body><h1>2026-W48</h1><img src="data:image/png;base64,AAAA"><a href="#growth">growth</a></body></html>'


def test_a_current_offline_dashboard_passes():
    verdict = dashboard_verdict(PAGE, "/tmp/d.html", "2026-W48", "2026-W48")
    assert verdict.passed and verdict.description == "the dashboard shows 2026-W48, the latest week, and opens offline"


@pytest.mark.parametrize(
    ("page", "shown", "latest", "problem"),
    [
        (None, "2026-W48", "2026-W48", "the dashboard file /tmp/d.html is missing"),
        (PAGE, "2026-W48", "2026-W49", "it shows 2026-W48 but the latest week of weekly_growth is 2026-W49"),
        (
            PAGE.replace("data:image", "https://cdn.example.com/x"),
            "2026-W48",
            "2026-W48",
            "would fetch from the network",
        ),
        (
            PAGE.replace("<body>", '<body><script src="//cdn.example.com/a.js"></script>'),
            "2026-W48",
            "2026-W48",
            "network",
        ),
        ("<style>b{background:url( 'https://x.test/i.png')}</style>2026-W48", "2026-W48", "2026-W48", "network"),
        (PAGE.replace("2026-W48", "2026-W47"), "2026-W48", "2026-W48", "the page does not name its week 2026-W48"),
    ],
)
def test_a_stale_missing_or_online_dashboard_fails(page, shown, latest, problem):
    verdict = dashboard_verdict(page, "/tmp/d.html", shown, latest)
    assert not verdict.passed
    assert problem in verdict.description
