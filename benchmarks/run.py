"""The backfill benchmark: `make benchmark` (or `python -m benchmarks.run [--quick]`). Prints a table.

It builds a simulated platform of a given size and measures, each as the median of several runs in fresh
processes (so that each peak RSS is its own):

- a one-day run of every daily asset at 1k, 10k and 100k teams, fetched from the simulated platform
  through the real HTTP client (the demo's daily path);
- a 364-day (52-week) backfill at 10k teams in one run (single-run backfill policy), replaying stored
  snapshots from an archive, as a real backfill does; the same days re-derived from the stored raw rows
  (after a fix to a derivation); and a sample of one-run-per-day runs of the same job, in one warm process
  and each in its own process (as Dagster's daemon launches runs), scaled to 364 days;
- a daily run on top of 3 months and of 3 years of stored history;
- the derivations as plain DuckDB SQL over the same raw rows (the floor).

Runs use a real SQLite Dagster instance configured by dagster.yaml. The archive (written once from the
simulated platform by the pipeline's own fetch code) is cached in data/benchmark-cache/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CACHE = PROJECT_ROOT / "data" / "benchmark-cache"


@dataclass(frozen=True)
class Sizes:
    one_day_teams: tuple[int, ...]
    backfill_teams: int
    backfill_days: int  # whole weeks
    sample_days: int  # per-partition runs timed in one warm process
    cold_runs: int  # per-partition runs timed each in its own process
    history_days: tuple[int, int]  # "3 months", "3 years": whole weeks
    repeats: int


FULL = Sizes((1_000, 10_000, 100_000), 10_000, 364, 7, 4, (91, 1092), 3)
QUICK = Sizes((200, 1_000), 500, 28, 3, 2, (14, 56), 1)


# The days measured are fixed (so the archive is written once and reused): the backfill's weeks end on
# Wednesday 2026-11-25 and three new days follow them for the daily runs on top of stored history.
LAST_DAY = date(2026, 11, 28)


class Calendar:
    def __init__(self, sizes: Sizes) -> None:
        self.new_days = [LAST_DAY - timedelta(days=2 - n) for n in range(3)]
        self.base_end = self.new_days[0]  # exclusive
        self.base_first = self.base_end - timedelta(days=sizes.backfill_days)
        self.start = self.base_end - timedelta(days=max(sizes.history_days))  # GROWTH_START_DATE
        self.archive_last = self.new_days[-1]


def scenario(name: str, env: dict[str, str], logs: Path, **args: Any) -> dict[str, Any]:
    """Run one measurement in a fresh process; its log goes to ``logs``/<name>.log."""
    logs.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with (logs / f"{name}.log").open("a") as log:
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks", name, "--args", json.dumps(args)],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        raise SystemExit(f"{name} failed (exit {done.returncode}); see {logs / f'{name}.log'}\n{done.stdout[-2000:]}")
    return {**json.loads(lines[-1][len("RESULT ") :]), "process_seconds": time.perf_counter() - started}


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    memory = next(
        line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    versions = ", ".join(f"{p} {version(p)}" for p in ("dagster", "duckdb", "pandas"))
    return (
        f"{cpu}, {os.cpu_count()} cores, {int(memory) / 2**20:.0f} GiB; Python {platform.python_version()}, {versions}"
    )


def median(values: list[float]) -> float:
    return statistics.median(values)


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, ...]] = []

    def add(
        self, what: str, teams: int, days: int, results: list[dict], note: str, seconds: list[float] | None = None
    ) -> None:
        """A row: the median of ``seconds`` (default: each result's), the peak RSS over ``results``."""
        seconds = seconds or [r["seconds"] for r in results]
        spread = f"{min(seconds):.1f}-{max(seconds):.1f}" if len(seconds) > 1 else ""
        own = max(r["peak_rss_mib"] for r in results)
        child = max(r.get("peak_child_rss_mib", 0) for r in results)
        memory = f"{own:,.0f}" + (f" / {child:,.0f}" if child else "")
        self.rows.append(
            (what, f"{teams:,}", f"{days:,}", f"{median(seconds):.1f}", spread, str(len(seconds)), memory, note)
        )
        print(f"  {what}: median {median(seconds):.1f}s {note}", flush=True)

    def markdown(self) -> str:
        head = (
            "measurement",
            "teams",
            "days",
            "median s",
            "min-max s",
            "runs",
            "peak RSS MiB (run / largest child)",
            "note",
        )
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines)


