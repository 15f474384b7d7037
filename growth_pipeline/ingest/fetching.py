"""Fetching and checking many days' snapshots, in parallel where the source allows it.

A range of days from a reproducible source (the simulator; an archive) is fetched by a pool of worker
processes, since building and reading a snapshot is CPU-bound Python. Results come back strictly in day
order, so the caller can store each day as it arrives. A day that fails (missing from the archive, unsound)
comes back as a ``FailedDay`` in its place and the range goes on: one run reports every bad day of a range,
and the good days around a hole are stored. A live platform only ever serves one day, so it never needs
the pool.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from growth_pipeline.ingest.archive import ArchiveError
from growth_pipeline.ingest.flowfuse_api import FlowFuseAPIError
from growth_pipeline.ingest.snapshot import SnapshotError, check_snapshot, parse_timestamp
from growth_pipeline.ingest.sources import SnapshotSource, SourceRefused

CounterPlan = Callable[[date], Mapping[str, Iterable[str]]]


@dataclass(frozen=True)
class FailedDay:
    """A day that could not be fetched or was unsound, and why (the message names the file, URL or field)."""

    day: date
    reason: str

    def __str__(self) -> str:
        return f"{self.day.isoformat()} failed: {self.reason}"

    @classmethod
    def because(cls, day: date, exc: Exception) -> FailedDay:
        """Our own errors already say what is wrong and where; anything else also needs its type."""
        explained = isinstance(exc, ArchiveError | FlowFuseAPIError | SnapshotError | SourceRefused)
        return cls(day, str(exc) if explained else f"{type(exc).__name__}: {exc}")


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
    """One day's document, checked and serialised (in a worker process, for ranges).

    A document imported from another tool may lack ``taken_at`` (then: the end of its day) and ``source``
    (then: the source that read it); the document itself is kept as it is."""
    document = source.snapshot(day, counters)
    check_snapshot(document, day, origin)
    provenance = document.get("source") or {}
    taken_at = document.get("taken_at")
    return FetchedSnapshot(
        day=day,
        document_json=json.dumps(document),
        taken_at=(
            parse_timestamp(taken_at) if taken_at else datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)
        ).isoformat(),
        source_kind=provenance.get("kind") or source.kind,
        simulated=bool(provenance.get("simulated", False)),
        teams=len(document["teams"]),
        stats=document["stats"],
    )


def fetch_days(
    source: SnapshotSource, days: list[date], plan: CounterPlan, origin: str, workers: int | None = None
) -> Iterator[FetchedSnapshot | FailedDay]:
    """Yield each day's checked snapshot, or a FailedDay in its place, in day order."""
    workers = min(workers or os.cpu_count() or 1, len(days))
    if workers <= 1 or not getattr(source, "reproducible", False):
        for day in days:
            try:
                yield fetch_checked(source, day, plan(day), origin)
            except Exception as exc:
                yield FailedDay.because(day, exc)
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


def _next_result(pending: deque[tuple[date, Future[FetchedSnapshot]]]) -> FetchedSnapshot | FailedDay:
    day, future = pending.popleft()
    try:
        return future.result()
    except Exception as exc:
        return FailedDay.because(day, exc)
