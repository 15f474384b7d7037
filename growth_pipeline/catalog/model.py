"""Loading and checking the catalog (catalog.yaml): features, tracked metrics, bands, the WCI weights.

Pure Python, no Dagster: the code location calls ``load_catalog()`` at import, so a mistake in the file
stops the location from loading and Dagster shows the one-line ``CatalogError`` naming file, entry and field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from growth_pipeline.growth.math import Bands
from growth_pipeline.ingest.team_counters import TEAM_COUNTERS

DEFAULT_CATALOG_PATH = Path(__file__).with_name("catalog.yaml")

# Metrics the pipeline computes; a catalog may track any of them.
KNOWN_METRICS = {
    "users", "admins", "invites", "teams", "instances", "devices", "mqtt_clients", "trials",
    "active_teams", "weighted_customer_index",
}  # fmt: skip

_SIGNAL = re.compile(r"^\s*(?P<counter>[A-Za-z]+)\s*(?P<op>>=|>)\s*(?P<threshold>\d+)\s*$")


class CatalogError(ValueError):
    """The catalog file is wrong; the message names the file, the entry and the field."""


@dataclass(frozen=True)
class Signal:
    """``<counter> > n`` or ``<counter> >= n``: when a team counts as using something."""

    counter: str
    op: str
    threshold: int

    def __str__(self) -> str:
        return f"{self.counter} {self.op} {self.threshold}"

    @property
    def column(self) -> str:
        return TEAM_COUNTERS[self.counter].column

    def sql(self, table_alias: str = "") -> str:
        """The signal as a DuckDB boolean expression over team_usage (NULL when the counter is unknown)."""
        prefix = f"{table_alias}." if table_alias else ""
        return f"({prefix}{self.column} {self.op} {self.threshold})"

    def holds(self, value: int | None) -> bool | None:
        if value is None:
            return None
        return value > self.threshold if self.op == ">" else value >= self.threshold


@dataclass(frozen=True)
class Feature:
    key: str
    name: str
    description: str
    signal: Signal
    tiers: tuple[str, ...]
    launched: date | None
    collected_from: date

    def collected_on(self, day: date) -> bool:
        return day >= self.collected_from


@dataclass(frozen=True)
class Metric:
    key: str
    name: str


@dataclass(frozen=True)
class Catalog:
    path: Path
    tiers: tuple[str, ...]
    active_team: tuple[Signal, ...]
    bands: Bands
    wci_weights: dict[str, float]
    metrics: tuple[Metric, ...]
    features: tuple[Feature, ...]

    def feature(self, key: str) -> Feature:
        return next(f for f in self.features if f.key == key)

    def metric_name(self, key: str) -> str:
        return next((m.name for m in self.metrics if m.key == key), key)

    def features_collected_on(self, day: date) -> tuple[Feature, ...]:
        return tuple(f for f in self.features if f.collected_on(day))

    def active_team_sql(self, table_alias: str = "") -> str:
        """DuckDB expression: the team is active (an unknown counter never makes a team active)."""
        return "(" + " OR ".join(f"coalesce({s.sql(table_alias)}, false)" for s in self.active_team) + ")"


# ------------------------------------------------------------------------------------ loading


class _Reader:
    """Reads one mapping of the YAML, turning every mistake into a CatalogError that says where."""

    def __init__(self, path: Path, where: str, data: Any, allowed: set[str]) -> None:
        self.path, self.where = path, where
        if not isinstance(data, dict):
            self.fail(f"expected a mapping, got {type(data).__name__}")
        unknown = sorted(set(data) - allowed)
        if unknown:
            self.fail(f"unknown field {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})", field=unknown[0])
        self.data = data

    def fail(self, problem: str, field: str | None = None) -> None:
        location = f"{self.where}, field {field!r}" if field else self.where
        raise CatalogError(f"{self.path}: {location}: {problem}")

    def required(self, field: str) -> Any:
        if self.data.get(field) is None:
            self.fail("is required", field=field)
        return self.data[field]

    def text(self, field: str) -> str:
        value = self.required(field)
        if not isinstance(value, str) or not value.strip():
            self.fail(f"must be non-empty text, got {value!r}", field=field)
        return value.strip()

    def day(self, field: str, *, optional: bool = False) -> date | None:
        value = self.data.get(field)
        if value is None:
            if optional:
                return None
            self.fail("is required (a date such as 2024-10-24)", field=field)
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not a date (write it as YYYY-MM-DD)", field=field)

    def signal(self, value: Any, field: str) -> Signal:
        match = _SIGNAL.match(str(value)) if isinstance(value, str) else None
        if not match:
            self.fail(
                f"{value!r} is not a signal; write '<counter> > <number>', e.g. 'deviceCount > 0'",
                field=field,
            )
        if match["counter"] not in TEAM_COUNTERS:
            self.fail(
                f"unknown counter {match['counter']!r} (known: {', '.join(sorted(TEAM_COUNTERS))})",
                field=field,
            )
        return Signal(match["counter"], match["op"], int(match["threshold"]))


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Read and check a catalog file (by default the one shipped in this package)."""
    path = Path(path) if path else DEFAULT_CATALOG_PATH
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read the catalog: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path}: not valid YAML: {exc}") from None

    top = _Reader(
        path, "top level", raw,
        {"tiers", "active_team", "growth_bands", "weighted_customer_index", "metrics", "features"},
    )  # fmt: skip
    tiers = top.required("tiers")
    if not isinstance(tiers, list) or not tiers or not all(isinstance(t, str) for t in tiers):
        top.fail("must be a list of tier names", field="tiers")
    tiers = tuple(tiers)

    active = _Reader(path, "active_team", top.required("active_team"), {"any_of"})
    any_of = active.required("any_of")
    if not isinstance(any_of, list) or not any_of:
        active.fail("must be a list of signals", field="any_of")
    active_team = tuple(active.signal(s, "any_of") for s in any_of)

    band_fields = {f.name for f in fields(Bands)}
    bands_reader = _Reader(path, "growth_bands", raw.get("growth_bands") or {}, band_fields)
    for name, value in bands_reader.data.items():
        if not isinstance(value, int | float) or isinstance(value, bool):
            bands_reader.fail(f"must be a number such as 0.04, got {value!r}", field=name)
    try:
        bands = Bands(**bands_reader.data)
    except ValueError as exc:
        bands_reader.fail(str(exc))

    wci = _Reader(path, "weighted_customer_index", top.required("weighted_customer_index"), {"weights"})
    weights = wci.required("weights")
    if not isinstance(weights, dict) or set(weights) != set(tiers):
        wci.fail(f"must give a weight for each tier ({', '.join(tiers)})", field="weights")
    if not all(isinstance(w, int | float) and not isinstance(w, bool) and w >= 0 for w in weights.values()):
        wci.fail("weights must be numbers >= 0", field="weights")

    metrics = []
    for i, entry in enumerate(_entries(top, "metrics")):
        reader = _Reader(path, f"metrics[{i}]", entry, {"key", "name"})
        key = reader.text("key")
        reader.where = f"metric {key!r}"
        if key not in KNOWN_METRICS:
            reader.fail(f"unknown metric (known: {', '.join(sorted(KNOWN_METRICS))})", field="key")
        if any(m.key == key for m in metrics):
            reader.fail("duplicate key: each metric appears once", field="key")
        metrics.append(Metric(key, reader.text("name")))

    features = []
    allowed = {"key", "name", "description", "signal", "tiers", "launched", "collected_from"}
    for i, entry in enumerate(_entries(top, "features")):
        reader = _Reader(path, f"features[{i}]", entry, allowed)
        key = reader.text("key")
        reader.where = f"feature {key!r}"
        if not re.fullmatch(r"[a-z][a-z0-9_]*", key):
            reader.fail("must be lower_snake_case", field="key")
        if any(f.key == key for f in features):
            reader.fail("duplicate key: each feature appears once", field="key")
        offered = reader.required("tiers")
        if not isinstance(offered, list) or not offered:
            reader.fail("must be a list of tiers", field="tiers")
        for tier in offered:
            if tier not in tiers:
                reader.fail(f"unknown tier {tier!r} (tiers: {', '.join(tiers)})", field="tiers")
        launched = reader.day("launched", optional=True)
        collected_from = reader.day("collected_from")
        if launched and collected_from < launched:
            reader.fail(f"{collected_from} is before the launch on {launched}", field="collected_from")
        features.append(
            Feature(
                key=key,
                name=reader.text("name"),
                description=reader.text("description"),
                signal=reader.signal(reader.required("signal"), "signal"),
                tiers=tuple(offered),
                launched=launched,
                collected_from=collected_from,
            )
        )

    return Catalog(
        path=path,
        tiers=tiers,
        active_team=active_team,
        bands=bands,
        wci_weights={t: float(w) for t, w in weights.items()},
        metrics=tuple(metrics),
        features=tuple(features),
    )


def _entries(top: _Reader, field: str) -> list:
    value = top.required(field)
    if not isinstance(value, list) or not value:
        top.fail("must be a non-empty list", field=field)
    return value
