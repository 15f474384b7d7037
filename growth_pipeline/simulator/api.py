"""The simulated platform behind the FlowFuse admin API, as an httpx transport.

The demo source hands this transport to the same ``FlowFuseClient`` that talks to a live platform, so
``make demo`` runs the real HTTP code path: bearer auth, cursor paging (a full page always carries a
cursor, so the last page can be empty), JSON and OpenMetrics stats, per-team feature endpoints.
"""

from __future__ import annotations

import re
from datetime import date
from functools import cached_property

import httpx

from growth_pipeline.simulator.platform import PlatformState, SimulatedPlatform

SIMULATED_BASE_URL = "https://simulated-flowfuse.invalid"
MAX_PAGE_SIZE = 100

_TEAM_PATH = re.compile(r"^/api/v1/teams/(?P<team>[^/]+)(?P<rest>/pipelines|/databases)?$")


def _error(status: int, code: str) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "error": code})


class SimulatedPlatformAPI:
    """Answers FlowFuse admin API requests with the platform's state at the end of ``day``."""

    def __init__(self, platform: SimulatedPlatform, day: date) -> None:
        self.platform = platform
        self.day = day

    @cached_property
    def state(self) -> PlatformState:
        return self.platform.state_on(self.day)

    @cached_property
    def _position(self) -> dict[str, int]:
        return {team["id"]: i for i, team in enumerate(self.state.teams)}

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return _error(401, "unauthorized")
        if request.method != "GET":
            return _error(405, "method_not_allowed")
        path = request.url.path
        if path == "/api/v1/admin/stats":
            return self._stats(request)
        if path == "/api/v1/teams":
            return self._teams_page(request)
        match = _TEAM_PATH.match(path)
        if match and match["team"] in self._position:
            team = self.state.teams[self._position[match["team"]]]
            if match["rest"] == "/pipelines":
                return self._pipelines(team["id"])
            if match["rest"] == "/databases":
                return self._databases(team["id"])
            return httpx.Response(
                200, json={**team, "instanceCountByType": {"sim-instance-type": team["instanceCount"]}}
            )
        return _error(404, "not_found")

    def _stats(self, request: httpx.Request) -> httpx.Response:
        if "application/openmetrics-text" in request.headers.get("accept", ""):
            return httpx.Response(
                200,
                text=_openmetrics(self.state.stats),
                headers={"content-type": "application/openmetrics-text"},
            )
        return httpx.Response(200, json=self.state.stats)

    def _teams_page(self, request: httpx.Request) -> httpx.Response:
        try:
            limit = min(int(request.url.params.get("limit", "30")), MAX_PAGE_SIZE)
        except ValueError:
            return _error(400, "invalid_request")
        cursor = request.url.params.get("cursor")
        start = 0
        if cursor is not None:
            if cursor not in self._position:
                return _error(400, "invalid_request")
            start = self._position[cursor] + 1
        page = self.state.teams[start : start + limit]
        meta = {"next_cursor": page[-1]["id"]} if len(page) == limit else {}
        return httpx.Response(200, json={"meta": meta, "count": len(page), "teams": page})

    def _launched(self, feature_key: str) -> bool:
        feature = next(f for f in self.platform.settings.features if f.key == feature_key)
        return self.day >= feature.launched

    def _pipelines(self, team_id: str) -> httpx.Response:
        if not self._launched("pipelines"):
            return _error(404, "not_found")
        if team_id not in self.state.pipelines:
            return _error(403, "feature_unavailable")
        count = self.state.pipelines[team_id]
        pipelines = [{"id": f"{team_id}-p{i}", "name": f"Pipeline {i + 1}"} for i in range(count)]
        return httpx.Response(200, json={"count": count, "pipelines": pipelines})

    def _databases(self, team_id: str) -> httpx.Response:
        if not self._launched("tables"):
            return _error(404, "not_found")
        if team_id not in self.state.tables:
            return _error(403, "feature_unavailable")
        count = self.state.tables[team_id]
        return httpx.Response(200, json=[{"id": f"{team_id}-db{i}", "name": f"db{i + 1}"} for i in range(count)])


def _openmetrics(stats: dict) -> str:
    """The stats in FlowFuse's OpenMetrics form (`flowforge_team_count 3`, ...)."""

    def snake(name: str) -> str:
        return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()

    lines = []
    for key, value in stats.items():
        if isinstance(value, dict):
            lines += [f"flowforge_{snake(key)}_{snake(k)} {v}" for k, v in value.items()]
        else:
            lines.append(f"flowforge_{snake(key)} {value}")
    return "\n".join(lines) + "\n"
