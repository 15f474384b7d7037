"""The simulated platform: seeded, FlowFuse-shaped, with launches, churn and every growth band."""

from datetime import date, timedelta

import httpx

from growth_pipeline.growth.math import BAND_ORDER, classify, wow_growth
from growth_pipeline.simulator.api import SimulatedPlatformAPI
from growth_pipeline.simulator.platform import SimulatedPlatform, SimulationSettings

DAY = date(2025, 11, 16)


def test_the_same_seed_gives_the_same_platform_whatever_order_days_are_asked_in():
    forwards, backwards = SimulatedPlatform(), SimulatedPlatform()
    forwards.state_on(date(2024, 1, 1))
    later_first = backwards.state_on(date(2026, 6, 1))
    assert forwards.state_on(date(2026, 6, 1)).teams == later_first.teams
    assert forwards.state_on(DAY).stats == backwards.state_on(DAY).stats


def test_another_seed_gives_another_platform():
    other = SimulatedPlatform(SimulationSettings(seed=8))
    assert other.state_on(DAY).stats != SimulatedPlatform().state_on(DAY).stats


def test_stats_agree_with_the_team_list():
    state = SimulatedPlatform().state_on(DAY)
    teams = state.teams
    assert state.stats["teamCount"] == len(teams) == 334
    by_tier = {}
    for team in teams:
        by_tier[team["type"]["name"]] = by_tier.get(team["type"]["name"], 0) + 1
    assert state.stats["teamsByType"] == by_tier
    assert set(by_tier) == {"starter", "team", "enterprise"}
    assert state.stats["instanceCount"] == sum(t["instanceCount"] for t in teams)
    assert state.stats["deviceCount"] == sum(t["deviceCount"] for t in teams)
    assert sum(state.stats["instancesByState"].values()) == state.stats["instanceCount"]
    assert sum(state.stats["devicesByLastSeen"].values()) == state.stats["deviceCount"]


def test_teams_join_and_leave():
    platform = SimulatedPlatform()
    before = {t["id"] for t in platform.state_on(date(2025, 1, 1)).teams}
    after = {t["id"] for t in platform.state_on(date(2025, 4, 1)).teams}
    assert (len(before), len(after)) == (150, 175)
    assert len(after - before) == 48  # joined
    assert len(before - after) == 23  # churned: deleted from the platform
    assert any(t["suspended"] for t in platform.state_on(DAY).teams)


def test_a_feature_launched_mid_history_starts_at_zero_and_rises():
    platform = SimulatedPlatform()

    def mqtt_adopters(day):
        return sum(1 for t in platform.state_on(day).teams if t["teamBrokerClientsCount"] > 0)

    launch = date(2024, 10, 24)  # the MQTT team broker
    assert mqtt_adopters(launch - timedelta(days=1)) == 0
    assert mqtt_adopters(launch) == 0
    month, half_year, year = (mqtt_adopters(launch + timedelta(days=n)) for n in (31, 182, 365))
    assert 0 < month < half_year < year


def test_team_growth_visits_every_band():
    platform = SimulatedPlatform()
    first_sunday = date(2023, 9, 3)
    sundays = [first_sunday + timedelta(weeks=w) for w in range(0, 165)]
    counts = [platform.state_on(d).stats["teamCount"] for d in sundays]
    bands = {classify(wow_growth(now, before).rate) for before, now in zip(counts, counts[1:], strict=False)}
    assert bands == set(BAND_ORDER)


def test_weekends_are_quieter():
    platform = SimulatedPlatform()
    start = date(2025, 3, 3)  # a Monday
    counts = [platform.state_on(start + timedelta(days=n)).stats["teamCount"] for n in range(-1, 7 * 20)]
    gains = [b - a for a, b in zip(counts, counts[1:], strict=False)]
    weekday = sum(g for i, g in enumerate(gains) if i % 7 < 5) / (5 * 20)
    weekend = sum(g for i, g in enumerate(gains) if i % 7 >= 5) / (2 * 20)
    assert weekday > 1.5 * weekend


def test_the_api_pages_by_cursor_and_requires_a_token():
    api = SimulatedPlatformAPI(SimulatedPlatform(), DAY)
    client = httpx.Client(transport=api.transport(), base_url="https://sim.test")
    assert client.get("/api/v1/teams").status_code == 401
    headers = {"Authorization": "Bearer demo"}
    first = client.get("/api/v1/teams", params={"limit": 100}, headers=headers).json()
    assert len(first["teams"]) == 100 and first["meta"]["next_cursor"] == first["teams"][-1]["id"]
    ids, cursor = [], None
    while True:
        params = {"limit": 167} | ({"cursor": cursor} if cursor else {})
        page = client.get("/api/v1/teams", params=params, headers=headers).json()
        ids += [t["id"] for t in page["teams"]]
        cursor = page["meta"].get("next_cursor")
        if not cursor:
            break
    # 334 teams in pages of at most 100 (the cap): 100, 100, 100, 34.
    assert len(ids) == len(set(ids)) == 334
    metrics = client.get("/api/v1/admin/stats", headers=headers | {"Accept": "application/openmetrics-text"}).text
    assert "flowforge_team_count 334\n" in metrics
    assert "flowforge_teams_by_type_starter " in metrics
