"""The pipeline against a real FlowFuse platform (@flowfuse/flowfuse from npm, pinned) on 127.0.0.1.

The platform is installed (cached between runs), started with SQLite and the stub driver, set up through
/setup like a new install, and seeded through its REST API: users, two team types, teams, hosted instances
and edge devices. The real Dagster assets then snapshot it with the `flowfuse` source for two consecutive
days on a clock the test controls, with the platform changed in between. Every expected value below is
what the test itself put on the platform, counted by hand.

If Node.js or npm is missing this test fails and says what to install; it is never skipped.
"""

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import dagster as dg
import pytest

from growth_pipeline.resources import SnapshotSourceResource

from ..conftest import pipeline_resources, query, run_days
from .flowfuse_platform import (
    INSTALL_HINT,
    FlowFuseServer,
    PlatformAdmin,
    PlatformUnavailable,
    accept_invitations,
    create_admin_token,
    create_stats_token,
    first_run_setup,
    install_flowfuse,
    logged_in,
    node_tools,
)

ADMIN, ADMIN_PASSWORD = "ada", "ada-admin-password-1"
USER_PASSWORD = "member-password-1"
# Two days that have ended, so both are daily partitions; the clock says each was snapshotted at 00:30 the
# next day, inside the live window. The platform itself is read as it is at that moment.
DAY_ONE = datetime.now(UTC).date() - timedelta(days=2)
DAY_TWO = DAY_ONE + timedelta(days=1)
TABLES = ("raw_snapshots", "team_usage", "platform_metrics", "feature_adoption")


def just_after(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0, 30), tzinfo=UTC)


class PinnedClockSource(SnapshotSourceResource):
    """The flowfuse source with the clock the test controls."""

    pinned_now: str

    def now(self) -> datetime:
        return datetime.fromisoformat(self.pinned_now)


STOP_SERVER: dict[str, Callable[[], None]] = {}


class ServerStopsMidRun(PinnedClockSource):
    """The source asks its clock first thing when it snapshots: at that moment, inside the run, the FlowFuse
    process is stopped, so every request of the snapshot meets a platform that has gone away."""

    def now(self) -> datetime:
        STOP_SERVER[self.flowfuse_url]()
        return super().now()


@dataclass
class LivePlatform:
    server: FlowFuseServer
    admin: PlatformAdmin
    admin_token: str
    stats_token: str
    database: Path
    archive: Path
    instance: dg.DagsterInstance
    teams: dict[str, dict] = field(default_factory=dict)  # name -> the platform's answer when it was created
    instances: dict[str, dict] = field(default_factory=dict)
    stats_at_snapshot: dict[date, dict] = field(default_factory=dict)
    runs: dict[date, dg.ExecuteInProcessResult] = field(default_factory=dict)

    def run(self, day: date, token: str, source_class: type[PinnedClockSource] = PinnedClockSource):
        source = source_class(
            kind="flowfuse",
            flowfuse_url=self.server.base_url,
            archive_dir=str(self.archive),
            pinned_now=just_after(day).isoformat(),
        )
        with pytest.MonkeyPatch.context() as env:
            env.setenv("FLOWFUSE_TOKEN", token)
            return run_days(day, day, pipeline_resources(self.database, source), self.instance, raise_on_error=False)

    def secrets(self) -> tuple[str, ...]:
        return (self.admin_token, self.stats_token)


def seed_day_one(live: LivePlatform) -> None:
    """Users ada (admin), bob, cy; team types starter and team; teams Acme (starter: an instance, cy invited),
    Beta (starter: a device that never checked in) and Gamma (team: an instance, a device that checked in,
    bob a member). The unlicensed platform allows 5 users, 5 teams and 5 instances + devices."""
    admin = live.admin
    starter = admin.team_type("starter")
    team = admin.create_team_type("team", like=starter)
    for username in ("bob", "cy"):
        admin.create_user(username, username.title(), USER_PASSWORD)
    acme = live.teams["Acme"] = admin.create_team("Acme", starter)
    beta = live.teams["Beta"] = admin.create_team("Beta", starter)
    gamma = live.teams["Gamma"] = admin.create_team("Gamma", team)
    live.instances["acme-flows"] = admin.create_instance(acme["id"], "acme-flows")
    admin.create_instance(gamma["id"], "gamma-flows")
    admin.create_device(beta["id"], "beta-gateway")
    admin.device_checks_in(admin.create_device(gamma["id"], "gamma-gateway"))
    admin.invite(gamma["id"], "bob")
    accept_invitations(live.server.base_url, "bob", USER_PASSWORD)
    admin.invite(acme["id"], "cy")  # left pending on day one


