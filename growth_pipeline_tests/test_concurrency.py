"""Overlapping backfills and single-day runs through a real Dagster instance: `dagster dev` (webserver,
daemon, queued run coordinator, one process per run) with the repository's own dagster.yaml, launched the
way the UI launches them (GraphQL), while `growth-pipeline backfill` runs in two terminals at the same time
(runs outside the run queue). All must succeed, the DuckDB writers must take turns (the `duckdb_writer`
pool), and every day must hold exactly one copy of its rows.

The expected rows come from the simulated platform itself (its team count per day), not from the pipeline.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import httpx
import pytest

from growth_pipeline.definitions import defs
from growth_pipeline.ingest.assets import WRITER_POOL
from growth_pipeline.runner import WarehouseBusy, read_only_warehouse
from growth_pipeline.settings import PROJECT_ROOT
from growth_pipeline.simulator.platform import SimulatedPlatform

from .conftest import query

PORTS = range(3180, 3190)  # this project's ports for servers started by tests
DAILY_ASSET_KEYS = ("raw_snapshot", "team_usage", "platform_metrics", "feature_adoption")
START = "2025-10-27"  # GROWTH_START_DATE for the instance under test: a short partition set


def days(first: str, last: str) -> list[str]:
    a, b = date.fromisoformat(first), date.fromisoformat(last)
    return [(a + timedelta(days=n)).isoformat() for n in range((b - a).days + 1)]


# Three overlapping range backfills (asset backfills, as the UI's Materialize > date range launches them)
# and single-day runs of the daily job, one of them twice, inside the ranges.
BACKFILLS = [days("2025-11-03", "2025-11-12"), days("2025-11-08", "2025-11-16"), days("2025-11-10", "2025-11-14")]
SINGLE_DAYS = ["2025-11-10", "2025-11-10", "2025-11-15"]
CLI_BACKFILLS = [("2025-11-05", "2025-11-14"), ("2025-11-12", "2025-11-16")]
EVERY_DAY = days("2025-11-03", "2025-11-16")
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
RUN_START, RUN_SUCCESS = dg.DagsterEventType.RUN_START, dg.DagsterEventType.RUN_SUCCESS
STEP_START, STEP_SUCCESS = dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.fail(f"no free port in {PORTS.start}-{PORTS.stop - 1} for dagster dev (this project's test ports)")


class Dagster:
    """GraphQL calls to a running `dagster dev`."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=30)

    def graphql(self, document: str, **variables) -> dict:
        response = self.http.post("/graphql", json={"query": document, "variables": variables})
        response.raise_for_status()
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    def ready(self) -> bool:
        try:
            data = self.graphql(
                "{ workspaceOrError { ... on Workspace { locationEntries { locationOrLoadError { __typename } } } } }"
            )
        except httpx.HTTPError:
            return False
        entries = data["workspaceOrError"].get("locationEntries") or []
        return any(
            e["locationOrLoadError"] and e["locationOrLoadError"]["__typename"] == "RepositoryLocation" for e in entries
        )

    def backfill(self, partitions: list[str]) -> str:
        data = self.graphql(
            """mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
                __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }""",
            params={"assetSelection": [{"path": [k]} for k in DAILY_ASSET_KEYS], "partitionNames": partitions},
        )["launchPartitionBackfill"]
        assert data["__typename"] == "LaunchBackfillSuccess", data
        return data["backfillId"]

    def run_day(self, day: str) -> str:
        data = self.graphql(
            """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
                __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }""",
            params={
                "selector": {
                    "repositoryLocationName": "growth_pipeline",
                    "repositoryName": "__repository__",
                    "jobName": "daily_usage_job",
                },
                "executionMetadata": {"tags": [{"key": "dagster/partition", "value": day}]},
            },
        )["launchRun"]
        assert data["__typename"] == "LaunchRunSuccess", data
        return data["run"]["runId"]

    def backfill_status(self, backfill_id: str) -> str:
        return self.graphql(
            "query($id: String!) { partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { status } } }",
            id=backfill_id,
        )["partitionBackfillOrError"]["status"]

    def runs(self) -> list[dict]:
        return self.graphql("{ runsOrError { ... on Runs { results { runId status tags { key value } } } } }")[
            "runsOrError"
        ]["results"]


