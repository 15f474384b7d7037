"""The main job end to end on simulated days: raw snapshot -> team usage, platform metrics, feature
adoption -> weekly growth. Expected numbers come from the simulator's own API answers (the team list a
person could page through), not from the pipeline's code."""

from datetime import date, timedelta

import dagster as dg
import pytest

from growth_pipeline.growth.math import classify
from growth_pipeline.ingest.sources import DemoSource
from growth_pipeline.resources import SnapshotSourceResource
from growth_pipeline.simulator.platform import SimulatedPlatform

from .conftest import pipeline_resources, query, run_days, run_weeks

FIRST, LAST = date(2025, 11, 3), date(2025, 11, 23)  # three ISO weeks, Monday to Sunday
SUNDAY = date(2025, 11, 16)
WEEKS = (date(2025, 11, 10), date(2025, 11, 17))  # the weeks whose previous week is in the range
PLATFORM = SimulatedPlatform()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    database = tmp_path_factory.mktemp("pipeline") / "growth.duckdb"
    resources = pipeline_resources(database)
    instance = dg.DagsterInstance.ephemeral()
    days = run_days(FIRST, LAST, resources, instance)
    weeks = run_weeks(*WEEKS, resources, instance)
    return database, days, weeks


def mqtt_adoption_by_hand(day: date) -> tuple[int, int]:
    """Eligible: team/enterprise tier, not suspended, active (an instance or a device); adopting: a client."""
    eligible = [
        t
        for t in PLATFORM.state_on(day).teams
        if t["type"]["name"] in ("team", "enterprise")
        and not t["suspended"]
        and (t["instanceCount"] > 0 or t["deviceCount"] > 0)
    ]
    return len(eligible), sum(1 for t in eligible if t["teamBrokerClientsCount"] > 0)


def test_every_day_is_stored_once(built):
    database, _, _ = built
    days = query(database, "SELECT snapshot_date, count(*) FROM raw_snapshots GROUP BY ALL ORDER BY 1")
    assert [d for d, _ in days] == [FIRST + timedelta(days=n) for n in range(21)]
    assert {n for _, n in days} == {1}


def test_team_rows_match_the_platform_every_day(built):
    database, _, _ = built
    per_day = dict(query(database, "SELECT snapshot_date, count(*) FROM team_usage GROUP BY ALL"))
    for n in range(21):
        day = FIRST + timedelta(days=n)
        assert per_day[day] == PLATFORM.state_on(day).stats["teamCount"]


def test_team_count_on_a_known_day(built):
    database, _, _ = built
    assert query(
        database, "SELECT value FROM platform_metrics WHERE snapshot_date = ? AND metric = 'teams' AND segment = 'all'",
        [SUNDAY],
    ) == [(334.0,)]  # fmt: skip
    tiers = dict(
        query(
            database,
            "SELECT segment, value FROM platform_metrics "
            "WHERE snapshot_date = ? AND metric = 'teams' AND segment LIKE 'tier:%'",
            [SUNDAY],
        )
    )
    assert tiers == {f"tier:{k}": v for k, v in PLATFORM.state_on(SUNDAY).stats["teamsByType"].items()}


def test_mqtt_broker_adoption_rate(built):
    database, _, _ = built
    eligible, adopting = mqtt_adoption_by_hand(SUNDAY)
    assert (eligible, adopting) == (110, 49)
    rows = query(
        database,
        "SELECT eligible_teams, adopting_teams, adoption_rate FROM feature_adoption "
        "WHERE snapshot_date = ? AND feature = 'mqtt_broker' AND tier = 'all'",
        [SUNDAY],
    )
    assert rows == [(110, 49, pytest.approx(49 / 110))]
    by_tier = query(
        database,
        "SELECT sum(eligible_teams), sum(adopting_teams) FROM feature_adoption "
        "WHERE snapshot_date = ? AND feature = 'mqtt_broker' AND tier != 'all'",
        [SUNDAY],
    )
    assert by_tier == [(110, 49)]


def test_weighted_customer_index(built):
    database, _, _ = built
    weights = {"starter": 1, "team": 4, "enterprise": 8}
    by_hand = sum(weights[t["type"]["name"]] for t in PLATFORM.state_on(SUNDAY).teams if not t["suspended"])
    assert query(
        database,
        "SELECT value FROM platform_metrics WHERE snapshot_date = ? AND metric = 'weighted_customer_index'",
        [SUNDAY],
    ) == [(float(by_hand),)]


def test_week_on_week_growth_of_teams(built):
    database, _, _ = built
    this_sunday, last_sunday = (PLATFORM.state_on(d).stats["teamCount"] for d in (LAST, SUNDAY))
    assert (this_sunday, last_sunday) == (337, 334)
    expected = 337 / 334 - 1  # +0.898%: not acceptable
    rows = query(
        database,
        "SELECT iso_week, value, previous_value, wow_growth, band, growth_note FROM weekly_growth "
        "WHERE week_start = ? AND metric = 'teams' AND segment = 'all'",
        [WEEKS[1]],
    )
    assert rows == [("2025-W47", 337.0, 334.0, pytest.approx(expected), "not acceptable", None)]
    assert classify(expected) == "not acceptable"