class Benchmark:
    """The measurements, in order; each adds its rows to the table and keeps the figures the targets need."""

    def __init__(self, sizes: Sizes, repeats: int, work: Path) -> None:
        self.sizes, self.repeats, self.work = sizes, repeats, work
        self.calendar = Calendar(sizes)
        self.env = {**os.environ, "GROWTH_START_DATE": str(self.calendar.start), "PYTHONPATH": str(PROJECT_ROOT)}
        self.env.pop("DAGSTER_HOME", None)
        self.table = Table()
        self.figures: dict[str, float] = {}

    def run(self, name: str, workdir: Path, **args: Any) -> dict[str, Any]:
        return scenario(name, self.env, workdir, workdir=str(workdir), **args)

    def one_day(self) -> None:
        """A daily run of every daily asset at each size, fetched from the simulated platform (whose own
        population lives in the run's process), and at the largest size also replayed from a stored snapshot
        (the pipeline alone, as with a live platform or the archive)."""
        day, start = self.calendar.archive_last, str(self.calendar.start)
        for teams in self.sizes.one_day_teams:
            results = [
                self.run("one_day", self.work / f"one-day-{teams}-{n}", teams=teams, sim_start=start, day=str(day))
                for n in range(self.repeats)
            ]
            fetch = median([r["steps"]["raw_snapshot"]["body"] for r in results])
            note = f"fetching the snapshot: {fetch:.1f}s of it"
            self.table.add("one-day run, all daily assets (demo source)", teams, 1, results, note)
        teams = max(self.sizes.one_day_teams)
        archive = {"archive_dir": str(self.archive(teams, day, day)), "first": str(day), "last": str(day)}
        results = [self.run("backfill", self.work / f"one-day-replay-{n}", **archive) for n in range(self.repeats)]
        note = "the pipeline alone: no simulator in the process"
        self.table.add("one-day run, all daily assets (stored snapshot)", teams, 1, results, note)
        self.figures["one_day_rss"] = max(r["peak_rss_mib"] for r in results)

    def archive(self, teams: int, first: date, last: date) -> Path:
        """The simulated platform's snapshots for [first, last], one JSON file per day (cached)."""
        directory = CACHE / f"archive-{teams}-teams-{first}-{last}"
        wanted = (last - first).days + 1
        if directory.exists() and len(list(directory.glob("*.json"))) == wanted:
            return directory
        print(f"writing the archive: {wanted} day(s) at {teams:,} teams from the simulated platform (once) ...")
        result = scenario(
            "archive",
            self.env,
            self.work,
            teams=teams,
            sim_start=str(self.calendar.start),
            first=str(first),
            last=str(last),
            directory=str(directory),
        )
        print(f"  archive written in {result['seconds']:.0f}s", flush=True)
        return directory

    def backfills(self, archive: Path) -> Path:
        """A year of days in one run, re-derived in one run, and one run per day; returns the backfilled
        warehouse (the base of the history and floor measurements)."""
        teams, days = self.sizes.backfill_teams, self.sizes.backfill_days
        first, last = self.calendar.base_first, self.calendar.base_end - timedelta(days=1)
        span = {"archive_dir": str(archive), "first": str(first), "last": str(last)}

        single = [self.run("backfill", self.work / f"backfill-{n}", **span) for n in range(self.repeats)]
        bodies = {step: median([r["steps"][step]["body"] for r in single]) for step in single[0]["steps"]}
        note = "asset bodies: " + ", ".join(f"{step} {seconds:.1f}s" for step, seconds in bodies.items())
        self.table.add("backfill in one run (archive replay)", teams, days, single, note)
        self.figures["single"] = median([r["seconds"] for r in single])
        self.figures["derive_bodies"] = sum(bodies[s] for s in ("team_usage", "platform_metrics", "feature_adoption"))
        base = self.work / f"backfill-{self.repeats - 1}" / "growth.duckdb"

        rederived = []
        for n in range(self.repeats):
            copy = self.work / f"rederive-{n}"
            copy.mkdir(parents=True)
            shutil.copyfile(base, copy / "growth.duckdb")
            rederived.append(self.run("backfill", copy, derived_only=True, **span))
        self.table.add("re-derive in one run (raw already stored)", teams, days, rederived, "the 3 derived assets")
        self.figures["rederive"] = median([r["seconds"] for r in rederived])

        step = max(1, days // self.sizes.sample_days)
        sample = [str(first + timedelta(days=step * k)) for k in range(self.sizes.sample_days)]
        archive_dir = str(archive)
        warm = [
            self.run("per_partition", self.work / f"per-partition-{n}", archive_dir=archive_dir, days=sample)
            for n in range(self.repeats)
        ]
        per_run = [seconds for r in warm for seconds in r["run_seconds"]]
        self.figures["warm"] = median(per_run) * days
        note = f"x {days} days = {self.figures['warm']:.0f}s"
        self.table.add("one run per day, in one warm process (sample)", teams, 1, warm, note, per_run)
        cold_dir = self.work / "per-partition-cold"
        cold = [
            self.run("per_partition", cold_dir, archive_dir=archive_dir, days=[day])
            for day in sample[: self.sizes.cold_runs]
        ]
        per_process = [r["process_seconds"] for r in cold]
        self.figures["cold"] = median(per_process) * days
        note = f"x {days} days = {self.figures['cold']:.0f}s"
        self.table.add("one run per day, a process per run (sample)", teams, 1, cold, note, per_process)
        return base

    def history(self, archive: Path, base: Path) -> None:
        """Daily runs on top of "3 months" and "3 years" of stored history."""
        for history_days in self.sizes.history_days:
            result = self.run(
                "history",
                self.work / f"history-{history_days}",
                archive_dir=str(archive),
                base_database=str(base),
                history_days=history_days,
                days=[str(d) for d in self.calendar.new_days],
            )
            runs = result["runs"]
            bodies = {step: median([r["steps"][step]["body"] for r in runs]) for step in runs[0]["steps"]}
            note = f"{result['team_usage_rows']:,} team rows stored; asset bodies: " + ", ".join(
                f"{step} {seconds:.1f}s" for step, seconds in bodies.items()
            )
            what = f"daily run on {history_days} days of history (archive)"
            self.table.add(what, self.sizes.backfill_teams, 1, [{**r, **result} for r in runs], note)
            self.figures[f"history_{history_days}"] = median([r["seconds"] for r in runs])

    def floor(self, base: Path) -> None:
        """The three derived tables as plain DuckDB SQL over the backfilled raw rows."""
        first, last = self.calendar.base_first, self.calendar.base_end - timedelta(days=1)
        floors = [
            self.run("floor_sql", self.work / f"floor-{n}", base_database=str(base), first=str(first), last=str(last))
            for n in range(self.repeats)
        ]
        differing = {table for r in floors for table, same in r["matches_pipeline"].items() if not same}
        note = f"DIFFERS from the pipeline in {sorted(differing)}" if differing else "the same rows as the pipeline"
        teams, days = self.sizes.backfill_teams, self.sizes.backfill_days
        self.table.add("plain DuckDB SQL, the 3 derived tables", teams, days, floors, note)
        self.figures["floor"] = median([r["seconds"] for r in floors])

    def targets(self) -> str:
        f, sizes = self.figures, self.sizes
        short, long = (f[f"history_{d}"] for d in sizes.history_days)
        biggest = max(sizes.one_day_teams)
        lines = [
            f"- {sizes.backfill_days}-day backfill at {sizes.backfill_teams:,} teams in one run: "
            f"{f['single']:.0f}s (target: well under 120s)",
            f"- one run per day instead: {f['warm']:.0f}s in one warm process ({f['warm'] / f['single']:.1f}x), "
            f"{f['cold']:.0f}s with a process per run ({f['cold'] / f['single']:.1f}x) (target: >= 20x)",
            f"- daily run on {sizes.history_days[1]} / on {sizes.history_days[0]} days of history: "
            f"{long:.1f}s / {short:.1f}s = {long / short:.2f}x (target: <= 1.25x)",
            f"- peak RSS of a one-day run at {biggest:,} teams (stored snapshot): {f['one_day_rss']:,.0f} MiB "
            "(target: under 1,024 MiB; with the simulator in the process: see the table)",
            f"- the pipeline's derivations (asset bodies) / plain SQL: {f['derive_bodies']:.1f}s / "
            f"{f['floor']:.1f}s = {f['derive_bodies'] / f['floor']:.1f}x (target: <= 3x); "
            f"the whole re-derive run / plain SQL: {f['rederive'] / f['floor']:.1f}x",
        ]
        return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one run each: to check the script")
    parser.add_argument("--repeats", type=int, help="runs per measurement (default 3, or 1 with --quick)")
    parser.add_argument("--keep", action="store_true", help="keep the work directories in data/benchmark-work")
    options = parser.parse_args(argv)
    sizes = QUICK if options.quick else FULL
    work = PROJECT_ROOT / "data" / "benchmark-work"
    shutil.rmtree(work, ignore_errors=True)
    started, loads = time.monotonic(), [load()]
    print(f"machine: {machine()}\nload average (1, 5, 15 min) at the start: {loads[0]}", flush=True)

    benchmark = Benchmark(sizes, options.repeats or sizes.repeats, work)
    benchmark.one_day()
    archive = benchmark.archive(sizes.backfill_teams, benchmark.calendar.base_first, benchmark.calendar.archive_last)
    base = benchmark.backfills(archive)
    benchmark.history(archive, base)
    benchmark.floor(base)

    loads.append(load())
    print(f"\n{benchmark.table.markdown()}\n\nAgainst the targets:\n{benchmark.targets()}\n")
    print(f"machine: {machine()}")
    print(f"load average (1, 5, 15 min): {loads[0]} at the start, {loads[1]} at the end")
    print(f"{time.monotonic() - started:.0f}s in all")
    if not options.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
