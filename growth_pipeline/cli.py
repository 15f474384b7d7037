"""`growth-pipeline`: the demo, backfills and the weekly table from the command line.

    growth-pipeline demo                       build every missing day and week, print the latest growth
    growth-pipeline backfill 2026-01-01 2026-01-31   re-materialize those days and the weeks they touch
    growth-pipeline show                       print the latest weekly growth table
    growth-pipeline adoption                   print feature adoption: latest day, last 8 weeks, since launch
    growth-pipeline dashboard [--serve PORT]   write the product metrics dashboard (HTML) and print its path

Runs are recorded in the Dagster instance in DAGSTER_HOME (default .dagster_home), so `make ui` shows them.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from growth_pipeline import settings
from growth_pipeline.adoption.report import adoption_report
from growth_pipeline.catalog import load_catalog
from growth_pipeline.partitions import weekly_partitions
from growth_pipeline.runner import (
    RunFailed,
    WarehouseBusy,
    available_days,
    check_latest_partitions,
    contiguous_ranges,
    days_to_build,
    materialize_dashboard,
    materialize_days,
    materialize_weeks,
    one_planned_event_per_asset,
    project_instance,
    read_only_warehouse,
    weeks_to_build,
)

SIMULATED_BANNER = (
    "SIMULATED DATA: the demo source is a seeded simulator of a FlowFuse-like platform, not a real platform."
)


def _build(days: list[date], instance) -> tuple[int, int]:
    for first, last in contiguous_ranges(days):
        print(f"  days {first} to {last} ({(last - first).days + 1} partitions) ...", flush=True)
        materialize_days(first, last, instance)
    weeks = weeks_to_build(days, instance)
    for first, last in contiguous_ranges(weeks, step=timedelta(days=7)):
        print(f"  ISO weeks from {first} to {last + timedelta(days=6)} ...", flush=True)
        materialize_weeks(first, last, instance)
    check_latest_partitions(instance)
    return len(days), len(weeks)


def demo(_: argparse.Namespace) -> None:
    simulated = os.getenv("GROWTH_SOURCE", "demo") == "demo"
    if simulated:
        print(SIMULATED_BANNER)
    instance = project_instance()
    started = time.monotonic()
    all_days = available_days()
    todo = days_to_build(instance, settings.duckdb_path())
    print(
        f"{len(all_days)} daily partitions, {all_days[0]} to {all_days[-1]}; "
        f"{len(todo)} to build into {settings.duckdb_path()}"
    )
    with one_planned_event_per_asset() if simulated else contextlib.nullcontext():
        days, weeks = _build(todo, instance)
    complete_weeks = weekly_partitions(settings.start_date()).get_partition_keys()
    if complete_weeks and (not weeks or not settings.dashboard_path().exists()):
        materialize_dashboard(instance)  # the weekly job writes it; without new weeks, refresh its alerts here
    print(f"built {days} day(s) and {weeks} week(s) in {time.monotonic() - started:.0f}s\n")
    show(_)
    print()
    adoption(_)
    if complete_weeks:
        print(f"\nProduct metrics dashboard: {settings.dashboard_path().resolve().as_uri()} (or: make dashboard)")


def backfill(args: argparse.Namespace) -> None:
    first, last = date.fromisoformat(args.first), date.fromisoformat(args.last)
    if last < first:
        raise SystemExit(f"backfill: {last} is before {first}")
    existing = set(available_days())
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    outside = [d for d in days if d not in existing]
    if outside:
        raise SystemExit(
            f"backfill: {outside[0]} is not a daily partition (partitions run from {settings.start_date()} "
            "to yesterday, UTC)"
        )
    instance = project_instance()
    started = time.monotonic()
    built, weeks = _build(days, instance)
    print(f"backfilled {built} day(s) and {weeks} week(s) in {time.monotonic() - started:.0f}s")


def show(_: argparse.Namespace, weeks_of_history: int = 8) -> None:
    path = settings.duckdb_path()
    if not path.exists():
        raise SystemExit(f"no warehouse at {path} yet: run `make demo` (or `growth-pipeline demo`) first")
    catalog = load_catalog(os.getenv("GROWTH_CATALOG") or None)
    with read_only_warehouse(path) as conn:
        rows = conn.execute(
            """
            SELECT week_start, iso_week, metric, value, previous_value, wow_growth, band, growth_note
            FROM weekly_growth
            WHERE segment = 'all' AND week_start > (SELECT max(week_start) FROM weekly_growth) - INTERVAL (7 * ?) DAY
            ORDER BY metric, week_start
            """,
            [weeks_of_history],
        ).fetchall()
    if not rows:
        raise SystemExit("the weekly growth table is empty: run `make demo` first")
    latest_start, latest_week = max((r[0], r[1]) for r in rows)
    print(
        f"Week-on-week growth, latest complete ISO week {latest_week} "
        f"({latest_start} to {latest_start + timedelta(days=6)})"
    )
    print(
        f"{'metric':32} {'value':>9} {'previous':>9} {'WoW':>7}  {'band':15} WoW over the last {weeks_of_history} weeks"
    )
    for metric in catalog.metrics:
        history = [r for r in rows if r[2] == metric.key]
        if not history:
            continue
        latest = history[-1]
        trail = " ".join("   –  " if r[5] is None else f"{r[5]:+6.1%}" for r in history)
        wow = "–" if latest[5] is None else f"{latest[5]:+.1%}"
        level = "{:.1%}" if metric.is_rate else "{:,.0f}"  # adoption metrics are rates
        previous = "–" if latest[4] is None else level.format(latest[4])
        print(f"{metric.name:32} {level.format(latest[3]):>9} {previous:>9} {wow:>7}  {latest[6] or '–':15} {trail}")
    b = catalog.bands
    print(
        f"\nBands ({catalog.path.name}): exceptional >= {b.exceptional:.0%}, strong >= {b.strong:.0%}, "
        f"sustainable >= {b.sustainable:.0%}, okay > {b.okay:.0%}, not acceptable <= {b.okay:.0%}."
    )


def adoption(_: argparse.Namespace) -> None:
    """Feature adoption as stored: the latest day, the rate at the end of the last 8 weeks, and each
    feature's curve since its launch ("not tracked" before a feature's collected_from, never 0)."""
    path = settings.duckdb_path()
    if not path.exists():
        raise SystemExit(f"no warehouse at {path} yet: run `make demo` (or `growth-pipeline demo`) first")
    catalog = load_catalog(os.getenv("GROWTH_CATALOG") or None)
    with read_only_warehouse(path) as conn:
        last_day = conn.execute("SELECT max(snapshot_date) FROM feature_adoption").fetchone()[0]
        if last_day is None:
            raise SystemExit("the feature adoption table is empty: run `make demo` first")
        report = adoption_report(conn, catalog, last_day)
    print("\n\n".join(report.values()))


def dashboard(args: argparse.Namespace) -> None:
    """Write the dashboard of the latest week (a run of product_metrics_dashboard_job, with the alerts raised
    so far), print where it is, and with --serve show it on http://127.0.0.1:PORT until Ctrl-C."""
    instance = project_instance()
    materialize_dashboard(instance)
    path = settings.dashboard_path().resolve()
    print(f"Product metrics dashboard: {path}\nOpen it in a browser: {path.as_uri()}")
    if args.serve:
        serve_file(path, args.serve)


