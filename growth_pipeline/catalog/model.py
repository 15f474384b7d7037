"""Loading and checking the catalog (catalog.yaml): features, tracked metrics, bands, the WCI weights.

Pure Python, no Dagster: the code location calls ``load_catalog()`` at import, so a mistake in the file
stops the location from loading and Dagster shows the one-line ``CatalogError``, which names the file and
line, the entry and the field: ``catalog.yaml:61: feature 'tables', field 'signal': unknown counter ...``.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, fields
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from growth_pipeline.growth.math import Bands
from growth_pipeline.ingest.team_counters import TEAM_COUNTERS

DEFAULT_CATALOG_PATH = Path(__file__).with_name("catalog.yaml")

# Metrics the pipeline computes; a catalog may track any of them. A catalog metric with `adoption_of`
# is instead a feature's all-tiers adoption rate (the handbook's device and pipeline adoption).
KNOWN_METRICS = {
    "users", "admins", "invites", "teams", "instances", "devices", "mqtt_clients", "trials",
    "active_teams", "weighted_customer_index",
}  # fmt: skip

_SIGNAL = re.compile(r"^\s*(?P<counter>[A-Za-z]+)\s*(?P<op>>=|>)\s*(?P<threshold>\d+)\s*$")
_KEY = re.compile(r"[a-z][a-z0-9_]*")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class CatalogError(ValueError):
    """The catalog file is wrong; the message names the file and line, the entry and the field."""


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
    launched: date | None  # None: before any snapshot; days to first use then count from team creation
    collected_from: date  # the first day adoption is derived; days before it are "not tracked"

    def collected_on(self, day: date) -> bool:
        return day >= self.collected_from


@dataclass(frozen=True)
class Metric:
    key: str
    name: str
    adoption_of: str | None = None  # a feature key: the metric is that feature's all-tiers adoption rate

    @property
    def is_rate(self) -> bool:
        return self.adoption_of is not None


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
        for feature in self.features:
            if feature.key == key:
                return feature
        raise KeyError(f"no feature {key!r} in {self.path}")

    def metric_name(self, key: str) -> str:
        return next((m.name for m in self.metrics if m.key == key), key)

    def adoption_metrics(self) -> tuple[Metric, ...]:
        """Tracked metrics that are a feature's adoption rate (device adoption, pipeline adoption)."""
        return tuple(m for m in self.metrics if m.adoption_of)

    def features_collected_on(self, day: date) -> tuple[Feature, ...]:
        return tuple(f for f in self.features if f.collected_on(day))

    def active_team_sql(self, table_alias: str = "") -> str:
        """DuckDB expression: the team is active (an unknown counter never makes a team active)."""
        return "(" + " OR ".join(f"coalesce({s.sql(table_alias)}, false)" for s in self.active_team) + ")"


# ------------------------------------------------------------------------------------ YAML


class _Mapping(dict):
    """A YAML mapping that remembers where it is: its line, each key's line, and keys given twice
    (plain YAML keeps the last silently, so a pasted-over field would go unnoticed)."""

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.key_lines: dict[Any, int] = {}
        self.repeated: list[tuple[Any, int]] = []  # (key, line of the second occurrence)


class _CatalogLoader(yaml.SafeLoader):
    """SafeLoader that keeps dates as text (checked by us, so `2024-13-01` is reported, not a crash)
    and builds ``_Mapping``s."""


def _construct_mapping(loader: _CatalogLoader, node: yaml.MappingNode) -> _Mapping:
    loader.flatten_mapping(node)
    mapping = _Mapping(node.start_mark.line + 1)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int | float | bool) and key is not None:
            raise yaml.constructor.ConstructorError(
                None, None, "a field name must be plain text", key_node.start_mark
            )  # fmt: skip
        if key in mapping:
            mapping.repeated.append((key, key_node.start_mark.line + 1))
        else:
            mapping.key_lines[key] = key_node.start_mark.line + 1
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


class _Sequence(list):
    """A YAML list that remembers the line of each item, so an error in a list entry can name its line."""

    def __init__(self, items: list, item_lines: list[int]) -> None:
        super().__init__(items)
        self.item_lines = item_lines


def _construct_sequence(loader: _CatalogLoader, node: yaml.SequenceNode) -> _Sequence:
    items = [loader.construct_object(child, deep=True) for child in node.value]
    return _Sequence(items, [child.start_mark.line + 1 for child in node.value])


_CatalogLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_CatalogLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)
_CatalogLoader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_scalar)


# ------------------------------------------------------------------------------------ checking


