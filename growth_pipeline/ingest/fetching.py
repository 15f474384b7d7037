"""Fetching and checking many days' snapshots, in parallel where the source allows it.

A range of days from a reproducible source (the simulator; an archive) is fetched by a pool of worker
processes, since building and reading a snapshot is CPU-bound Python. Results come back strictly in day
order, so the caller can store each day as it arrives and a bad day stops the range with every earlier
day stored. A live platform only ever serves one day, so it never needs the pool.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import Any

from growth_pipeline.ingest.snapshot import check_snapshot
from growth_pipeline.ingest.sources import SnapshotSource

CounterPlan = Callable[[date], Mapping[str, Iterable[str]]]


class DayFailed(RuntimeError):
    """One day of a range could not be fetched or was unsound; the days before it were stored."""

    def __init__(self, day: date, cause: BaseException) -> None:
        super().__init__(f"{day.isoformat()} failed: {cause}")
        self.day = day


@dataclass(frozen=True)
class FetchedSnapshot:
    """A checked snapshot document, serialised, with the few fields the caller stores beside it."""

    day: date
    document_json: str
    taken_at: str
    source_kind: str
    simulated: bool
    teams: int
    stats: dict[str, Any]


def fetch_checked(
    source: SnapshotSource, day: date, counters: Mapping[str, Iterable[str]], origin: str
) -> FetchedSnapshot:
    """One day's document, checked and serialised (in a worker process, for ranges)."""
    document = source.snapshot(day, counters)
    check_snapshot(document, day, origin)
    return FetchedSnapshot(
        day=day,
        document_json=json.dumps(document),
        taken_at=document["taken_at"],
        source_kind=document["source"]["kind"],
        simulated=bool(document["source"].get("simulated", False)),
        teams=len(document["teams"]),
        stats=document["stats"],
    )


def fetch_days(
    source: SnapshotSource, days: list[date], plan: CounterPlan, origin: str, workers: int | None = None
) -> Iterator[FetchedSnapshot]:
    """Yield each day's checked snapshot in day order; raise DayFailed at the first day that fails."""
    workers = min(workers or os.cpu_count() or 1, len(days))
    if workers <= 1 or not getattr(source, "reproducible", False):
        for day in days:
            try:
                yield fetch_checked(source, day, plan(day), origin)
            except Exception as exc:
                raise DayFailed(day, exc) from exc
        return

    # Spawned (not forked) workers: the parent holds a DuckDB connection and Dagster's threads.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        pending: deque[tuple[date, Future[FetchedSnapshot]]] = deque()
        upcoming = iter(days)
        try:
            for day in upcoming:
                pending.append((day, pool.submit(fetch_checked, source, day, plan(day), origin)))
                if len(pending) >= 2 * workers:
                    yield _next_result(pending)
            while pending:
                yield _next_result(pending)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _next_result(pending: deque[tuple[date, Future[FetchedSnapshot]]]) -> FetchedSnapshot:
    day, future = pending.popleft()
    try:
        return future.result()
    except Exception as exc:
        raise DayFailed(day, exc) from exc
