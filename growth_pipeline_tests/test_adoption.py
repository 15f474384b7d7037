"""Feature adoption through the real assets.

1. Hand-written team rows, written straight into a temp DuckDB, with every number computed by hand.
2. The simulated platform around the MQTT broker's launch: zero adopters on launch day, then rising, each
   day equal to a count by the definitions over the simulator's own team list.
3. Adding a feature to the catalog between two materializations.
4. The handbook metrics (device and pipeline adoption, WCI) as tracked metrics with weekly growth.
"""

import statistics
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pytest

from growth_pipeline.adoption.assets import feature_adoption, weekly_adoption
from growth_pipeline.catalog.model import DEFAULT_CATALOG_PATH
from growth_pipeline.growth.assets import weekly_growth
from growth_pipeline.growth.math import classify
from growth_pipeline.simulator.platform import SimulatedPlatform
from growth_pipeline.storage.warehouse import ensure_tables

from .conftest import RANGE_END, RANGE_START, pipeline_resources, query, run_days

PLATFORM = SimulatedPlatform()


def materialize(assets, first: date, last: date, resources: dict, instance=None, **kwargs):
    """One run over [first, last] (days, or Mondays for weekly assets), as a single-run backfill does."""
    return dg.materialize(
        assets,
        resources=resources,
        instance=instance,
        tags={RANGE_START: first.isoformat(), RANGE_END: last.isoformat()},
        **kwargs,
    )


def adoption_rows(database: Path, feature: str, where: str = "TRUE", params=()) -> list[tuple]:
    return query(
        database,
        "SELECT snapshot_date, tier, eligible_teams, adopting_teams, new_adopters, lost_adopters, ever_adopted, "
        "median_days_to_first_use, p75_days_to_first_use FROM feature_adoption "
        f"WHERE feature = ? AND {where} ORDER BY snapshot_date, tier",
        [feature, *params],
    )


# ---------------------------------------------------------------------------------------------------
# 1. Hand-written team rows

HAND_CATALOG = """\
tiers: [starter, team, enterprise]
active_team:
  any_of: ["instanceCount > 0", "deviceCount > 0"]
weighted_customer_index:
  weights: {starter: 1, team: 4, enterprise: 8}
metrics:
  - {key: teams, name: Teams}
features:
  - key: broker
    name: MQTT broker
    description: Teams with a client of the MQTT team broker.
    signal: teamBrokerClientsCount > 0
    tiers: [team, enterprise]
    launched: 2026-01-01
    collected_from: 2026-01-06
  - key: tables
    name: Tables
    description: Teams with a Tables database; collection starts after these days.
    signal: tablesCount > 0
    tiers: [enterprise]
    launched: 2026-02-01
    collected_from: 2026-02-01
"""

FIRST_DAY = date(2026, 1, 5)  # a Monday; the broker is tracked from the next day, Tuesday 2026-01-06
DAYS = [FIRST_DAY + timedelta(days=i) for i in range(14)]  # ISO weeks 2026-W02 and 2026-W03


@dataclass
class HandTeam:
    tier: str
    created_at: str
    clients: str  # broker clients per day (one character a day); '.' = not on the platform that day
    active: str = "1" * 14  # hosted instances per day (0 = no instance and no device: not active)
    suspended: str = "0" * 14


HAND_TEAMS = {
    "readopter": HandTeam("team", "2025-12-01T09:00:00Z", "00022200111111"),  # adopts, drops, re-adopts
    "suspended": HandTeam("enterprise", "2025-06-01T09:00:00Z", "33333333333333", suspended="00000000011000"),
    "starter": HandTeam("starter", "2025-01-01T09:00:00Z", "55555555555555"),  # its tier is not offered
    "newcomer": HandTeam("team", "2026-01-09T14:30:00Z", "....0011111111"),  # created after the launch
    "idle": HandTeam("enterprise", "2025-03-01T09:00:00Z", "00000000000000"),  # eligible, never adopts
    "leaver": HandTeam("team", "2025-10-01T09:00:00Z", "11111........."),  # leaves the platform, adopting
    "late": HandTeam("enterprise", "2025-11-01T09:00:00Z", "00000000002222"),  # adopts on day 10
    "inactive": HandTeam("team", "2025-05-01T09:00:00Z", "44444444444444", active="00000001111111"),
}


