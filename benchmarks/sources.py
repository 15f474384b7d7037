"""The sources the benchmark reads: a simulated platform of a chosen size, and an archive of its snapshots.

- ``SizedDemoSource``: the demo simulator with ``teams`` teams held steady (sign-ups replace churn), read
  through the same FlowFuse HTTP client as ``make demo``. Its cost per day is mostly the simulated HTTP
  (one request per team of an offered tier for the per-team feature endpoints).
- ``ArchiveReplaySource``: snapshot documents stored one JSON file per day, as a real backfill replays
  them (the pipeline never re-asks a live platform for a past day). The benchmark writes the archive once
  from ``SizedDemoSource`` and caches it under ``data/benchmark-cache``.

Both are reproducible, so the pipeline fetches ranges of days with its process pool, as it would in use.
No Dagster here: the pool's worker processes import this module to unpickle a source.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from growth_pipeline.ingest.flowfuse_api import FlowFuseClient
from growth_pipeline.ingest.snapshot import take_snapshot
from growth_pipeline.simulator.api import SIMULATED_BASE_URL, SimulatedPlatformAPI
from growth_pipeline.simulator.platform import SimulatedPlatform, SimulationSettings

STEADY = ((1, 0.0),)  # one regime of 0% weekly growth: the team count stays at its initial size


@lru_cache(maxsize=2)
def sized_platform(teams: int, start: date, seed: int) -> SimulatedPlatform:
    return SimulatedPlatform(SimulationSettings(seed=seed, start=start, initial_teams=teams, regimes=STEADY))


@dataclass
class SizedDemoSource:
    """The simulated platform (SIMULATED data) with ``teams`` teams, through the real HTTP client."""

    teams: int
    start: date
    seed: int = 7
    reproducible = True

    def snapshot(self, day: date, counter_tiers: Mapping[str, Iterable[str]]) -> dict[str, Any]:
        api = SimulatedPlatformAPI(sized_platform(self.teams, self.start, self.seed), day)
        end_of_day = datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)
        with FlowFuseClient(SIMULATED_BASE_URL, "simulated-benchmark-token", transport=api.transport()) as client:
            return take_snapshot(
                client,
                day,
                taken_at=end_of_day,
                source={"kind": "demo", "simulated": True, "seed": self.seed, "teams": self.teams},
                counter_tiers=counter_tiers,
            )


@dataclass
class ArchiveReplaySource:
    """Stored snapshot documents, ``<directory>/<YYYY-MM-DD>.json``, replayed as they were taken."""

    directory: str
    reproducible = True

    def path(self, day: date) -> Path:
        return Path(self.directory) / f"{day.isoformat()}.json"

    def snapshot(self, day: date, counter_tiers: Mapping[str, Iterable[str]]) -> dict[str, Any]:
        return json.loads(self.path(day).read_text())
