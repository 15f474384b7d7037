"""The raw meta snapshot: one JSON document per day, what goes into it, and what makes it sound.

A document holds the API responses verbatim, so every derived table can be rebuilt from it::

    {
      "format": "growth_pipeline.snapshot/1",
      "snapshot_date": "2026-12-02",              # the UTC day whose end state this is
      "taken_at": "2026-12-03T00:05:12+00:00",     # when it was read from the source
      "source": {"kind": "flowfuse", "base_url": "...", "simulated": false},
      "stats": {...},                              # GET /api/v1/admin/stats, verbatim
      "teams": [...],                              # every GET /api/v1/teams page, concatenated, verbatim
      "team_counters": {"pipelineCount": {"<team id>": 2, ...}}   # per-team endpoints, where collected
    }

Only ``snapshot_date``, ``stats`` (with ``teamCount``) and ``teams`` (each with ``id``, ``type.name``,
``createdAt``) are required, so documents exported by another tool can be imported from an archive. Without
``taken_at`` a document is taken to describe the end of its day; without ``source`` it is recorded as coming
from the source that read it (``archive``), not simulated.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from growth_pipeline.ingest.flowfuse_api import FlowFuseClient
from growth_pipeline.ingest.team_counters import TEAM_COUNTERS, TeamCounter

SNAPSHOT_FORMAT = "growth_pipeline.snapshot/1"

# Top-level /admin/stats numbers that are usage levels, and the metric each one feeds.
STATS_LEVELS = {
    "userCount": "users",
    "adminCount": "admins",
    "inviteCount": "invites",
    "teamCount": "teams",
    "instanceCount": "instances",
    "deviceCount": "devices",
    "mqttClientCount": "mqtt_clients",
}
# /admin/stats breakdowns: field -> (metric, segment kind). Segments read "tier:starter", "state:running".
STATS_BREAKDOWNS = {
    "teamsByType": ("teams", "tier"),
    "instancesByState": ("instances", "state"),
    "devicesByMode": ("devices", "mode"),
    "devicesByLastSeen": ("devices", "last_seen"),
    "teamsByBillingState": ("teams", "billing"),
    "trialsByState": ("trials", "state"),
}
REQUIRED_STATS = ("teamCount",)


class SnapshotError(ValueError):
    """A snapshot document is unsound; the message names the document and every field that is wrong."""


def take_snapshot(
    client: FlowFuseClient,
    day: date,
    taken_at: datetime,
    source: Mapping[str, Any],
    counter_tiers: Mapping[str, Iterable[str]],
) -> dict[str, Any]:
    """Read the platform through ``client`` into a snapshot document for ``day``.

    ``counter_tiers`` names the per-team counters to collect and the tiers to collect them for
    (from the catalog's features collected on ``day``). Counters the team list already carries cost
    nothing; the rest take one request per team of those tiers.
    """
    stats = client.admin_stats()
    teams = client.teams()
    team_counters: dict[str, dict[str, int | None]] = {}
    for name, tiers in sorted(counter_tiers.items()):
        counter = TEAM_COUNTERS[name]
        tiers = set(tiers)
        wanted = [t for t in teams if _tier(t) in tiers and not t.get("suspended")]
        if counter.endpoint:
            team_counters[name] = {t["id"]: _endpoint_count(client, counter, t["id"]) for t in wanted}
        elif counter.in_team_detail and any(name not in t or t[name] is None for t in teams):
            team_counters[name] = {t["id"]: client.team(t["id"]).get(name) for t in wanted if t.get(name) is None}
    return {
        "format": SNAPSHOT_FORMAT,
        "snapshot_date": day.isoformat(),
        "taken_at": taken_at.isoformat(),
        "source": dict(source),
        "stats": stats,
        "teams": teams,
        "team_counters": team_counters,
    }


def _tier(team: Mapping[str, Any]) -> str | None:
    team_type = team.get("type")
    return team_type.get("name") if isinstance(team_type, dict) else None


def _endpoint_count(client: FlowFuseClient, counter: TeamCounter, team_id: str) -> int | None:
    """One team's count from a per-team endpoint; None (unknown) where the platform or the team's
    type does not offer the feature: 404 before the endpoint existed, 403 for a team type without it."""
    body = client.get_json(counter.endpoint.format(team_id=team_id), none_for=(403, 404))
    return None if body is None else counter.read(body)


# ------------------------------------------------------------------------------------- checking


def snapshot_problems(document: Any, expected_day: date | None = None) -> list[str]:
    """Everything wrong with a snapshot document, each naming the field; empty when it is sound."""
    if not isinstance(document, dict):
        return [f"the document is a {type(document).__name__}, not a JSON object"]
    problems: list[str] = []
    day = document.get("snapshot_date")
    if not isinstance(day, str):
        problems.append("snapshot_date is missing (expected YYYY-MM-DD)")
    else:
        try:
            parsed = date.fromisoformat(day)
        except ValueError:
            problems.append(f"snapshot_date {day!r} is not a date (expected YYYY-MM-DD)")
        else:
            if expected_day is not None and parsed != expected_day:
                problems.append(f"snapshot_date is {day} but the partition is {expected_day.isoformat()}")

    taken_at = document.get("taken_at")
    if taken_at is not None and not _is_timestamp(taken_at):
        problems.append(f"taken_at {taken_at!r} is not a timestamp (expected ISO 8601, e.g. 2026-12-03T00:05:00Z)")
    source = document.get("source")
    if source is not None:
        if not isinstance(source, dict):
            problems.append("source is not an object")
        else:
            if "kind" in source and not isinstance(source["kind"], str):
                problems.append(f"source.kind is {source['kind']!r}, not a name")
            if "simulated" in source and not isinstance(source["simulated"], bool):
                problems.append(f"source.simulated is {source['simulated']!r}, not true/false")

    stats = document.get("stats")
    if not isinstance(stats, dict):
        problems.append("stats is missing or not an object (expected GET /api/v1/admin/stats)")
    else:
        problems += [f"stats.{field} is missing" for field in REQUIRED_STATS if field not in stats]
        for field in STATS_LEVELS:
            if field in stats:
                problems += _count_problem(f"stats.{field}", stats[field])
        for field in STATS_BREAKDOWNS:
            if field not in stats:
                continue
            if not isinstance(stats[field], dict):
                problems.append(f"stats.{field} is not an object")
                continue
            for key, value in stats[field].items():
                problems += _count_problem(f"stats.{field}.{key}", value)

    teams = document.get("teams")
    if not isinstance(teams, list):
        problems.append("teams is missing or not a list (expected the GET /api/v1/teams pages)")
        teams = []
    seen: dict[str, int] = {}
    for i, team in enumerate(teams):
        where = f"teams[{i}]"
        if not isinstance(team, dict):
            problems.append(f"{where} is not an object")
            continue
        team_id = team.get("id")
        if not isinstance(team_id, str) or not team_id:
            problems.append(f"{where}.id is missing")
        else:
            where = f"teams[{i}] (id {team_id})"
            if team_id in seen:
                problems.append(f"{where}: duplicate team id, also teams[{seen[team_id]}]")
            seen.setdefault(team_id, i)
        if not isinstance(_tier(team), str):
            problems.append(f"{where}.type.name is missing")
        created = team.get("createdAt")
        if not isinstance(created, str):
            problems.append(f"{where}.createdAt is missing")
        elif not _is_timestamp(created):
            problems.append(f"{where}.createdAt {created!r} is not a timestamp")
        if "suspended" in team and team["suspended"] is not None and not isinstance(team["suspended"], bool):
            problems.append(f"{where}.suspended is {team['suspended']!r}, not true/false")
        for name, counter in TEAM_COUNTERS.items():
            if counter.endpoint is None and team.get(name) is not None:
                problems += _count_problem(f"{where}.{name}", team[name])

    counters = document.get("team_counters", {})
    if not isinstance(counters, dict):
        problems.append("team_counters is not an object")
    else:
        for name, by_team in counters.items():
            if name not in TEAM_COUNTERS:
                problems.append(f"team_counters.{name} is not a known counter")
            elif not isinstance(by_team, dict):
                problems.append(f"team_counters.{name} is not an object of team id -> count")
            else:
                for team_id, value in by_team.items():
                    if value is not None:
                        problems += _count_problem(f"team_counters.{name}.{team_id}", value)
    return problems


def parse_timestamp(value: str) -> datetime:
    """An ISO 8601 timestamp as FlowFuse writes it (``...Z``); one without an offset is taken as UTC."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _is_timestamp(value: Any) -> bool:
    try:
        parse_timestamp(value)
    except (TypeError, ValueError, AttributeError):
        return False
    return True


def _count_problem(field: str, value: Any) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, int):
        return [f"{field} is {value!r}, not a whole number"]
    if value < 0:
        return [f"{field} is {value}; counts cannot be negative"]
    return []


def check_snapshot(document: Any, expected_day: date, origin: str) -> None:
    """Raise a SnapshotError listing every problem, so one failed run shows all that is wrong."""
    problems = snapshot_problems(document, expected_day)
    if problems:
        listed = "\n".join(f"  - {p}" for p in problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise SnapshotError(
            f"the snapshot for {expected_day.isoformat()} from {origin} is unsound "
            f"({len(problems)} problem{'s' if len(problems) != 1 else ''}); nothing was stored:\n{listed}{more}"
        )


# ------------------------------------------------------------------------------------- metrics


def stats_metric_rows(stats: Mapping[str, Any]) -> list[tuple[str, str, float]]:
    """/admin/stats as (metric, segment, value) rows. An absent field is unknown: no row, never 0."""
    rows: list[tuple[str, str, float]] = []
    for field, metric in STATS_LEVELS.items():
        if isinstance(stats.get(field), int):
            rows.append((metric, "all", float(stats[field])))
    for field, (metric, kind) in STATS_BREAKDOWNS.items():
        breakdown = stats.get(field)
        if isinstance(breakdown, dict):
            rows += [(metric, f"{kind}:{key}", float(value)) for key, value in sorted(breakdown.items())]
    return rows
