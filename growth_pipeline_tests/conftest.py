"""Shared test helpers: captured FlowFuse responses, the simulated platform, and running the pipeline."""

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from contextlib import contextmanager
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from growth_pipeline.resources import CatalogResource, SnapshotSourceResource, Warehouse

FIXTURES = Path(__file__).parent / "data" / "flowfuse"
FLOWFUSE_VERSIONS = ("v2.4.0", "v2.33.2")
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def fixture_json(version: str, name: str):
    return json.loads((FIXTURES / version / name).read_text())


def pipeline_resources(database: Path, source: SnapshotSourceResource | None = None, catalog: str = "") -> dict:
    return {
        "warehouse": Warehouse(database=str(database)),
        "snapshot_source": source or SnapshotSourceResource(kind="demo"),
        "catalog": CatalogResource(path=catalog),
    }


def daily_assets():
    from growth_pipeline.definitions import DAILY_ASSETS

    return DAILY_ASSETS


def run_days(first: date, last: date, resources: dict, instance: dg.DagsterInstance | None = None, **kwargs):
    """Materialize the daily assets for [first, last] in one run, as a single-run backfill does."""
    return dg.materialize(
        daily_assets(),
        resources=resources,
        instance=instance,
        tags={RANGE_START: first.isoformat(), RANGE_END: last.isoformat()},
        **kwargs,
    )


def run_weeks(first_monday: date, last_monday: date, resources: dict, instance=None, assets=None, **kwargs):
    """Materialize the ISO weeks from ``first_monday`` to ``last_monday`` in one run (weekly_growth by default)."""
    from growth_pipeline.growth.assets import weekly_growth

    return dg.materialize(
        assets or [weekly_growth],
        resources=resources,
        instance=instance,
        tags={RANGE_START: first_monday.isoformat(), RANGE_END: last_monday.isoformat()},
        **kwargs,
    )


def query(database: Path, sql: str, params=()) -> list[tuple]:
    with duckdb.connect(str(database), read_only=True) as conn:
        return conn.execute(sql, list(params)).fetchall()


@contextmanager
def local_http_server(handle: Callable[[BaseHTTPRequestHandler], None]):
    """A real HTTP server on 127.0.0.1 (an ephemeral port) that answers every request with ``handle``."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            handle(self)

        do_POST = do_GET

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def validate_definitions(tmp_path: Path, **env: str) -> tuple[int, str]:
    """`dagster definitions validate` on the code location, as `dagster dev` loads it, with ``env`` set;
    returns its exit code and output."""
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    dagster = Path(sys.executable).with_name("dagster")
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-m", "growth_pipeline.definitions"],
        env={**os.environ, "DAGSTER_HOME": str(home), "NO_COLOR": "1", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result.returncode, result.stdout + result.stderr


@pytest.fixture
def warehouse(tmp_path) -> Path:
    return tmp_path / "growth.duckdb"