def change_for_day_two(live: LivePlatform) -> None:
    """Beta is deleted (with its device); Delta (team, two new devices) and Echo (starter, nothing running)
    join; Acme's instance is suspended; cy accepts the invitation to Acme; dee signs up."""
    admin = live.admin
    admin.delete_team(live.teams["Beta"]["id"])
    delta = live.teams["Delta"] = admin.create_team("Delta", admin.team_type("team"))
    live.teams["Echo"] = admin.create_team("Echo", admin.team_type("starter"))
    admin.create_device(delta["id"], "delta-gateway-1")
    admin.create_device(delta["id"], "delta-gateway-2")
    admin.suspend_instance(live.instances["acme-flows"]["id"])
    accept_invitations(live.server.base_url, "cy", USER_PASSWORD)
    admin.create_user("dee", "Dee", USER_PASSWORD)


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> LivePlatform:
    tools = node_tools()  # fails (never skips) with what to install
    package = install_flowfuse(tools)
    root = tmp_path_factory.mktemp("live")
    server = FlowFuseServer(package=package, home=root / "flowfuse", node=tools.node)
    STOP_SERVER[server.base_url] = server.stop
    try:
        server.start()
        first_run_setup(server.base_url, ADMIN, ADMIN_PASSWORD)
        with logged_in(server.base_url, ADMIN, ADMIN_PASSWORD) as session:
            admin_token = create_admin_token(session, "growth-pipeline")
            stats_token = create_stats_token(session)
        platform = LivePlatform(
            server=server,
            admin=PlatformAdmin(server.base_url, admin_token),
            admin_token=admin_token,
            stats_token=stats_token,
            database=root / "growth.duckdb",
            archive=root / "archive",
            instance=dg.DagsterInstance.ephemeral(),
        )
        seed_day_one(platform)
        platform.runs[DAY_ONE] = platform.run(DAY_ONE, admin_token)
        platform.stats_at_snapshot[DAY_ONE] = platform.admin.call("GET", "/api/v1/admin/stats")
        change_for_day_two(platform)
        platform.runs[DAY_TWO] = platform.run(DAY_TWO, admin_token)
        platform.stats_at_snapshot[DAY_TWO] = platform.admin.call("GET", "/api/v1/admin/stats")
        yield platform
        platform.admin.close()
    finally:
        server.stop()
        STOP_SERVER.pop(server.base_url, None)


def metrics(live: LivePlatform, day: date) -> dict[tuple[str, str], float]:
    rows = query(live.database, "SELECT metric, segment, value FROM platform_metrics WHERE snapshot_date = ?", [day])
    return {(metric, segment): value for metric, segment, value in rows}


def adoption(live: LivePlatform, day: date) -> set[tuple]:
    return set(
        query(
            live.database,
            "SELECT feature, tier, eligible_teams, adopting_teams, round(adoption_rate, 4) FROM feature_adoption "
            "WHERE snapshot_date = ?",
            [day],
        )
    )


def run_log_text(live: LivePlatform, result) -> str:
    return "\n".join(repr(entry) for entry in live.instance.all_logs(result.run_id))


def day_two_fingerprint(live: LivePlatform) -> tuple:
    """Everything stored for day two, and its archived file."""
    tables = tuple(
        query(live.database, f"SELECT * FROM {table} WHERE snapshot_date = ? ORDER BY ALL", [DAY_TWO])
        for table in TABLES
    )
    return tables, (live.archive / f"{DAY_TWO}.json").read_bytes()


