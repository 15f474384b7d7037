"""Where a day's snapshot comes from. One source is configured at a time (GROWTH_SOURCE).

- ``demo``: the seeded simulated platform, read through the same FlowFuseClient as a live platform.
- ``flowfuse``: a live FlowFuse platform. It only knows *now*, so it serves only the day that just ended
  (within a window after midnight UTC), or today if configured; never a past day.
- ``archive``: snapshots taken earlier (by this pipeline or another tool), one JSON document per day.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, Protocol

from growth_pipeline.ingest.archive import ArchiveLocation
from growth_pipeline.ingest.flowfuse_api import FlowFuseClient
from growth_pipeline.ingest.snapshot import check_snapshot, take_snapshot
from growth_pipeline.simulator.api import SIMULATED_BASE_URL, SimulatedPlatformAPI
from growth_pipeline.simulator.platform import SimulatedPlatform, SimulationSettings


class SourceRefused(RuntimeError):
    """The configured source cannot give a snapshot for that day; the message says what to do instead."""


class SnapshotSource(Protocol):
    kind: str  # demo | flowfuse | archive: recorded with a document that does not say where it came from
    # True when any day can be fetched at any time with the same result, so a range may be fetched in
    # parallel worker processes (the simulator, an archive); a live platform only knows "now".
    reproducible: bool

    def snapshot(self, day: date, counter_tiers: Mapping[str, Iterable[str]]) -> dict[str, Any]: ...


@lru_cache(maxsize=4)
def simulated_platform(seed: int) -> SimulatedPlatform:
    """One simulated platform per seed and process: its population is drawn once and reused."""
    return SimulatedPlatform(SimulationSettings(seed=seed))


@dataclass
class DemoSource:
    """The simulated platform (SIMULATED data), answering through the real HTTP client."""

    seed: int = 7
    kind = "demo"
    reproducible = True

    def snapshot(self, day: date, counter_tiers: Mapping[str, Iterable[str]]) -> dict[str, Any]:
        platform = simulated_platform(self.seed)
        if day < platform.settings.start:
            raise SourceRefused(
                f"the simulated platform starts on {platform.settings.start.isoformat()}; "
                f"{day.isoformat()} is before it (set GROWTH_START_DATE to that date or later)"
            )
        api = SimulatedPlatformAPI(platform, day)
        end_of_day = datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)
        with FlowFuseClient(SIMULATED_BASE_URL, "simulated-demo-token", transport=api.transport()) as client:
            return take_snapshot(
                client,
                day,
                taken_at=end_of_day,
                source={"kind": "demo", "simulated": True, "seed": self.seed, "base_url": SIMULATED_BASE_URL},
                counter_tiers=counter_tiers,
            )


def check_live_day(day: date, now: datetime, window: timedelta, serve_today: bool) -> None:
    """Refuse any day a live platform cannot describe at ``now`` (UTC), saying why and what to do."""
    today = now.astimezone(UTC).date()
    just_ended = today - timedelta(days=1)
    since_midnight = now.astimezone(UTC) - datetime.combine(today, time(), tzinfo=UTC)
    stamp = now.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if serve_today and day == today:
        return
    if day == just_ended and since_midnight <= window:
        return
    if day >= today:
        raise SourceRefused(
            f"{day.isoformat()} has not ended yet (it is {stamp}); a live platform's snapshot of a day is "
            "taken after it ends" + ("" if serve_today else " (set FLOWFUSE_SERVE_TODAY=1 to snapshot today so far)")
        )
    hours = window.total_seconds() / 3600
    if day == just_ended:
        why = (
            f"the window for snapshotting {day.isoformat()} closed {hours:g}h after midnight UTC and it is "
            f"now {stamp}, so the platform has moved on (widen it with FLOWFUSE_LIVE_WINDOW_HOURS)"
        )
    else:
        why = f"{day.isoformat()} is in the past and the platform only knows its state now ({stamp})"
    raise SourceRefused(
        f"the flowfuse source cannot snapshot {day.isoformat()}: {why}. A past day must never be filled "
        "with today's numbers: load it from the snapshot archive instead (GROWTH_SOURCE=archive)."
    )


@dataclass
class FlowFuseSource:
    """A live FlowFuse platform's admin API. The token is read from the environment at call time."""

    base_url: str
    token_variable: str = "FLOWFUSE_TOKEN"
    window: timedelta = timedelta(hours=6)
    serve_today: bool = False
    now: Any = None  # a callable returning an aware datetime; tests pin the clock with it
    kind = "flowfuse"
    reproducible = False

    def snapshot(self, day: date, counter_tiers: Mapping[str, Iterable[str]]) -> dict[str, Any]:
        taken_at = self.now() if self.now else datetime.now(UTC)
        check_live_day(day, taken_at, self.window, self.serve_today)
        if not self.base_url:
            raise SourceRefused("the flowfuse source needs the platform's address: set FLOWFUSE_URL")
        token = os.environ.get(self.token_variable, "")
        with FlowFuseClient(self.base_url, token, token_variable=self.token_variable) as client:
            return take_snapshot(
                client,
                day,
                taken_at=taken_at,
                source={"kind": "flowfuse", "simulated": False, "base_url": self.base_url},
                counter_tiers=counter_tiers,
            )


@dataclass
class ArchiveSource:
    """Snapshots read back from the archive (a directory, a path template or an http(s) URL template)."""

    location: str
    kind = "archive"
    reproducible = True

    def snapshot(self, day: date, counter_tiers: Mapping[str, Iterable[str]]) -> dict[str, Any]:
        """The archived document as it is (a counter it lacks stays unknown); checked here so that an
        unsound document is reported with the exact file or URL it came from."""
        archive = ArchiveLocation.parse(self.location)
        document = archive.read(day)
        check_snapshot(document, day, archive.where(day))
        return document
