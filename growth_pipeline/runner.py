"""Materializing ranges of days and weeks through the project's Dagster instance.

Each Dagster run costs seconds, so history is never materialized one day per run: a contiguous range of
days is one run of the daily job (a single-run backfill), and the weeks it touches are one run of the
weekly job. The runs are recorded in the instance (DAGSTER_HOME), so `dagster dev` afterwards shows every
partition materialized, with its run.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb

from growth_pipeline import settings
from growth_pipeline.partitions import daily_partitions, weekly_partitions

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"

# The terminal shows what the assets say (INFO and up); Dagster's per-event DEBUG lines (one per day per
# asset and check: thousands in a history run) stay in the instance, where the UI shows them.
TERMINAL_LOGS = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


@contextmanager
def one_planned_event_per_asset() -> Iterator[None]:
    """Have Dagster record one "planned" event per asset for a range run, not one per day (its
    DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS switch): 53 of the demo's 219 s first build here. The price:
    if such a run fails, its days show as missing in the UI rather than failed, so only the demo's build of
    the simulator, which has no bad days, uses it; `make backfill` and the UI's backfills keep one per day."""
    name = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"
    before = os.environ.get(name)
    os.environ[name] = "true"
    try:
        yield
    finally:
        if before is None:
            del os.environ[name]
        else:
            os.environ[name] = before


class RunFailed(RuntimeError):
    """A Dagster run of the pipeline failed; the message carries the step's error."""


class WarehouseBusy(RuntimeError):
    """The DuckDB file stayed locked by a writing process (a run) for longer than we were willing to wait."""


@contextmanager
def read_only_warehouse(path: Path, wait_seconds: float = 60.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """The DuckDB file, opened read-only: code outside a run never writes it.

    DuckDB locks the file for one writing process, and a reader cannot open it while a run writes (nor
    can a run open it while a reader holds it; the runs' Warehouse retries for a while). So a reader
    opens it only briefly, and waits up to ``wait_seconds`` for a writing run instead of failing on
    DuckDB's "Could not set lock on file".
    """
    deadline = time.monotonic() + wait_seconds
    delay = 0.1
    while True:
        try:
            conn = duckdb.connect(str(path), read_only=True)
            break
        except duckdb.IOException as error:
            if "Could not set lock" not in str(error):
                raise
            if time.monotonic() >= deadline:
                raise WarehouseBusy(
                    f"{path} is being written by another process (a Dagster run) and stayed locked for "
                    f"{wait_seconds:.0f}s; try again when the run has finished. DuckDB said: {error}"
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
    try:
        yield conn
    finally:
        conn.close()


def project_instance() -> dg.DagsterInstance:
    """The instance in DAGSTER_HOME (default: .dagster_home in the project, set up from dagster.yaml)."""
    if not os.getenv("DAGSTER_HOME"):
        home = settings.PROJECT_ROOT / ".dagster_home"
        home.mkdir(exist_ok=True)
        shutil.copyfile(settings.PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
        os.environ["DAGSTER_HOME"] = str(home)
    return dg.DagsterInstance.get()


def _run(job_name: str, first_key: str, last_key: str, instance: dg.DagsterInstance) -> None:
    from growth_pipeline.definitions import defs

    result = defs.resolve_job_def(job_name).execute_in_process(
        run_config=TERMINAL_LOGS,
        instance=instance,
        tags={RANGE_START_TAG: first_key, RANGE_END_TAG: last_key},
        raise_on_error=False,
    )
    _raise_if_failed(result, f"{job_name} failed for {first_key}...{last_key}")


def _raise_if_failed(result: dg.ExecuteInProcessResult, what: str) -> None:
    if not result.success:
        errors = [
            event.step_failure_data.error.message.strip()
            for event in result.all_events
            if event.is_step_failure and event.step_failure_data.error
        ]
        raise RunFailed(f"{what} (run {result.run_id}): " + " | ".join(errors))


def materialize_days(first: date, last: date, instance: dg.DagsterInstance) -> None:
    """One run of the daily job over [first, last] (inclusive)."""
    _run("daily_usage_job", first.isoformat(), last.isoformat(), instance)


def weeks_to_build(changed_days: list[date], instance: dg.DagsterInstance) -> list[date]:
    """Mondays of complete ISO weeks whose rollups are missing or read a changed day: a week's 13-week
    rate and streak read every earlier week, so a changed day affects its week and every week after it."""
    from growth_pipeline.definitions import WEEKLY_ASSETS

    mondays = [date.fromisoformat(k) for k in weekly_partitions(settings.start_date()).get_partition_keys()]
    recorded = set(mondays)
    for asset in WEEKLY_ASSETS:
        recorded &= {date.fromisoformat(k) for k in instance.get_materialized_partitions(asset.key)}
    first_touched = min((day - timedelta(days=day.weekday()) for day in changed_days), default=date.max)
    return [m for m in mondays if m not in recorded or m >= first_touched]


def materialize_weeks(first_monday: date, last_monday: date, instance: dg.DagsterInstance) -> None:
    """One run of the weekly job over the weeks from ``first_monday`` to ``last_monday`` (inclusive)."""
    _run("weekly_growth_job", first_monday.isoformat(), last_monday.isoformat(), instance)


def materialize_dashboard(instance: dg.DagsterInstance) -> None:
    """One run of the dashboard job: the HTML file of the latest week, with the alerts raised so far."""
    from growth_pipeline.definitions import dashboard_job, defs

    result = defs.resolve_job_def(dashboard_job.name).execute_in_process(
        run_config=TERMINAL_LOGS, instance=instance, raise_on_error=False
    )
    _raise_if_failed(result, f"{dashboard_job.name} failed")


def check_latest_partitions(instance: dg.DagsterInstance) -> None:
    """One run of every asset's latest_partition_present check. It is kept out of the partitioned jobs
    (see definitions.py); a failed check is reported in the UI, it does not fail the run."""
    from growth_pipeline.definitions import defs, freshness_checks_job

    defs.resolve_job_def(freshness_checks_job.name).execute_in_process(run_config=TERMINAL_LOGS, instance=instance)


def available_days() -> list[date]:
    """Every daily partition that exists now: the start date up to yesterday (UTC)."""
    return [date.fromisoformat(k) for k in daily_partitions(settings.start_date()).get_partition_keys()]


def days_to_build(instance: dg.DagsterInstance, warehouse: Path) -> list[date]:
    """Days not yet stored in the warehouse, or not recorded as materialized in the instance."""
    days = available_days()
    stored: set[date] = set()
    if warehouse.exists():
        with read_only_warehouse(warehouse) as conn:
            if conn.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = 'raw_snapshots'"
            ).fetchone()[0]:
                stored = {row[0] for row in conn.execute("SELECT DISTINCT snapshot_date FROM raw_snapshots").fetchall()}
    from growth_pipeline.definitions import DAILY_ASSETS

    recorded = set(days)
    for asset in DAILY_ASSETS:
        keys = instance.get_materialized_partitions(asset.key)
        recorded &= {date.fromisoformat(k) for k in keys}
    return [d for d in days if d not in stored or d not in recorded]


def contiguous_ranges(days: list[date], step: timedelta = timedelta(days=1)) -> Iterator[tuple[date, date]]:
    """Group sorted dates into inclusive (first, last) runs, each date ``step`` after the one before."""
    if not days:
        return
    first = previous = days[0]
    for day in days[1:]:
        if day != previous + step:
            yield first, previous
            first = day
        previous = day
    yield first, previous
