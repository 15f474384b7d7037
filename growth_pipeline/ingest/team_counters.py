"""The per-team counters the pipeline knows how to collect, and where each one comes from.

A catalog feature's signal names one of these (``teamBrokerClientsCount > 0``). Most arrive with the team
list; some only from a per-team endpoint, which is called only for teams of the tiers a collected
feature is offered to, because one request per team is the expensive part of a snapshot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def _pipeline_count(body: Any) -> int:
    return int(body["count"])


def _database_count(body: Any) -> int:
    return len(body)


@dataclass(frozen=True)
class TeamCounter:
    name: str  # FlowFuse's field name, as the catalog writes it
    column: str  # the team_usage column that holds it
    description: str
    # Where the team list does not carry it: the per-team endpoint and how to read a count from it.
    endpoint: str | None = None
    read: Callable[[Any], int] | None = None
    # Older FlowFuse (2.4.0) leaves some list counters out; GET /api/v1/teams/:id still has them.
    in_team_detail: bool = False


TEAM_COUNTERS: dict[str, TeamCounter] = {
    c.name: c
    for c in (
        TeamCounter("memberCount", "member_count", "members of the team"),
        TeamCounter("instanceCount", "instance_count", "hosted Node-RED instances"),
        TeamCounter(
            "deviceCount", "device_count", "edge devices (FlowFuse 2.4.0 lists it only per team)",
            in_team_detail=True,
        ),
        TeamCounter("brokerCount", "broker_count", "third-party MQTT brokers connected"),
        TeamCounter("teamBrokerClientsCount", "broker_client_count", "MQTT team broker clients"),
        TeamCounter(
            "pipelineCount", "pipeline_count", "DevOps pipelines (enterprise endpoint)",
            endpoint="/api/v1/teams/{team_id}/pipelines", read=_pipeline_count,
        ),
        TeamCounter(
            "tablesCount", "table_count", "FlowFuse Tables databases (enterprise endpoint)",
            endpoint="/api/v1/teams/{team_id}/databases", read=_database_count,
        ),
    )
}  # fmt: skip