def serve_file(path: Path, port: int) -> None:
    """Serve the one file on 127.0.0.1 (nothing else from its folder: the warehouse is there too)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path not in ("/", f"/{path.name}"):
                self.send_error(404, "only the dashboard is served here")
                return
            body = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with ThreadingHTTPServer(("127.0.0.1", port), Handler) as server:
        print(f"Serving it on http://127.0.0.1:{port}/ (Ctrl-C to stop)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="growth-pipeline", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="build every missing day and week, then print the latest growth").set_defaults(
        handler=demo
    )
    fill = commands.add_parser("backfill", help="re-materialize the days FIRST..LAST and the weeks they touch")
    fill.add_argument("first", metavar="FIRST", help="first day, YYYY-MM-DD")
    fill.add_argument("last", metavar="LAST", help="last day, YYYY-MM-DD (inclusive)")
    fill.set_defaults(handler=backfill)
    commands.add_parser("show", help="print the latest weekly growth table").set_defaults(handler=show)
    commands.add_parser("adoption", help="print feature adoption tables").set_defaults(handler=adoption)
    board = commands.add_parser("dashboard", help="write the product metrics dashboard (HTML), print its path")
    board.add_argument("--serve", type=int, metavar="PORT", help="then serve it on http://127.0.0.1:PORT")
    board.set_defaults(handler=dashboard)
    args = parser.parse_args(argv)
    try:
        args.handler(args)
    except (RunFailed, WarehouseBusy) as failure:
        print(f"error: {failure}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