def failure_message(result) -> str:
    return next(e for e in result.all_events if e.is_step_failure).step_failure_data.error.message


# ------------------------------------------------------------------------------------- the seeded platform


def test_both_days_ran_through_the_real_assets(live):
    for day in (DAY_ONE, DAY_TWO):
        result = live.runs[day]
        assert result.success, day
        for asset in ("raw_snapshot", "team_usage", "platform_metrics", "feature_adoption"):
            assert len(result.asset_materializations_for_node(asset)) == 1, (day, asset)


def test_day_one_platform_metrics_equal_what_was_seeded(live):
    assert metrics(live, DAY_ONE) == {
        ("users", "all"): 3.0,  # ada, bob, cy
        ("admins", "all"): 1.0,
        ("invites", "all"): 1.0,  # cy to Acme, pending
        ("teams", "all"): 3.0,
        ("teams", "tier:starter"): 2.0,
        ("teams", "tier:team"): 1.0,
        ("instances", "all"): 2.0,
        ("instances", "state:running"): 2.0,
        ("devices", "all"): 2.0,
        ("devices", "mode:autonomous"): 2.0,
        ("devices", "last_seen:never"): 1.0,  # Beta's
        ("devices", "last_seen:day"): 1.0,  # Gamma's checked in
        ("devices", "last_seen:week"): 0.0,
        ("devices", "last_seen:month"): 0.0,
        ("devices", "last_seen:older"): 0.0,
        ("active_teams", "all"): 3.0,
        ("active_teams", "tier:starter"): 2.0,
        ("active_teams", "tier:team"): 1.0,
        ("weighted_customer_index", "all"): 6.0,  # 2 starter x 1 + 1 team x 4
        # Handbook device adoption: teams with devices / eligible (active, unsuspended) teams.
        ("device_adoption", "all"): 2 / 3,  # Beta and Gamma of Acme, Beta, Gamma
        ("device_adoption", "tier:starter"): 0.5,  # Beta of Acme, Beta
        ("device_adoption", "tier:team"): 1.0,  # Gamma
    }


def test_day_one_team_usage_equals_what_was_seeded(live):
    rows = query(
        live.database,
        "SELECT team_id, team_name, tier, created_at, suspended, member_count, instance_count, device_count, "
        "broker_count, broker_client_count, pipeline_count, table_count FROM team_usage "
        "WHERE snapshot_date = ? ORDER BY team_name",
        [DAY_ONE],
    )

    def seeded(name, tier, members, instances, devices):
        team = live.teams[name]
        created = datetime.fromisoformat(team["createdAt"].replace("Z", "+00:00"))
        # FlowFuse 2.4.0 has no suspension, broker or client counts, and (unlicensed) no pipelines or
        # Tables endpoint: all unknown (NULL), never 0.
        return (team["id"], name, tier, created, None, members, instances, devices, None, None, None, None)

    assert rows == [
        seeded("Acme", "starter", 1, 1, 0),
        seeded("Beta", "starter", 1, 0, 1),
        seeded("Gamma", "team", 2, 1, 1),
    ]


def test_each_raw_snapshot_is_the_platform_answer_verbatim_and_archived(live):
    rows = query(
        live.database,
        "SELECT snapshot_date, taken_at, source, simulated, CAST(document AS VARCHAR) FROM raw_snapshots ORDER BY 1",
    )
    assert [(day, taken_at, kind, simulated) for day, taken_at, kind, simulated, _ in rows] == [
        (DAY_ONE, just_after(DAY_ONE), "flowfuse", False),
        (DAY_TWO, just_after(DAY_TWO), "flowfuse", False),
    ]
    for day, _, _, _, document in rows:
        stored = json.loads(document)
        assert stored["stats"] == live.stats_at_snapshot[day]
        assert stored["source"] == {"kind": "flowfuse", "simulated": False, "base_url": live.server.base_url}
        assert json.loads((live.archive / f"{day}.json").read_text()) == stored
    assert sorted(p.name for p in live.archive.iterdir()) == [f"{DAY_ONE}.json", f"{DAY_TWO}.json"]


