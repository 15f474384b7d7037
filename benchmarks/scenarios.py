"""One benchmark measurement per process: `python -m benchmarks NAME --args JSON` (benchmarks/run.py calls it).

Each measurement runs in a fresh process so that its peak memory (RSS) is its own, and prints one line
``RESULT {json}`` for the driver (benchmarks/run.py). Runs go through a real Dagster instance in a
temporary DAGSTER_HOME configured by the repository's dagster.yaml (SQLite, as `make demo` and
`dagster dev` use), so Dagster's own bookkeeping is part of every figure.

GROWTH_START_DATE must be set before this module is imported: the daily partitions are built from it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from benchmarks import floor
from benchmarks.sources import ArchiveReplaySource, SizedDemoSource
from growth_pipeline.catalog import load_catalog
from growth_pipeline.definitions import DAILY_ASSETS
from growth_pipeline.ingest.assets import counters_to_collect
from growth_pipeline.ingest.fetching import fetch_days
from growth_pipeline.partitions import each_day
from growth_pipeline.resources import CatalogResource, SnapshotSourceResource, Warehouse
from growth_pipeline.runner import RANGE_END_TAG, RANGE_START_TAG
from growth_pipeline.settings import PROJECT_ROOT
from growth_pipeline.storage.warehouse import PARTITION_COLUMN, ensure_tables


class SizedDemoResource(SnapshotSourceResource):
    teams: int
    start: str

    def source(self) -> SizedDemoSource:
        return SizedDemoSource(self.teams, date.fromisoformat(self.start), self.demo_seed)

    def describe(self) -> str:
        return f"the simulated demo platform at {self.teams:,} teams"


class ArchiveReplayResource(SnapshotSourceResource):
    directory: str

    def source(self) -> ArchiveReplaySource:
        return ArchiveReplaySource(self.directory)

    def describe(self) -> str:
        return f"the snapshot archive in {self.directory}"


DERIVED_ASSETS = [asset for asset in DAILY_ASSETS if asset.key.to_user_string() != "raw_snapshot"]
TABLES = (
    "raw_snapshot_days",
    "raw_snapshot_pieces",
    "team_usage",
    "platform_metrics",
    "feature_adoption",
    "weekly_growth",
)


def peak_rss_mib() -> dict[str, float]:
    """Peak resident memory of this process and of its largest finished child process (a fetch pool
    worker, or Dagster's compute-log capture)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"peak_rss_mib": round(own, 1), "peak_child_rss_mib": round(children, 1)}


def instance_in(workdir: Path) -> dg.DagsterInstance:
    """A fresh SQLite Dagster instance configured by the repository's dagster.yaml."""
    home = workdir / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return dg.DagsterInstance.get()


def materialize_range(
    first: date,
    last: date,
    source: SnapshotSourceResource,
    database: Path,
    instance: dg.DagsterInstance,
    assets: list | None = None,
) -> dict[str, Any]:
    """One run over [first, last] (a single-run backfill); wall time and where it went, step by step."""
    resources = {
        "warehouse": Warehouse(database=str(database)),
        "snapshot_source": source,
        "catalog": CatalogResource(),
    }
    started = time.perf_counter()
    result = dg.materialize(
        assets or DAILY_ASSETS,
        resources=resources,
        instance=instance,
        tags={RANGE_START_TAG: first.isoformat(), RANGE_END_TAG: last.isoformat()},
        raise_on_error=False,
    )
    wall = time.perf_counter() - started
    if not result.success:
        failure = next(e for e in result.all_events if e.is_step_failure)
        raise SystemExit(f"run {result.run_id} failed: {failure.step_failure_data.error.message}")
    return {"seconds": round(wall, 3), "steps": step_seconds(instance, result.run_id)}


def step_seconds(instance: dg.DagsterInstance, run_id: str) -> dict[str, dict[str, float]]:
    """Per step: the asset body's time (start to its output) and the whole step's (with the per-partition
    materialization events Dagster writes after the body returns)."""
    marks: dict[str, dict[str, float]] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or not entry.step_key:
            continue
        kind = event.event_type_value
        if kind in ("STEP_START", "STEP_OUTPUT", "STEP_SUCCESS"):
            marks.setdefault(entry.step_key, {}).setdefault(kind, entry.timestamp)
    return {
        step: {
            "body": round(m["STEP_OUTPUT"] - m["STEP_START"], 3),
            "step": round(m["STEP_SUCCESS"] - m["STEP_START"], 3),
        }
        for step, m in marks.items()
        if {"STEP_START", "STEP_OUTPUT", "STEP_SUCCESS"} <= m.keys()
    }


# ----------------------------------------------------------------------------------------- scenarios


def archive(teams: int, sim_start: str, first: str, last: str, directory: str) -> dict[str, Any]:
    """Write the simulated platform's snapshots for [first, last], one JSON file per day (set-up, not timed
    in the table): the pipeline's own fetch code, checked, with its process pool."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    catalog = load_catalog()
    days = each_day(date.fromisoformat(first), date.fromisoformat(last) + timedelta(days=1))
    started = time.perf_counter()
    source = SizedDemoSource(teams, date.fromisoformat(sim_start))
    for snapshot in fetch_days(source, days, lambda d: counters_to_collect(catalog, d), origin="benchmark"):
        (target / f"{snapshot.day.isoformat()}.json").write_text(snapshot.document_json)
    return {"seconds": round(time.perf_counter() - started, 3), "days": len(days)}


def one_day(teams: int, sim_start: str, day: str, workdir: str) -> dict[str, Any]:
    """A daily run of every daily asset on an empty warehouse, fetched from the sized simulated platform."""
    work = Path(workdir)
    source = SizedDemoResource(teams=teams, start=sim_start)
    the_day = date.fromisoformat(day)
    figures = materialize_range(the_day, the_day, source, work / "growth.duckdb", instance_in(work))
    return {**figures, **peak_rss_mib()}


def backfill(archive_dir: str, first: str, last: str, workdir: str, derived_only: bool = False) -> dict[str, Any]:
    """A single-run backfill of [first, last] replaying the archive (or re-deriving stored raw rows)."""
    work = Path(workdir)
    figures = materialize_range(
        date.fromisoformat(first),
        date.fromisoformat(last),
        ArchiveReplayResource(directory=archive_dir),
        work / "growth.duckdb",
        instance_in(work),
        DERIVED_ASSETS if derived_only else None,
    )
    return {**figures, **peak_rss_mib()}


def per_partition(archive_dir: str, days: list[str], workdir: str) -> dict[str, Any]:
    """One run per day, as Dagster backfills without a single-run policy, in one warm process."""
    work = Path(workdir)
    instance = instance_in(work)
    source = ArchiveReplayResource(directory=archive_dir)
    runs = []
    for day in map(date.fromisoformat, days):
        runs.append(materialize_range(day, day, source, work / "growth.duckdb", instance)["seconds"])
    return {"run_seconds": runs, **peak_rss_mib()}


def history(archive_dir: str, base_database: str, history_days: int, days: list[str], workdir: str) -> dict[str, Any]:
    """Daily runs on top of ``history_days`` of stored history (copied from a backfilled year, shifted
    back whole weeks), each run adding the next day."""
    work = Path(workdir)
    database = work / "growth.duckdb"
    first_new = date.fromisoformat(days[0])
    fill_history(Path(base_database), database, first_new - timedelta(days=history_days), first_new)
    instance = instance_in(work)
    source = ArchiveReplayResource(directory=archive_dir)
    runs = [materialize_range(d, d, source, database, instance) for d in map(date.fromisoformat, days)]
    with duckdb.connect(str(database), read_only=True) as conn:
        stored = conn.execute("SELECT count(DISTINCT snapshot_date), count(*) FROM team_usage").fetchone()
    return {"runs": runs, "stored_days": stored[0], "team_usage_rows": stored[1], **peak_rss_mib()}


def fill_history(base: Path, database: Path, first: date, end: date) -> None:
    """Copy the base warehouse's days into [first, end), repeating them shifted back by whole weeks."""
    with duckdb.connect(str(base), read_only=True) as conn:
        base_first, base_end = conn.execute(
            "SELECT min(snapshot_date), max(snapshot_date) + 1 FROM raw_snapshots"
        ).fetchone()
    span = (base_end - base_first).days // 7 * 7  # whole weeks, so weekday rhythms and ISO weeks line up
    base_first = base_end - timedelta(days=span)
    with duckdb.connect(str(database)) as conn:
        ensure_tables(conn)
        conn.execute(f"ATTACH '{base}' AS base (READ_ONLY)")
        shift = (base_end - end).days
        while base_end - timedelta(days=shift) > first:  # one contiguous block of dates per copy
            copy_first = max(first, base_first - timedelta(days=shift))
            copy_end = base_end - timedelta(days=shift)
            for table in TABLES:
                key = PARTITION_COLUMN[table]
                conn.execute(
                    f"INSERT INTO {table} SELECT * REPLACE ({key} - {shift} AS {key}) FROM base.{table} "
                    f"WHERE {key} >= ? AND {key} < ?",
                    [copy_first + timedelta(days=shift), copy_end + timedelta(days=shift)],
                )
            shift += span
        conn.execute("DETACH base")


def floor_sql(base_database: str, first: str, last: str, workdir: str) -> dict[str, Any]:
    """The derivations as plain DuckDB SQL over the same raw rows: the floor for the pipeline's."""
    work = Path(workdir)
    database = work / "floor.duckdb"
    with duckdb.connect(str(database)) as conn:
        conn.execute(f"ATTACH '{base_database}' AS base (READ_ONLY)")
        conn.execute(
            "CREATE TABLE raw_snapshots AS SELECT * FROM base.raw_snapshots WHERE snapshot_date BETWEEN ? AND ?",
            [first, last],
        )
        conn.execute("DETACH base")
        seconds = floor.derive(conn, load_catalog())
        matches = floor.compare_with(conn, base_database, first, last)
    return {
        "seconds": round(sum(seconds.values()), 3),
        "tables": seconds,
        "matches_pipeline": matches,
        **peak_rss_mib(),
    }


SCENARIOS = {f.__name__: f for f in (archive, one_day, backfill, per_partition, history, floor_sql)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--args", default="{}", help="the scenario's keyword arguments, as JSON")
    options = parser.parse_args(argv)
    result = SCENARIOS[options.scenario](**json.loads(options.args))
    print("RESULT " + json.dumps(result), flush=True)