@pytest.fixture(scope="module")
def concurrent_runs(tmp_path_factory):
    """Start `dagster dev`, launch every backfill and run at once, wait until all have finished."""
    work = tmp_path_factory.mktemp("concurrency")
    home = work / "dagster_home"
    home.mkdir()
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")  # the shipped instance settings
    database = work / "growth.duckdb"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "GROWTH_START_DATE": START,
        "GROWTH_DUCKDB_PATH": str(database),
        "GROWTH_SOURCE": "demo",
    }
    port = free_port()
    dagster_cli = Path(sys.executable).with_name("dagster")
    log = (work / "dagster_dev.log").open("w")
    server = subprocess.Popen(
        [str(dagster_cli), "dev", "-h", "127.0.0.1", "-p", str(port), "-w", str(PROJECT_ROOT / "workspace.yaml")],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stopped as a whole below
    )
    started = time.monotonic()
    try:
        dagster = Dagster(f"http://127.0.0.1:{port}")
        while not dagster.ready():
            assert server.poll() is None, f"dagster dev exited; see {log.name}"
            assert time.monotonic() - started < 180, f"dagster dev did not load the code location; see {log.name}"
            time.sleep(1)
        cli = Path(sys.executable).with_name("growth-pipeline")
        # Each terminal writes to a file, not a pipe: a run logs more than a pipe holds, and a process
        # blocked on a full pipe would hold its turn at DuckDB.
        terminal_logs = [work / f"terminal-{first}-{last}.log" for first, last in CLI_BACKFILLS]
        terminals = [
            subprocess.Popen(
                [str(cli), "backfill", first, last], env=env, stdout=out.open("w"), stderr=subprocess.STDOUT
            )
            for (first, last), out in zip(CLI_BACKFILLS, terminal_logs, strict=True)
        ]
        backfill_ids = [dagster.backfill(partitions) for partitions in BACKFILLS]
        run_ids = [dagster.run_day(day) for day in SINGLE_DAYS]
        codes = [t.wait(timeout=900) for t in terminals]
        cli_results = [(code, out.read_text()[-3000:]) for code, out in zip(codes, terminal_logs, strict=True)]
        while True:
            statuses = [dagster.backfill_status(b) for b in backfill_ids]
            runs = dagster.runs()
            if all(s != "REQUESTED" for s in statuses) and all(r["status"] in TERMINAL for r in runs):
                break
            assert time.monotonic() - started < 900, f"runs still going after 15 minutes: {statuses} {runs}"
            time.sleep(2)
        yield {
            "home": home,
            "database": database,
            "backfills": dict(zip(backfill_ids, statuses, strict=True)),
            "single_runs": run_ids,
            "cli": cli_results,
            "runs": runs,
            "seconds": time.monotonic() - started,
        }
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


@pytest.fixture(scope="module")
def instance(concurrent_runs):
    previous = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(concurrent_runs["home"])
    try:
        with dg.DagsterInstance.get() as opened:
            yield opened
    finally:
        if previous is None:
            del os.environ["DAGSTER_HOME"]
        else:
            os.environ["DAGSTER_HOME"] = previous


def test_every_backfill_and_run_succeeds(concurrent_runs, instance):
    print(f"\n{len(concurrent_runs['runs'])} runs finished {concurrent_runs['seconds']:.0f}s after dagster dev started")
    assert set(concurrent_runs["backfills"].values()) == {"COMPLETED_SUCCESS"}, concurrent_runs["backfills"]
    assert [code for code, _ in concurrent_runs["cli"]] == [0] * len(CLI_BACKFILLS), concurrent_runs["cli"]
    assert {r["status"] for r in concurrent_runs["runs"]} == {"SUCCESS"}
    # with the single-run backfill policy, each range backfill is one run
    backfill_tags = [
        tag["value"] for r in concurrent_runs["runs"] for tag in r["tags"] if tag["key"] == "dagster/backfill"
    ]
    assert sorted(backfill_tags) == sorted(concurrent_runs["backfills"])
    launched = {r["runId"] for r in concurrent_runs["runs"]}
    assert set(concurrent_runs["single_runs"]) <= launched
    # and each terminal's backfill is one run of the days, one of the ISO weeks they touch, and one of
    # the freshness checks
    assert len(launched) == len(BACKFILLS) + len(SINGLE_DAYS) + 3 * len(CLI_BACKFILLS)
    for run in concurrent_runs["runs"]:
        messages = [entry.message or "" for entry in instance.all_logs(run["runId"])]
        assert not [m for m in messages if "Could not set lock" in m], run["runId"]


def intervals(instance, run_id: str, start: dg.DagsterEventType, end: dg.DagsterEventType) -> list[tuple]:
    """(start time, end time, label) of the run, or of each of its steps, from the run's event log."""
    marks: dict[str, dict[dg.DagsterEventType, float]] = {}
    for entry in instance.all_logs(run_id, of_type={start, end}):
        marks.setdefault(entry.step_key or "run", {})[entry.dagster_event.event_type] = entry.timestamp
    return [(m[start], m[end], f"{run_id[:8]} {key}") for key, m in marks.items()]