def test_weekly_metadata_carries_growth_and_band_for_sensors(built):
    _, _, weeks = built
    materialization = weeks.asset_materializations_for_node("weekly_growth")[-1]
    growth = materialization.metadata["growth"].data
    teams = next(g for g in growth if g["metric"] == "teams" and g["segment"] == "all")
    assert teams == {
        "metric": "teams",
        "segment": "all",
        "week": "2025-W47",
        "value": 337.0,
        "wow_growth": pytest.approx(337 / 334 - 1),
        "band": "not acceptable",
        "note": None,
        "missing_days": None,
        # Three weeks of data: no 4- or 13-week base. W46 was okay (334 / 330 = +1.2%), so the streak is 1.
        "cgr_4w": None,
        "cgr_13w": None,
        "multiple_12m": None,
        "streak": 1,
        "trend_note": "4-week rate: no value for 2025-W43; 13-week rate: no value for 2025-W34",
        # The 13 weeks up to this one, for alert rules over consecutive weeks; data begins in 2025-W45.
        "recent": {
            "weeks": [f"2025-W{n}" for n in range(35, 48)],
            "value": [None] * 10 + [330.0, 334.0, 337.0],
            "wow_growth": [None] * 11 + [pytest.approx(334 / 330 - 1), pytest.approx(337 / 334 - 1)],
            "band": [None] * 11 + ["okay", "not acceptable"],
        },
    }


def test_rematerializing_a_day_three_times_leaves_one_copy(warehouse):
    resources = pipeline_resources(warehouse)
    tables = ["raw_snapshots", "team_usage", "platform_metrics", "feature_adoption"]

    def counts():
        return [query(warehouse, f"SELECT count(*) FROM {t} WHERE snapshot_date = ?", [SUNDAY])[0][0] for t in tables]

    run_days(SUNDAY, SUNDAY, resources)
    first = counts()
    assert first[0] == 1 and first[1] == 334
    for _ in range(3):
        run_days(SUNDAY, SUNDAY, resources)
    assert counts() == first
    assert query(warehouse, "SELECT count(DISTINCT team_id) FROM team_usage") == [(334,)]


class CorruptingDemoSource(DemoSource):
    """The demo platform, but one team reports a negative instance count and another team twice."""

    def snapshot(self, day, counter_tiers):
        document = super().snapshot(day, counter_tiers)
        document["teams"][3]["instanceCount"] = -1
        document["teams"].append(dict(document["teams"][0]))
        return document


class CorruptingSource(SnapshotSourceResource):
    def source(self):
        return CorruptingDemoSource()


def test_a_bad_day_fails_clearly_and_keeps_the_previous_good_data(warehouse):
    run_days(SUNDAY, SUNDAY, pipeline_resources(warehouse))
    fingerprint = "SELECT taken_at, md5(CAST(document AS VARCHAR)) FROM raw_snapshots WHERE snapshot_date = ?"
    before = query(warehouse, fingerprint, [SUNDAY])
    usage_before = query(warehouse, "SELECT sum(instance_count), count(*) FROM team_usage")

    result = run_days(SUNDAY, SUNDAY, pipeline_resources(warehouse, CorruptingSource()), raise_on_error=False)

    assert not result.success
    message = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error.message
    team3, team0 = (PLATFORM.state_on(SUNDAY).teams[i]["id"] for i in (3, 0))
    assert f"teams[3] (id {team3}).instanceCount is -1; counts cannot be negative" in message
    assert f"teams[334] (id {team0}): duplicate team id, also teams[0]" in message
    assert "2025-11-16" in message and "nothing was stored" in message
    assert query(warehouse, fingerprint, [SUNDAY]) == before
    assert query(warehouse, "SELECT sum(instance_count), count(*) FROM team_usage") == usage_before


def test_a_week_missing_its_sunday_uses_the_latest_day_and_says_so(warehouse):
    resources = pipeline_resources(warehouse)
    run_days(date(2025, 11, 10), date(2025, 11, 22), resources)  # no Sunday 2025-11-23
    run_weeks(WEEKS[1], WEEKS[1], resources)
    saturday = PLATFORM.state_on(date(2025, 11, 22)).stats["teamCount"]
    rows = query(
        warehouse,
        "SELECT value, value_date, missing_days, previous_value, growth_note FROM weekly_growth "
        "WHERE metric = 'teams' AND segment = 'all'",
    )
    note = "no data on Sunday 2025-11-23; value from 2025-11-22"
    assert rows == [(float(saturday), date(2025, 11, 22), "2025-11-23", 334.0, note)]