class _Reader:
    """Reads one mapping of the YAML, turning every mistake into a CatalogError that says where."""

    def __init__(self, path: Path, where: str, data: Any, allowed: set[str], line: int | None = None) -> None:
        self.path, self.where = path, where
        self.line = getattr(data, "line", line)
        self.data = data
        if not isinstance(data, dict):
            self.fail(f"expected a mapping of fields, got {_kind(data)}")
        if data.repeated:
            field, again = data.repeated[0]
            self.fail(f"is given twice (lines {data.key_lines[field]} and {again}); keep one", field=field, line=again)
        unknown = sorted((set(data) - allowed), key=str)
        if unknown:
            guess = difflib.get_close_matches(str(unknown[0]), allowed, n=1)
            hint = f"did you mean {guess[0]!r}? " if guess else ""
            self.fail(f"unknown field ({hint}allowed: {', '.join(sorted(allowed))})", field=unknown[0])

    def fail(self, problem: str, field: Any = None, line: int | None = None) -> None:
        line = line or getattr(self.data, "key_lines", {}).get(field, self.line)
        at = f"{self.path}:{line}" if line else f"{self.path}"
        location = f"{self.where}, field {field!r}" if field is not None else self.where
        raise CatalogError(f"{at}: {location}: {problem}")

    def section(self, field: str, allowed: set[str], *, optional: bool = False) -> _Reader:
        """A reader for the mapping under ``field`` (an error in it names ``<this>.<field>``, or ``field``
        at the top level, and the field's line)."""
        value = self.data.get(field) if optional else self.required(field)
        where = field if self.where == "top level" else f"{self.where}.{field}"
        line = self.data.key_lines.get(field, self.line)
        return _Reader(self.path, where, _Mapping(line) if value is None else value, allowed, line)

    def required(self, field: str) -> Any:
        if self.data.get(field) is None:
            self.fail("is required", field=field)
        return self.data[field]

    def text(self, field: str) -> str:
        value = self.required(field)
        if not isinstance(value, str) or not value.strip():
            self.fail(f"must be non-empty text, got {value!r}", field=field)
        return value.strip()

    def key(self) -> str:
        key = self.text("key")
        if not _KEY.fullmatch(key):
            self.fail(f"{key!r} is not a key: use lower_snake_case, e.g. 'mqtt_broker'", field="key")
        return key

    def day(self, field: str, *, optional: bool = False) -> date | None:
        value = self.data.get(field)
        if value is None:
            if optional:
                return None
            self.fail("is required (a date such as 2024-10-24)", field=field)
        if isinstance(value, str) and _DATE.fullmatch(value.strip()):
            try:
                return date.fromisoformat(value.strip())
            except ValueError:  # shaped like a date, but not one: 2024-13-01
                pass
        self.fail(f"{value!r} is not a date (write it as YYYY-MM-DD)", field=field)

    def number(self, field: str, value: Any, *, minimum: float | None = None) -> float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            self.fail(f"must be a number, got {value!r}", field=field)
        if minimum is not None and value < minimum:
            self.fail(f"must be {minimum:g} or more, got {value!r}", field=field)
        return float(value)

    def tiers(self, field: str, *, known: tuple[str, ...] | None = None) -> tuple[str, ...]:
        """A non-empty list of distinct tier names, each one of ``known`` when given."""
        value = self.required(field)
        if not isinstance(value, list) or not value:
            self.fail(f"must be a list of tiers, e.g. [team, enterprise], got {value!r}", field=field)
        for i, name in enumerate(value):
            if not isinstance(name, str) or not name.strip():
                self.fail(f"must be a list of tier names, got {name!r}", field=field)
            if known is not None and name not in known:
                self.fail(f"unknown tier {name!r} (tiers: {', '.join(known)})", field=field)
            if name in value[:i]:
                self.fail(f"tier {name!r} is listed twice", field=field)
        return tuple(value)

    def signal(self, value: Any, field: str) -> Signal:
        match = _SIGNAL.match(value) if isinstance(value, str) else None
        if not match:
            self.fail(
                f"{value!r} is not a signal; write '<counter> > <number>', e.g. 'deviceCount > 0'",
                field=field,
            )
        counter = match["counter"]
        if counter not in TEAM_COUNTERS:
            guess = difflib.get_close_matches(counter, TEAM_COUNTERS, n=1)
            hint = f"did you mean {guess[0]!r}? " if guess else ""
            self.fail(f"unknown counter {counter!r} ({hint}known: {', '.join(sorted(TEAM_COUNTERS))})", field=field)
        return Signal(counter, match["op"], int(match["threshold"]))


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    return "text" if isinstance(value, str) else "a list" if isinstance(value, list) else "a number"


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Read and check a catalog file (by default the one shipped in this package)."""
    path = Path(path) if path else DEFAULT_CATALOG_PATH
    try:
        raw = yaml.load(path.read_text(), Loader=_CatalogLoader)  # a SafeLoader: builds no Python objects
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read the catalog: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark, context = getattr(exc, "problem_mark", None), getattr(exc, "context", None)
        at = f"{path}:{mark.line + 1}" if mark else str(path)
        where = f" ({context} that starts on line {exc.context_mark.line + 1})" if context and exc.context_mark else ""
        raise CatalogError(f"{at}: not valid YAML: {getattr(exc, 'problem', None) or exc}{where}") from None

    top = _Reader(
        path, "top level", raw,
        {"tiers", "active_team", "growth_bands", "weighted_customer_index", "metrics", "features"},
        line=1,
    )  # fmt: skip
    tiers = top.tiers("tiers")
    if "all" in tiers:
        top.fail("'all' is reserved for the all-tiers total; name the tier differently", field="tiers")

    active = top.section("active_team", {"any_of"})
    any_of = active.required("any_of")
    if not isinstance(any_of, list) or not any_of:
        active.fail("must be a list of signals, e.g. ['instanceCount > 0']", field="any_of")
    active_team = tuple(active.signal(s, "any_of") for s in any_of)

    band_fields = {f.name for f in fields(Bands)}
    bands_reader = top.section("growth_bands", band_fields, optional=True)
    limits = {name: bands_reader.number(name, value) for name, value in bands_reader.data.items()}
    try:
        bands = Bands(**limits)
    except ValueError as exc:
        bands_reader.fail(str(exc))

    weights_reader = top.section("weighted_customer_index", {"weights"}).section("weights", set(tiers))
    missing = [t for t in tiers if t not in weights_reader.data]
    if missing:
        weights_reader.fail(f"no weight for tier {missing[0]!r}: give one for each of {', '.join(tiers)}")
    weights = {t: weights_reader.number(t, weights_reader.data[t], minimum=0) for t in tiers}

    features: list[Feature] = []
    allowed = {"key", "name", "description", "signal", "tiers", "launched", "collected_from"}
    for i, (entry, line) in enumerate(_entries(top, "features")):
        reader = _Reader(path, _entry_name("feature", i, entry), entry, allowed, line)
        key = reader.key()
        if any(f.key == key for f in features):
            reader.fail("duplicate key: each feature appears once", field="key")
        name, description = reader.text("name"), reader.text("description")
        signal = reader.signal(reader.required("signal"), "signal")
        offered = reader.tiers("tiers", known=tiers)
        launched = reader.day("launched", optional=True)
        collected_from = reader.day("collected_from")
        if launched and collected_from < launched:
            reader.fail(f"{collected_from} is before the launch on {launched}", field="collected_from")
        features.append(Feature(key, name, description, signal, offered, launched, collected_from))

    metrics: list[Metric] = []
    feature_keys = [f.key for f in features]
    for i, (entry, line) in enumerate(_entries(top, "metrics")):
        reader = _Reader(path, _entry_name("metric", i, entry), entry, {"key", "name", "adoption_of"}, line)
        key = reader.key()
        if any(m.key == key for m in metrics):
            reader.fail("duplicate key: each metric appears once", field="key")
        adoption_of = reader.data.get("adoption_of")
        if adoption_of is None and key not in KNOWN_METRICS:
            reader.fail(
                f"unknown metric (known: {', '.join(sorted(KNOWN_METRICS))}; or give 'adoption_of: <feature>' "
                "to track a feature's adoption rate)",
                field="key",
            )
        if adoption_of is not None:
            if key in KNOWN_METRICS:
                reader.fail("is a platform metric; an adoption metric needs a key of its own", field="key")
            if adoption_of not in feature_keys:
                reader.fail(
                    f"unknown feature {adoption_of!r} (features: {', '.join(feature_keys)})", field="adoption_of"
                )
        metrics.append(Metric(key, reader.text("name"), adoption_of))

    return Catalog(
        path=path,
        tiers=tiers,
        active_team=active_team,
        bands=bands,
        wci_weights=weights,
        metrics=tuple(metrics),
        features=tuple(features),
    )


def _entry_name(kind: str, index: int, entry: Any) -> str:
    """How an error names a list entry: by its key (``feature 'tables'``), or by position when it has none."""
    key = entry.get("key") if isinstance(entry, dict) else None
    return f"{kind} {key.strip()!r}" if isinstance(key, str) and key.strip() else f"{kind}s[{index}]"


def _entries(top: _Reader, field: str) -> list[tuple[Any, int]]:
    """The entries of a top-level list, each with its line."""
    value = top.required(field)
    if not isinstance(value, list) or not value:
        top.fail("must be a non-empty list of entries", field=field)
    return list(zip(value, value.item_lines, strict=True))