def write_team_usage(database: Path, teams: dict[str, HandTeam], unknown: set[tuple[str, int]] = frozenset()):
    """team_usage rows as the ingest would store them; ``unknown`` (team, day index) gets a NULL count."""
    rows = []
    for team_id, team in teams.items():
        for i, day in enumerate(DAYS):
            if team.clients[i] == ".":
                continue
            clients = None if (team_id, i) in unknown else int(team.clients[i])
            created = datetime.fromisoformat(team.created_at)
            rows.append((day, team_id, team_id, team.tier, created, team.suspended[i] == "1", 1, int(team.active[i]), 0,
                         0, clients, None, None))  # fmt: skip
    with duckdb.connect(str(database)) as conn:
        ensure_tables(conn)
        conn.executemany("INSERT INTO team_usage VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


@pytest.fixture
def hand_catalog(tmp_path) -> str:
    path = tmp_path / "catalog.yaml"
    path.write_text(HAND_CATALOG)
    return str(path)


def d(day: int) -> date:
    return DAYS[day]


# Worked out by hand from HAND_TEAMS (days counted from Monday 2026-01-05 = day 0):
#   team tier eligible: readopter; leaver days 0-4; newcomer from day 4; inactive from day 7 (first instance).
#   enterprise eligible: idle, late; suspended except days 9-10. starter is never eligible.
#   first use: leaver and suspended adopt on the first tracked day (day 1) and their clock started on the
#   launch (2026-01-01), so their first use is unknown (left out of the days); readopter day 3 (7 days after
#   the launch), newcomer day 6 (2 days after its creation on 2026-01-09), inactive day 7 (11), late day 10 (14).
#   Percentiles interpolate: {2, 7}: 4.5 / 5.75; {2, 7, 11}: 7 / 9; {2, 7, 11, 14}: 9 / 11.75.
N = None
HAND_EXPECTED = [
    # day, tier, eligible, adopting, new, lost, ever, median days, p75 days
    (d(1), "all", 5, 2, N, N, 2, N, N), (d(1), "enterprise", 3, 1, N, N, 1, N, N), (d(1), "team", 2, 1, N, N, 1, N, N),
    (d(2), "all", 5, 2, 0, 0, 2, N, N), (d(2), "enterprise", 3, 1, 0, 0, 1, N, N), (d(2), "team", 2, 1, 0, 0, 1, N, N),
    (d(3), "all", 5, 3, 1, 0, 3, 7, 7), (d(3), "enterprise", 3, 1, 0, 0, 1, N, N), (d(3), "team", 2, 2, 1, 0, 2, 7, 7),
    (d(4), "all", 6, 3, 0, 0, 3, 7, 7), (d(4), "enterprise", 3, 1, 0, 0, 1, N, N), (d(4), "team", 3, 2, 0, 0, 2, 7, 7),
    (d(5), "all", 5, 2, 0, 1, 3, 7, 7), (d(5), "enterprise", 3, 1, 0, 0, 1, N, N), (d(5), "team", 2, 1, 0, 1, 2, 7, 7),
    (d(6), "all", 5, 2, 1, 1, 4, 4.5, 5.75), (d(6), "enterprise", 3, 1, 0, 0, 1, N, N),
    (d(6), "team", 2, 1, 1, 1, 3, 4.5, 5.75),
    (d(7), "all", 6, 3, 1, 0, 5, 7, 9), (d(7), "enterprise", 3, 1, 0, 0, 1, N, N), (d(7), "team", 3, 2, 1, 0, 4, 7, 9),
    (d(8), "all", 6, 4, 1, 0, 5, 7, 9), (d(8), "enterprise", 3, 1, 0, 0, 1, N, N), (d(8), "team", 3, 3, 1, 0, 4, 7, 9),
    (d(9), "all", 5, 3, 0, 1, 5, 7, 9), (d(9), "enterprise", 2, 0, 0, 1, 1, N, N), (d(9), "team", 3, 3, 0, 0, 4, 7, 9),
    (d(10), "all", 5, 4, 1, 0, 6, 9, 11.75), (d(10), "enterprise", 2, 1, 1, 0, 2, 14, 14),
    (d(10), "team", 3, 3, 0, 0, 4, 7, 9),
    (d(11), "all", 6, 5, 1, 0, 6, 9, 11.75), (d(11), "enterprise", 3, 2, 1, 0, 2, 14, 14),
    (d(11), "team", 3, 3, 0, 0, 4, 7, 9),
    (d(12), "all", 6, 5, 0, 0, 6, 9, 11.75), (d(12), "enterprise", 3, 2, 0, 0, 2, 14, 14),
    (d(12), "team", 3, 3, 0, 0, 4, 7, 9),
    (d(13), "all", 6, 5, 0, 0, 6, 9, 11.75), (d(13), "enterprise", 3, 2, 0, 0, 2, 14, 14),
    (d(13), "team", 3, 3, 0, 0, 4, 7, 9),
]  # fmt: skip


@pytest.fixture(scope="module")
def hand_built(tmp_path_factory):
    """The two weeks materialized in one run of feature_adoption and one of weekly_adoption."""
    folder = tmp_path_factory.mktemp("hand")
    database, catalog = folder / "growth.duckdb", folder / "catalog.yaml"
    catalog.write_text(HAND_CATALOG)
    write_team_usage(database, HAND_TEAMS)
    resources = pipeline_resources(database, catalog=str(catalog))
    daily = materialize([feature_adoption], DAYS[0], DAYS[-1], resources)
    weekly = materialize([weekly_adoption], DAYS[0], DAYS[7], resources)
    return database, daily, weekly


def test_hand_computed_adoption(hand_built):
    database, _, _ = hand_built
    assert adoption_rows(database, "broker") == HAND_EXPECTED
    rates = query(database, "SELECT adoption_rate, adopting_teams, eligible_teams FROM feature_adoption")
    assert all(rate == pytest.approx(adopting / eligible) for rate, adopting, eligible in rates)


def test_days_before_collection_are_not_tracked_not_zero(hand_built):
    database, daily, _ = hand_built
    # Monday 2026-01-05 has team rows, but the broker is collected from Tuesday: no row, so no 0 either.
    assert query(database, "SELECT count(*) FROM team_usage WHERE snapshot_date = ?", [d(0)]) == [(7,)]
    assert adoption_rows(database, "broker", "snapshot_date = ?", [d(0)]) == []
    # Tables is collected from 2026-02-01: no rows at all, and the UI says "not tracked".
    assert adoption_rows(database, "tables") == []
    # A tier the feature is not offered to has no rows (the starter team's clients never count).
    assert query(database, "SELECT DISTINCT tier FROM feature_adoption ORDER BY 1") == [
        ("all",), ("enterprise",), ("team",)
    ]  # fmt: skip
    metadata = daily.asset_materializations_for_node("feature_adoption")[-1].metadata
    assert metadata["features_not_tracked_on_last_day"].value == "tables"
    assert metadata["latest_day"].value == (
        "Adoption on 2026-01-18\n\n"
        "| feature | tier | eligible | adopting | rate | new | lost | ever | days to first use, median | 75th pct |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n"
        "| MQTT broker | team | 3 | 3 | 100.0% | 0 | 0 | 4 | 7 | 9 |\n"
        "| MQTT broker | enterprise | 3 | 2 | 66.7% | 0 | 0 | 2 | 14 | 14 |\n"
        "| MQTT broker | all | 6 | 5 | 83.3% | 0 | 0 | 6 | 9 | 11.75 |\n"
        "| Tables | – | not tracked (collected from 2026-02-01) |  |  |  |  |  |  |  |"
    )
    not_tracked = " | ".join(["not tracked"] * 6)
    assert metadata["rate_last_8_weeks"].value == (
        "Adoption rate at the end of each ISO week (2025-W48 to 2026-W03)\n\n"
        "| feature | tier | 2025-W48 | 2025-W49 | 2025-W50 | 2025-W51 | 2025-W52 | 2026-W01 | 2026-W02 | 2026-W03 |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n"
        f"| MQTT broker | team | {not_tracked} | 50.0% | 100.0% |\n"
        f"| MQTT broker | enterprise | {not_tracked} | 33.3% | 66.7% |\n"
        f"| MQTT broker | all | {not_tracked} | 40.0% | 83.3% |\n"
        f"| Tables | enterprise | {not_tracked} | not tracked | not tracked |\n"
        f"| Tables | all | {not_tracked} | not tracked | not tracked |"
    )


def test_weekly_adoption_and_its_metadata_for_alerts(hand_built):
    database, _, weekly = hand_built
    rows = query(
        database,
        "SELECT iso_week, tier, value_date, missing_days, eligible_teams, adopting_teams, adoption_rate, "
        "previous_adopting_teams, wow_growth, growth_note, band FROM weekly_adoption ORDER BY week_start, tier",
    )
    no_previous = "no value in the previous week"
    assert rows == [
        # End of 2026-W02 is Sunday day 6; Monday is not tracked, so it is listed as a missing day.
        ("2026-W02", "all", d(6), "2026-01-05", 5, 2, 0.4, None, None, no_previous, None),
        ("2026-W02", "enterprise", d(6), "2026-01-05", 3, 1, pytest.approx(1 / 3), None, None, no_previous, None),
        ("2026-W02", "team", d(6), "2026-01-05", 2, 1, 0.5, None, None, no_previous, None),
        # 2026-W03 ends on day 13: adopting 5 (from 2), 2 (from 1), 3 (from 1).
        ("2026-W03", "all", d(13), None, 6, 5, pytest.approx(5 / 6), 2, 1.5, None, "exceptional"),
        ("2026-W03", "enterprise", d(13), None, 3, 2, pytest.approx(2 / 3), 1, 1.0, None, "exceptional"),
        ("2026-W03", "team", d(13), None, 3, 3, 1.0, 1, 2.0, None, "exceptional"),
    ]
    materialization = weekly.asset_materializations_for_node("weekly_adoption")[-1]
    assert materialization.metadata["latest_week"].value == "2026-W03"
    # "recent": the 13 weeks up to 2026-W03 (2025-W43 to 2025-W52, 2026-W01 to W03), for alert rules.
    weeks = [f"2025-W{n}" for n in range(43, 53)] + ["2026-W01", "2026-W02", "2026-W03"]

    def recent(adopting, rates, growth):
        return {
            "weeks": weeks,
            "adopting_teams": [None] * 11 + adopting,
            "adoption_rate": [None] * 11 + rates,
            "wow_growth": [None] * 12 + [growth],
            "band": [None] * 12 + ["exceptional"],
        }

    assert materialization.metadata["adoption"].data == [
        {"feature": "broker", "tier": "all", "week": "2026-W03", "adopting_teams": 5,
         "adoption_rate": pytest.approx(5 / 6), "wow_growth": 1.5, "band": "exceptional",
         "recent": recent([2, 5], [0.4, pytest.approx(5 / 6)], 1.5)},
        {"feature": "broker", "tier": "enterprise", "week": "2026-W03", "adopting_teams": 2,
         "adoption_rate": pytest.approx(2 / 3), "wow_growth": 1.0, "band": "exceptional",
         "recent": recent([1, 2], [pytest.approx(1 / 3), pytest.approx(2 / 3)], 1.0)},
        {"feature": "broker", "tier": "team", "week": "2026-W03", "adopting_teams": 3,
         "adoption_rate": 1.0, "wow_growth": 2.0, "band": "exceptional",
         "recent": recent([1, 3], [0.5, 1.0], 2.0)},
    ]  # fmt: skip
    assert (
        "| MQTT broker | all | 6 | 5 | 83.3% | 0 | 0 | 6 | 9 | 11.75 |" in materialization.metadata["latest_day"].value
    )
    assert "| MQTT broker | all |" in materialization.metadata["rate_last_8_weeks"].value


def test_any_window_gives_the_same_rows(warehouse, hand_catalog):
    """Each run looks back by itself: at the day before its window (new, lost adopters) and at the history
    (first use), so single days and ranges in any order give the rows of one run over everything."""
    write_team_usage(warehouse, HAND_TEAMS)
    resources = pipeline_resources(warehouse, catalog=hand_catalog)
    for first, last in ((d(10), d(13)), (d(6), d(6)), (d(0), d(5)), (d(7), d(9)), (d(6), d(6))):
        materialize([feature_adoption], first, last, resources)
    assert adoption_rows(warehouse, "broker") == HAND_EXPECTED


def test_an_unknown_counter_makes_what_depends_on_it_unknown(warehouse, hand_catalog):
    """The idle enterprise team's broker count is unknown on day 12: its adoption that day is unknown, so
    day 12's adopting teams, rate and new adopters are NULL, and so are day 13's lost adopters."""
    write_team_usage(warehouse, HAND_TEAMS, unknown={("idle", 12)})
    materialize([feature_adoption], DAYS[0], DAYS[-1], pipeline_resources(warehouse, catalog=hand_catalog))
    assert adoption_rows(warehouse, "broker", "snapshot_date >= ?", [d(12)]) == [
        (d(12), "all", 6, N, N, 0, 6, 9, 11.75), (d(12), "enterprise", 3, N, N, 0, 2, 14, 14),
        (d(12), "team", 3, 3, 0, 0, 4, 7, 9),
        (d(13), "all", 6, 5, 0, N, 6, 9, 11.75), (d(13), "enterprise", 3, 2, 0, N, 2, 14, 14),
        (d(13), "team", 3, 3, 0, 0, 4, 7, 9),
    ]  # fmt: skip
    assert query(warehouse, "SELECT adoption_rate FROM feature_adoption WHERE snapshot_date = ? AND tier = 'all'",
                 [d(12)]) == [(None,)]  # fmt: skip


# ---------------------------------------------------------------------------------------------------
# 2. The simulated platform around a launch (the MQTT team broker, 2024-10-24)

LAUNCH = date(2024, 10, 24)
SIM_FIRST, SIM_LAST = date(2024, 10, 21), date(2024, 12, 15)  # Monday to Sunday, 8 ISO weeks
SIM_WEEKS = (date(2024, 10, 28), date(2024, 12, 9))  # the weeks whose previous week is in the range


@pytest.fixture(scope="module")
def launch(tmp_path_factory):
    database = tmp_path_factory.mktemp("launch") / "growth.duckdb"
    resources = pipeline_resources(database)
    run_days(SIM_FIRST, SIM_LAST, resources)
    weekly = materialize([weekly_growth, weekly_adoption], *SIM_WEEKS, resources)
    return database, weekly


def eligible_teams(day: date, tiers: tuple[str, ...]) -> list[dict]:
    """By the definition, over the team list the simulated API serves: offered tier, unsuspended, active."""
    return [
        t
        for t in PLATFORM.state_on(day).teams
        if t["type"]["name"] in tiers and not t["suspended"] and (t["instanceCount"] > 0 or t["deviceCount"] > 0)
    ]


def broker_by_hand(first: date, last: date) -> list[tuple]:
    """mqtt_broker rows for each day from the launch, counted team by team from the simulator's team lists."""
    tiers = ("team", "enterprise")
    rows, yesterday, first_use = [], None, {}  # first_use: team id -> (tier then, days to first use)
    for day in (first + timedelta(days=n) for n in range((last - first).days + 1)):
        eligible = eligible_teams(day, tiers)
        today = {t["id"]: t["type"]["name"] for t in eligible if t["teamBrokerClientsCount"] > 0}
        for team in eligible:
            if team["id"] in today and team["id"] not in first_use:
                clock_start = max(LAUNCH, date.fromisoformat(team["createdAt"][:10]))
                first_use[team["id"]] = (team["type"]["name"], (day - clock_start).days)
        for tier in ("all", *tiers):

            def counted(team_tier: str, tier=tier) -> bool:
                return tier in ("all", team_tier)

            days = [n for team_tier, n in first_use.values() if counted(team_tier)]
            rows.append((
                day, tier,
                sum(counted(t["type"]["name"]) for t in eligible),
                sum(counted(t) for t in today.values()),
                None if yesterday is None else sum(counted(t) for i, t in today.items() if i not in yesterday),
                None if yesterday is None else sum(counted(t) for i, t in yesterday.items() if i not in today),
                len(days),
                float(statistics.median(days)) if days else None,
                float(np.percentile(days, 75)) if days else None,  # linear interpolation
            ))  # fmt: skip
        yesterday = today
    return sorted(rows, key=lambda row: (row[0], row[1]))


def rounded(rows: list[tuple]) -> list[tuple]:
    return [tuple(round(v, 9) if isinstance(v, float) else v for v in row) for row in rows]


def test_a_feature_launched_mid_history_starts_at_zero_and_rises(launch):
    database, weekly = launch
    rows = adoption_rows(database, "mqtt_broker")
    assert rows[0][:2] == (LAUNCH, "all") and rows[0][3] == 0  # no adopter on launch day
    assert adoption_rows(database, "mqtt_broker", "snapshot_date < ?", [LAUNCH]) == []  # before it: not tracked
    assert rounded(rows) == rounded(broker_by_hand(LAUNCH, SIM_LAST))
    end_of_week = query(
        database,
        "SELECT adopting_teams FROM weekly_adoption WHERE feature = 'mqtt_broker' AND tier = 'all' ORDER BY week_start",
    )
    sundays = [SIM_WEEKS[0] + timedelta(days=6 + 7 * n) for n in range(7)]
    by_hand = [
        sum(1 for t in eligible_teams(s, ("team", "enterprise")) if t["teamBrokerClientsCount"] > 0) for s in sundays
    ]
    assert [n for (n,) in end_of_week] == by_hand == [2, 2, 3, 7, 8, 8, 11]  # rising: it never falls back here


def test_weekly_adoption_growth_matches_the_end_of_week_counts(launch):
    database, weekly = launch
    sundays = [SIM_WEEKS[1] - timedelta(days=1), SIM_LAST]
    previous, latest = (
        sum(1 for t in eligible_teams(s, ("team", "enterprise")) if t["teamBrokerClientsCount"] > 0) for s in sundays
    )
    rows = query(
        database,
        "SELECT iso_week, adopting_teams, previous_adopting_teams, wow_growth, band FROM weekly_adoption "
        "WHERE feature = 'mqtt_broker' AND tier = 'all' AND week_start = ?",
        [SIM_WEEKS[1]],
    )
    growth = latest / previous - 1
    assert rows == [("2024-W50", latest, previous, pytest.approx(growth), classify(growth))]
    alert_rows = weekly.asset_materializations_for_node("weekly_adoption")[-1].metadata["adoption"].data
    broker = next(r for r in alert_rows if r["feature"] == "mqtt_broker" and r["tier"] == "all")
    assert broker["week"] == "2024-W50" and broker["adopting_teams"] == latest
    assert broker["wow_growth"] == pytest.approx(growth)


# ---------------------------------------------------------------------------------------------------
# 3. Adding a feature: one catalog entry, tracked from the next day

OLD_DAYS = (date(2025, 11, 10), date(2025, 11, 12))
NEW_DAYS = (date(2025, 11, 13), date(2025, 11, 14))
TABLES_ENTRY = "  - key: tables\n"


def fingerprint(database: Path, table: str, first: date, last: date) -> list[tuple]:
    return query(
        database,
        f"SELECT snapshot_date, count(*), md5(string_agg(CAST(t AS VARCHAR), '|' ORDER BY CAST(t AS VARCHAR))) "
        f"FROM {table} t WHERE snapshot_date BETWEEN ? AND ? GROUP BY ALL ORDER BY 1",
        [first, last],
    )


def schema(database: Path) -> list[tuple]:
    return query(
        database,
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "ORDER BY table_name, ordinal_position",
    )


def tables_by_hand(day: date, before: set[str] | None) -> tuple[int, int, int | None, int | None, set[str]]:
    """Tables over the simulator's answers: enterprise teams (unsuspended, active); adopting: a database."""
    databases = PLATFORM.state_on(day).tables
    eligible = eligible_teams(day, ("enterprise",))
    adopting = {t["id"] for t in eligible if databases[t["id"]] > 0}
    if before is None:
        return len(eligible), len(adopting), None, None, adopting
    return len(eligible), len(adopting), len(adopting - before), len(before - adopting), adopting


def test_adding_a_feature_tracks_it_from_its_collected_from(tmp_path, warehouse):
    packaged = DEFAULT_CATALOG_PATH.read_text()
    assert packaged.count(TABLES_ENTRY) == 1
    without_tables = tmp_path / "before.yaml"
    without_tables.write_text(packaged[: packaged.index(TABLES_ENTRY)])
    instance = dg.DagsterInstance.ephemeral()
    first_run = run_days(*OLD_DAYS, pipeline_resources(warehouse, catalog=str(without_tables)), instance)
    old = {t: fingerprint(warehouse, t, *OLD_DAYS) for t in ("raw_snapshots", "team_usage", "feature_adoption")}
    old_schema = schema(warehouse)

    # The data engineer adds one entry: Tables, collected from the next day.
    with_tables = tmp_path / "after.yaml"
    with_tables.write_text(packaged.replace("collected_from: 2025-07-31", f"collected_from: {NEW_DAYS[0]}"))
    after = pipeline_resources(warehouse, catalog=str(with_tables))
    second_run = run_days(*NEW_DAYS, after, instance)
    assert second_run.success

    # From its collected_from on it is collected (the per-team endpoint) and derived, by hand:
    eligible, adopting, _, _, first_adopters = tables_by_hand(NEW_DAYS[0], None)
    eligible_2, adopting_2, new_2, lost_2, _ = tables_by_hand(NEW_DAYS[1], first_adopters)
    assert query(
        warehouse,
        "SELECT snapshot_date, eligible_teams, adopting_teams, new_adopters, lost_adopters, ever_adopted "
        "FROM feature_adoption WHERE feature = 'tables' AND tier = 'all' ORDER BY 1",
    ) == [
        (NEW_DAYS[0], eligible, adopting, None, None, adopting),  # no tracked yesterday: new/lost undefined
        (NEW_DAYS[1], eligible_2, adopting_2, new_2, lost_2, adopting + new_2),
    ]
    assert adopting > 0
    collected = query(
        warehouse,
        "SELECT snapshot_date, json_exists(document, '$.team_counters.tablesCount') FROM raw_snapshots ORDER BY 1",
    )
    assert collected == [(OLD_DAYS[0], False), (OLD_DAYS[0] + timedelta(days=1), False), (OLD_DAYS[1], False),
                         (NEW_DAYS[0], True), (NEW_DAYS[1], True)]  # fmt: skip

    # Days before are not tracked (no rows, not zeros) and nothing old was rebuilt or migrated.
    assert adoption_rows(warehouse, "tables", "snapshot_date < ?", [NEW_DAYS[0]]) == []
    assert {t: fingerprint(warehouse, t, *OLD_DAYS) for t in old} == old
    assert schema(warehouse) == old_schema
    for asset in ("raw_snapshot", "team_usage", "platform_metrics", "feature_adoption"):
        records = instance.fetch_materializations(dg.AssetKey(asset), limit=100).records
        runs = {r.partition_key: r.run_id for r in records}
        assert {k for k, run in runs.items() if run == second_run.run_id} == {str(NEW_DAYS[0]), str(NEW_DAYS[1])}
        assert len(records) == 5 and all(runs[str(d)] == first_run.run_id for d in OLD_DAYS)

    # The UI says "not tracked" for the weeks before, and shows the new feature on the latest day.
    metadata = second_run.asset_materializations_for_node("feature_adoption")[-1].metadata
    assert f"| FlowFuse Tables | all | {eligible_2} | {adopting_2} |" in metadata["latest_day"].value
    weeks = metadata["rate_last_8_weeks"].value
    tables_line = next(line for line in weeks.splitlines() if line.startswith("| FlowFuse Tables | all |"))
    assert tables_line == (
        f"| FlowFuse Tables | all | {' | '.join(['not tracked'] * 7)} | {adopting_2 / eligible_2:.1%} |"
    )

    # Re-running an old day with the new catalog still works and changes nothing there.
    rerun = run_days(OLD_DAYS[1], OLD_DAYS[1], after, instance)
    assert rerun.success
    assert {t: fingerprint(warehouse, t, *OLD_DAYS) for t in old} == old
    assert adoption_rows(warehouse, "tables", "snapshot_date < ?", [NEW_DAYS[0]]) == []


# ---------------------------------------------------------------------------------------------------
# 4. Handbook metrics: device adoption, pipeline adoption, WCI, each with weekly growth


def handbook_by_hand(day: date) -> dict[str, float]:
    state = PLATFORM.state_on(day)
    everyone = eligible_teams(day, ("starter", "team", "enterprise"))
    offered_pipelines = eligible_teams(day, ("team", "enterprise"))
    weights = {"starter": 1, "team": 4, "enterprise": 8}
    return {
        "device_adoption": sum(1 for t in everyone if t["deviceCount"] > 0) / len(everyone),
        "pipeline_adoption": sum(1 for t in offered_pipelines if state.pipelines[t["id"]] > 0) / len(offered_pipelines),
        "weighted_customer_index": float(sum(weights[t["type"]["name"]] for t in state.teams if not t["suspended"])),
    }


@pytest.mark.parametrize("metric", ["device_adoption", "pipeline_adoption", "weighted_customer_index"])
def test_handbook_metrics_have_weekly_growth(launch, metric):
    database, weekly = launch
    previous, latest = (handbook_by_hand(s)[metric] for s in (SIM_WEEKS[1] - timedelta(days=1), SIM_LAST))
    growth = latest / previous - 1
    assert query(
        database,
        "SELECT iso_week, value, previous_value, wow_growth, band FROM weekly_growth "
        "WHERE metric = ? AND segment = 'all' AND week_start = ?",
        [metric, SIM_WEEKS[1]],
    ) == [("2024-W50", pytest.approx(latest), pytest.approx(previous), pytest.approx(growth), classify(growth))]
    sensors = weekly.asset_materializations_for_node("weekly_growth")[-1].metadata["growth"].data
    assert next(g for g in sensors if g["metric"] == metric and g["segment"] == "all")["band"] == classify(growth)


def test_the_wci_weights_come_from_the_catalog(tmp_path, warehouse):
    day = date(2025, 11, 16)
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(
        DEFAULT_CATALOG_PATH.read_text().replace(
            "weights: {starter: 1, team: 4, enterprise: 8}", "weights: {starter: 2, team: 3, enterprise: 10}"
        )
    )
    run_days(day, day, pipeline_resources(warehouse, catalog=str(catalog)))
    weights = {"starter": 2, "team": 3, "enterprise": 10}
    by_hand = sum(weights[t["type"]["name"]] for t in PLATFORM.state_on(day).teams if not t["suspended"])
    assert query(
        warehouse,
        "SELECT value FROM platform_metrics WHERE snapshot_date = ? AND metric = 'weighted_customer_index'",
        [day],
    ) == [(float(by_hand),)]