def test_day_two_shows_the_changes_day_over_day(live):
    before, after = metrics(live, DAY_ONE), metrics(live, DAY_TWO)
    changes = {key: (before.get(key), after.get(key)) for key in before.keys() | after.keys()}
    assert changes == {
        ("users", "all"): (3.0, 4.0),  # dee signed up
        ("admins", "all"): (1.0, 1.0),
        ("invites", "all"): (1.0, 0.0),  # cy accepted
        ("teams", "all"): (3.0, 4.0),  # -Beta +Delta +Echo
        ("teams", "tier:starter"): (2.0, 2.0),  # -Beta +Echo
        ("teams", "tier:team"): (1.0, 2.0),  # +Delta
        ("instances", "all"): (2.0, 2.0),
        ("instances", "state:running"): (2.0, 1.0),
        ("instances", "state:suspended"): (None, 1.0),  # Acme's
        ("devices", "all"): (2.0, 3.0),  # -Beta's +2 Delta's
        ("devices", "mode:autonomous"): (2.0, 3.0),
        ("devices", "last_seen:never"): (1.0, 2.0),
        ("devices", "last_seen:day"): (1.0, 1.0),
        ("devices", "last_seen:week"): (0.0, 0.0),
        ("devices", "last_seen:month"): (0.0, 0.0),
        ("devices", "last_seen:older"): (0.0, 0.0),
        ("active_teams", "all"): (3.0, 3.0),  # Acme, Gamma, Delta; Echo runs nothing
        ("active_teams", "tier:starter"): (2.0, 1.0),
        ("active_teams", "tier:team"): (1.0, 2.0),
        ("weighted_customer_index", "all"): (6.0, 10.0),  # 2 x 1 + 2 x 4
        ("device_adoption", "all"): (2 / 3, 2 / 3),  # then Gamma and Delta of Acme, Gamma, Delta
        ("device_adoption", "tier:starter"): (0.5, 0.0),  # then Acme alone, with no device
        ("device_adoption", "tier:team"): (1.0, 1.0),  # Gamma and Delta
    }
    teams = dict(
        query(live.database, "SELECT team_name, member_count FROM team_usage WHERE snapshot_date = ?", [DAY_TWO])
    )
    assert teams == {"Acme": 2, "Gamma": 2, "Delta": 1, "Echo": 1}


NO_ENTERPRISE_TEAMS = {
    (feature, "enterprise", 0, 0, None)
    for feature in ("hosted_instances", "devices", "devops_pipelines", "mqtt_broker", "tables")
} | {("tables", "all", 0, 0, None)}  # Tables is offered to enterprise teams only


def test_adoption_on_both_days(live):
    # Eligible: active (an instance or a device), of an offered tier. Pipelines and the MQTT broker are
    # offered to team/enterprise; this platform cannot say whether they are used, so adoption is unknown.
    assert adoption(live, DAY_ONE) == {
        ("hosted_instances", "all", 3, 2, 0.6667),  # Acme, Beta, Gamma; Acme and Gamma run one
        ("hosted_instances", "starter", 2, 1, 0.5),
        ("hosted_instances", "team", 1, 1, 1.0),
        ("devices", "all", 3, 2, 0.6667),  # Beta and Gamma have a device
        ("devices", "starter", 2, 1, 0.5),
        ("devices", "team", 1, 1, 1.0),
        ("devops_pipelines", "all", 1, None, None),
        ("devops_pipelines", "team", 1, None, None),
        ("mqtt_broker", "all", 1, None, None),
        ("mqtt_broker", "team", 1, None, None),
        # Every offered tier has a row: this platform has no enterprise team, so 0 eligible, no rate.
        *NO_ENTERPRISE_TEAMS,
    }
    assert adoption(live, DAY_TWO) == {
        ("hosted_instances", "all", 3, 2, 0.6667),  # Acme, Gamma, Delta; Acme (suspended) and Gamma
        ("hosted_instances", "starter", 1, 1, 1.0),
        ("hosted_instances", "team", 2, 1, 0.5),
        ("devices", "all", 3, 2, 0.6667),  # Gamma and Delta
        ("devices", "starter", 1, 0, 0.0),  # Acme: Beta, the starter team with a device, is gone
        ("devices", "team", 2, 2, 1.0),
        ("devops_pipelines", "all", 2, None, None),
        ("devops_pipelines", "team", 2, None, None),
        ("mqtt_broker", "all", 2, None, None),
        ("mqtt_broker", "team", 2, None, None),
        *NO_ENTERPRISE_TEAMS,
    }


