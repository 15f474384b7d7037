"""Contract tests: real FlowFuse responses (2.4.0 and 2.33.2) become the same normalized rows."""

from datetime import date, datetime, timezone

import duckdb
import httpx
import pandas as pd
import pytest

from growth_pipeline.ingest.flowfuse_api import FlowFuseAPIError, FlowFuseClient
from growth_pipeline.ingest.normalize import team_usage_sql
from growth_pipeline.ingest.snapshot import snapshot_problems, stats_metric_rows, take_snapshot
from growth_pipeline.storage.warehouse import ensure_tables, store_snapshot

from .conftest import FLOWFUSE_VERSIONS, fixture_json

DAY = date(2026, 12, 2)
# Team 2 has one device and team 3 none: the probe seeded both platforms alike, and 2.33.2 lists the counts.
DEVICES_OF_TEAMS_2_AND_3 = (1, 0)


def fixture_platform(version: str, requests: list[str], admin_token: str = "admin-token"):
    """An httpx transport replaying the captured responses of one FlowFuse version; logs each request."""
    stats = fixture_json(version, "admin_stats.json")
    page1 = fixture_json(version, "admin_teams_page1_limit2.json")
    page2 = fixture_json(version, "admin_teams_page2.json")
    detail = fixture_json(version, "team1_detail.json")
    teams = page1["teams"] + page2["teams"]
    details = {detail["id"]: detail}
    for team, devices in zip(teams[1:], DEVICES_OF_TEAMS_2_AND_3, strict=True):
        details[team["id"]] = {**team, "deviceCount": devices}
    forbidden = fixture_json(version, "stats_token_on_users_list.json")

    def handle(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        requests.append(request.url.raw_path.decode())
        if request.headers["authorization"] != f"Bearer {admin_token}" and path != "/api/v1/admin/stats":
            return httpx.Response(forbidden["status"], json=forbidden["body"])
        if path == "/api/v1/admin/stats":
            return httpx.Response(200, json=stats)
        if path == "/api/v1/teams":
            limit = int(request.url.params["limit"])
            cursor = request.url.params.get("cursor")
            if limit == 2:  # replay the capture exactly
                return httpx.Response(200, json=page1 if cursor is None else page2)
            # A full page always carries a cursor, so with limit == team count the last page is empty.
            assert limit == len(teams)
            if cursor is None:
                return httpx.Response(200, json={"meta": {"next_cursor": teams[-1]["id"]}, "count": 3, "teams": teams})
            return httpx.Response(200, json={"meta": {}, "count": 0, "teams": []})
        if path.startswith("/api/v1/teams/") and path.rsplit("/", 1)[1] in details:
            return httpx.Response(200, json=details[path.rsplit("/", 1)[1]])
        return httpx.Response(404, json={"code": "not_found", "error": "Not Found"})

    return httpx.MockTransport(handle)


def snapshot(version: str, page_size: int = 2, token: str = "admin-token", requests: list | None = None) -> dict:
    transport = fixture_platform(version, requests if requests is not None else [])
    client = FlowFuseClient("http://flowfuse.test", token, transport=transport, page_size=page_size)
    with client:
        return take_snapshot(
            client,
            DAY,
            taken_at=datetime(2026, 12, 3, 0, 5, tzinfo=timezone.utc),
            source={"kind": "flowfuse", "simulated": False},
            counter_tiers={"deviceCount": {"starter"}, "instanceCount": {"starter"}},
        )


def team_rows(document: dict) -> list[dict]:
    """Normalize through the pipeline's own SQL, on an in-memory DuckDB."""
    import json

    with duckdb.connect() as conn:
        ensure_tables(conn)
        store_snapshot(conn, DAY, document["taken_at"], "flowfuse", False, json.dumps(document))
        frame = conn.execute(team_usage_sql(), [DAY, date(2026, 12, 3)]).df()
    return frame.sort_values("team_name").to_dict("records")


@pytest.mark.parametrize("version", FLOWFUSE_VERSIONS)
def test_paging_collects_every_team_and_the_document_is_sound(version):
    document = snapshot(version)
    assert [t["name"] for t in document["teams"]] == ["Probe Team 1", "Probe Team 2", "Probe Team 3"]
    assert snapshot_problems(document, DAY) == []


@pytest.mark.parametrize("version", FLOWFUSE_VERSIONS)
def test_an_empty_last_page_ends_the_walk(version):
    requests = []
    document = snapshot(version, page_size=3, requests=requests)
    assert len(document["teams"]) == 3
    team_pages = [r for r in requests if r.startswith("/api/v1/teams?")]
    assert team_pages == ["/api/v1/teams?limit=3", f"/api/v1/teams?limit=3&cursor={document['teams'][-1]['id']}"]


def test_both_versions_normalize_to_the_same_rows():
    common = ["team_name", "tier", "member_count", "instance_count", "device_count"]
    old, new = (team_rows(snapshot(v)) for v in FLOWFUSE_VERSIONS)
    assert [{c: r[c] for c in common} for r in old] == [{c: r[c] for c in common} for r in new]
    assert [(r["team_name"], r["instance_count"], r["device_count"]) for r in new] == [
        ("Probe Team 1", 1, 2),
        ("Probe Team 2", 0, 1),
        ("Probe Team 3", 0, 0),
    ]


def test_fields_2_4_0_lacks_are_unknown_not_zero():
    old = team_rows(snapshot("v2.4.0"))
    new = team_rows(snapshot("v2.33.2"))
    for row in old:  # 2.4.0 has no suspension and no broker counters: NULL, never 0 or false
        assert pd.isna(row["suspended"])
        assert pd.isna(row["broker_client_count"])
        assert pd.isna(row["broker_count"])
    assert [r["suspended"] for r in new] == [False, False, False]
    assert [r["broker_client_count"] for r in new] == [0, 0, 0]


def test_device_count_missing_from_the_2_4_0_list_comes_from_team_detail():
    document = snapshot("v2.4.0")
    assert all("deviceCount" not in t for t in document["teams"])
    by_name = {t["id"]: t["name"] for t in document["teams"]}
    assert {by_name[i]: n for i, n in document["team_counters"]["deviceCount"].items()} == {
        "Probe Team 1": 2,
        "Probe Team 2": 1,
        "Probe Team 3": 0,
    }
    # 2.33.2 lists deviceCount, so it needs no per-team requests.
    assert "deviceCount" not in snapshot("v2.33.2")["team_counters"]


@pytest.mark.parametrize("version", FLOWFUSE_VERSIONS)
def test_stats_become_metric_rows_and_absent_fields_are_not_zero(version):
    rows = {(m, s): v for m, s, v in stats_metric_rows(fixture_json(version, "admin_stats.json"))}
    assert rows[("teams", "all")] == 3
    assert rows[("teams", "tier:starter")] == 3
    assert rows[("users", "all")] == 3
    assert rows[("instances", "state:running")] == 1
    assert rows[("devices", "all")] == 3
    assert rows[("devices", "mode:autonomous")] == 3
    assert rows[("devices", "last_seen:never")] == 2
    assert rows[("devices", "last_seen:day")] == 1
    # No license: mqttClientCount is absent, so there is no mqtt_clients row at all (unknown, not 0).
    assert not any(m == "mqtt_clients" for m, _ in rows)


@pytest.mark.parametrize("version", FLOWFUSE_VERSIONS)
def test_a_stats_only_token_on_the_team_list_names_the_variable(version):
    secret = "ffu_stats_only_secret"
    with pytest.raises(FlowFuseAPIError) as error:
        snapshot(version, token=secret)
    message = str(error.value)
    assert "HTTP 403" in message and "$FLOWFUSE_TOKEN" in message and "admin" in message
    assert secret not in message