def pooled_steps(job_name: str) -> set[str]:
    """The steps of a job that claim a `duckdb_writer` slot."""
    job = defs.resolve_job_def(job_name)
    return {node.name for node in job.graph.nodes if node.definition.pool == WRITER_POOL}


def test_runs_overlapped_but_the_duckdb_writers_took_turns(concurrent_runs, instance):
    run_ids = [r["runId"] for r in concurrent_runs["runs"]]
    runs = sorted(i for run_id in run_ids for i in intervals(instance, run_id, RUN_START, RUN_SUCCESS))
    overlapping = sum(1 for a, b in zip(runs, runs[1:], strict=False) if b[0] < a[1])
    assert overlapping >= 1, f"the runs never ran at the same time, so this test proved nothing: {runs}"

    # Every step of the daily and weekly jobs opens DuckDB, so each is in the pool (the freshness checks
    # read only Dagster's records): those steps, across all runs, must never overlap.
    pooled = {job: pooled_steps(job) for job in ("daily_usage_job", "weekly_growth_job", "freshness_checks_job")}
    assert pooled["freshness_checks_job"] == set()
    daily_runs = len(BACKFILLS) + len(SINGLE_DAYS) + len(CLI_BACKFILLS)
    expected = daily_runs * len(pooled["daily_usage_job"]) + len(CLI_BACKFILLS) * len(pooled["weekly_growth_job"])
    writers = {pooled_step for steps in pooled.values() for pooled_step in steps}
    steps = sorted(
        i
        for run_id in run_ids
        for i in intervals(instance, run_id, STEP_START, STEP_SUCCESS)
        if i[2].split(" ", 1)[1] in writers
    )
    assert len(steps) == expected
    clashes = [(a[2], b[2]) for a, b in zip(steps, steps[1:], strict=False) if b[0] < a[1]]
    assert clashes == [], "steps writing DuckDB ran at the same time: the duckdb_writer pool is not in effect"


def test_every_day_holds_exactly_one_copy_of_its_rows(concurrent_runs):
    database = concurrent_runs["database"]
    platform = SimulatedPlatform()
    expected_teams = {
        date.fromisoformat(d): platform.state_on(date.fromisoformat(d)).stats["teamCount"] for d in EVERY_DAY
    }

    assert dict(query(database, "SELECT snapshot_date, count(*) FROM raw_snapshots GROUP BY ALL")) == {
        d: 1 for d in expected_teams
    }
    assert dict(query(database, "SELECT snapshot_date, count(*) FROM team_usage GROUP BY ALL")) == expected_teams
    assert query(database, "SELECT count(*) - count(DISTINCT (snapshot_date, team_id)) FROM team_usage") == [(0,)]
    teams_metric = query(
        database, "SELECT snapshot_date, value FROM platform_metrics WHERE metric = 'teams' AND segment = 'all'"
    )
    assert dict(teams_metric) == {d: float(n) for d, n in expected_teams.items()}
    for table, key in (("platform_metrics", "metric, segment"), ("feature_adoption", "feature, tier")):
        assert query(database, f"SELECT count(*) - count(DISTINCT (snapshot_date, {key})) FROM {table}") == [(0,)]
        assert {d for (d,) in query(database, f"SELECT DISTINCT snapshot_date FROM {table}")} == set(expected_teams)


HOLD_WRITE_LOCK = """
import sys, time, duckdb
conn = duckdb.connect(sys.argv[1])
conn.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.close()
"""


def test_reading_outside_a_run_waits_for_a_writing_run_then_says_why_it_gave_up(tmp_path):
    """`growth-pipeline show` and the demo's check of stored days open DuckDB read-only, and wait for a
    process that holds the write lock instead of failing on "Could not set lock on file"."""
    database = tmp_path / "growth.duckdb"
    writer = subprocess.Popen(
        [sys.executable, "-c", HOLD_WRITE_LOCK, str(database), "3"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout.readline().strip() == "locked"
        with pytest.raises(WarehouseBusy) as busy, read_only_warehouse(database, wait_seconds=0.5):
            pass
        assert f"{database} is being written by another process (a Dagster run)" in str(busy.value)
        assert "Could not set lock" in str(busy.value)  # DuckDB's own words, naming the writing process

        waited = time.monotonic()
        with read_only_warehouse(database, wait_seconds=60) as conn:
            assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)
        assert time.monotonic() - waited > 1  # it waited for the writer to let go
    finally:
        writer.wait(timeout=30)