def test_no_token_reaches_the_run_logs_or_metadata(live):
    for result in live.runs.values():
        text = run_log_text(live, result)
        assert "raw_snapshot" in text
        for secret in live.secrets():
            assert secret not in text


def test_the_archive_rebuilds_both_live_days_after_the_duckdb_file_is_lost(live, tmp_path):
    backup = tmp_path / "before.duckdb"
    shutil.copyfile(live.database, backup)
    live.database.unlink()
    try:
        source = SnapshotSourceResource(kind="archive", archive_dir=str(live.archive))
        result = run_days(DAY_ONE, DAY_TWO, pipeline_resources(live.database, source), live.instance)
        assert result.success
        for table in TABLES:
            assert query(live.database, f"SELECT * FROM {table} ORDER BY ALL") == query(
                backup, f"SELECT * FROM {table} ORDER BY ALL"
            ), table
    finally:
        if not live.database.exists():
            shutil.copyfile(backup, live.database)


# ------------------------------------------------------------------------------------- failures


def assert_failed_and_nothing_changed(live: LivePlatform, result, before: tuple) -> str:
    assert not result.success
    assert result.get_asset_materialization_events() == []
    assert day_two_fingerprint(live) == before
    text = run_log_text(live, result)
    for secret in live.secrets():
        assert secret not in text
    return failure_message(result)


def test_a_wrong_token_is_rejected_clearly_and_nothing_is_written(live):
    before = day_two_fingerprint(live)
    result = live.run(DAY_TWO, "ffpat_" + "x" * 43)
    message = assert_failed_and_nothing_changed(live, result, before)
    assert "FlowFuse rejected the token in $FLOWFUSE_TOKEN: HTTP 401 on GET /api/v1/admin/stats" in message
    assert "x" * 43 not in message


def test_a_stats_only_token_cannot_read_the_team_list(live):
    before = day_two_fingerprint(live)
    result = live.run(DAY_TWO, live.stats_token)
    message = assert_failed_and_nothing_changed(live, result, before)
    assert "FlowFuse refused (the token lacks the rights for this endpoint) the token in $FLOWFUSE_TOKEN: " in message
    assert "HTTP 403 on GET /api/v1/teams" in message
    assert "a stats-only token (ffu_...) reads only /api/v1/admin/stats" in message


def test_the_server_stopping_mid_run_fails_the_day_and_keeps_what_was_stored(live):
    """Last in this module: the platform stays down afterwards."""
    before = day_two_fingerprint(live)
    result = live.run(DAY_TWO, live.admin_token, ServerStopsMidRun)
    assert live.server.process.poll() is not None, "the server was stopped during the run"
    message = assert_failed_and_nothing_changed(live, result, before)
    assert f"GET /api/v1/admin/stats on {live.server.base_url} failed 4 times; last problem: ConnectError" in message
    assert "Is the platform up and reachable from here?" in message
    assert f"{DAY_TWO} failed" in message and "nothing was stored" in message


def test_without_node_the_test_fails_saying_what_to_install(tmp_path):
    with pytest.raises(PlatformUnavailable) as missing:
        node_tools(search_path=str(tmp_path))  # a PATH with neither node nor npm
    assert str(missing.value) == (
        f"the live FlowFuse integration test needs node and npm, not found on PATH. {INSTALL_HINT}."
    )
