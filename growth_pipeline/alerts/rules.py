"""Loading and checking the alert rules file (alert_rules.yaml): which metric or feature, which segment,
the condition, where to deliver, on or off. Pure Python, no Dagster.

The code location checks the file when it loads, and the sensor reads it again on every tick, so an edit
takes effect without a reload and a mistake shows in the UI as one ``AlertRulesError`` naming the file and
line, the rule and the field: ``alert_rules.yaml:14: rule 'teams_weak', field 'metric': unknown metric ...``.
Metrics, features, tiers and bands are checked against the catalog.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from growth_pipeline.catalog import Catalog, CatalogError
from growth_pipeline.catalog.model import _CatalogLoader, _kind, _Mapping, _Reader  # its line-aware YAML reader
from growth_pipeline.growth.math import BAND_ORDER
from growth_pipeline.growth.rollup import RECENT_WEEKS

DEFAULT_RULES_PATH = Path(__file__).with_name("alert_rules.yaml")

AVERAGE_WEEKS = 4  # "a drop against the 4-week average": the 4 weeks before the week evaluated

EVERY = "*"
ALL_SEGMENTS = "all"
MISSING_DATA_RULE = "missing_data"  # the name missing-data alerts go by; no rule may take it
FORMATS = ("slack", "json")

_NAME = re.compile(r"[a-z][a-z0-9_]*")
_VARIABLE = re.compile(r"[A-Z_][A-Z0-9_]*")
_SEGMENT = re.compile(r"[a-z_]+:[A-Za-z0-9_. -]+")


class AlertRulesError(ValueError):
    """The alert rules file is wrong; the message names the file and line, the rule and the field."""


@dataclass(frozen=True)
class Destination:
    """Where alerts go: a webhook whose URL is a secret, so only the name of its environment variable is
    configured. ``format``: 'slack' posts {"text": ...}; 'json' posts the alert as structured JSON."""

    name: str
    webhook_env: str
    format: str


@dataclass(frozen=True)
class Condition:
    """One test on a week of a series, held for ``for_weeks`` consecutive weeks (this week included).

    kind: band_at_or_below (a band or any worse one), band_is (exactly that band), wow_below (WoW growth
    strictly below a fraction), drop_vs_4_week_average (the value more than a fraction below the mean of
    the 4 weeks before), adoption_rate_below (a feature's adoption rate strictly below a fraction).
    """

    kind: str
    threshold: str | float  # a band name for the band kinds, otherwise a fraction (0.01 = 1%)
    for_weeks: int = 1

    def describe(self) -> str:
        tests = {
            "band_at_or_below": lambda t: f"band at or below {t!r}",
            "band_is": lambda t: f"band {t!r}",
            "wow_below": lambda t: f"WoW growth below {t:+.2%}",
            "drop_vs_4_week_average": lambda t: f"value more than {t:.1%} below the average of the 4 weeks before",
            "adoption_rate_below": lambda t: f"adoption rate below {t:.1%}",
        }
        text = tests[self.kind](self.threshold)
        return text if self.for_weeks == 1 else f"{text} for {self.for_weeks} consecutive weeks"


@dataclass(frozen=True)
class Rule:
    """One alert rule. It targets either a tracked metric (read from weekly_growth) or a feature (read
    from weekly_adoption, whose value is the number of adopting teams); ``*`` targets every one of them
    except ``exclude``. ``segment`` is 'all', a segment such as 'tier:team', or ``*`` for every segment."""

    name: str
    target: str  # "metric" or "feature"
    key: str  # a metric or feature key, or "*"
    exclude: tuple[str, ...]
    segment: str
    condition: Condition
    destination: Destination
    enabled: bool = True

    @property
    def asset(self) -> str:
        return "weekly_growth" if self.target == "metric" else "weekly_adoption"

    def matches(self, key: str, segment: str) -> bool:
        key_ok = (self.key == EVERY and key not in self.exclude) or self.key == key
        return key_ok and self.segment in (EVERY, segment)

    def describe(self) -> str:
        what = f"every {self.target}" if self.key == EVERY else f"{self.target} {self.key}"
        if self.exclude:
            what += f" except {', '.join(self.exclude)}"
        segment = "every segment" if self.segment == EVERY else f"segment {self.segment}"
        return f"{self.condition.describe()} ({what}, {segment})"


@dataclass(frozen=True)
class MissingData:
    """A missing weekly rollup is an alert too: the rollup of an ISO week is due on the following Monday
    at 06:00 UTC plus ``grace_hours``."""

    enabled: bool
    grace_hours: float
    destination: Destination


@dataclass(frozen=True)
class AlertRules:
    path: Path
    destinations: tuple[Destination, ...]
    missing_data: MissingData
    rules: tuple[Rule, ...]

    def enabled(self, asset: str | None = None) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.enabled and (asset is None or r.asset == asset))


class _RulesReader(_Reader):
    def fail(self, problem: str, field: Any = None, line: int | None = None) -> None:
        try:
            super().fail(problem, field, line)
        except CatalogError as exc:
            raise AlertRulesError(str(exc)) from None

    def mapping(self, field: str, allowed: set[str], *, optional: bool = False) -> _RulesReader:
        """A reader for the mapping under ``field``; errors in it name ``<this>.<field>``."""
        value = self.data.get(field)
        line = self.data.key_lines.get(field, self.line)
        if value is None:
            if not optional:
                self.fail("is required", field=field)
            value = _Mapping(line)
        where = field if self.where == "top level" else f"{self.where}.{field}"
        return _RulesReader(self.path, where, value, allowed, line)

    def flag(self, field: str, default: bool) -> bool:
        value = self.data.get(field, default)
        if not isinstance(value, bool):
            self.fail(f"must be true or false, got {value!r}", field=field)
        return value

    def name(self, field: str, pattern: re.Pattern, example: str) -> str:
        value = self.text(field)
        if not pattern.fullmatch(value):
            self.fail(f"{value!r} is not valid here: write it like {example!r}", field=field)
        return value

    def fraction(self, field: str, value: Any, *, low: float, high: float) -> float:
        """A fraction (0.01 = 1%) in the open interval (low, high): 1 would be 100%, a likely slip for 1%."""
        number = self.number(field, value)
        if not low < number < high:
            self.fail(f"must be a fraction between {low:g} and {high:g} (0.01 = 1%), got {value!r}", field=field)
        return number

    def choice(self, field: str, value: Any, known: tuple[str, ...] | list[str], what: str) -> str:
        if value not in known:
            guess = difflib.get_close_matches(str(value), known, n=1)
            hint = f"did you mean {guess[0]!r}? " if guess else ""
            self.fail(f"unknown {what} {value!r} ({hint}{what}s: {', '.join(known)})", field=field)
        return value


_CONDITIONS = ("band_at_or_below", "band_is", "wow_below", "drop_vs_4_week_average", "adoption_rate_below")


def load_alert_rules(path: str | Path | None, catalog: Catalog) -> AlertRules:
    """Read and check an alert rules file (by default the one shipped in this package) against ``catalog``."""
    path = Path(path) if path else DEFAULT_RULES_PATH
    try:
        raw = yaml.load(path.read_text(), Loader=_CatalogLoader)  # a SafeLoader: builds no Python objects
    except OSError as exc:
        raise AlertRulesError(f"{path}: cannot read the alert rules: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"{path}:{mark.line + 1}" if mark else str(path)
        raise AlertRulesError(f"{at}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from None

    top = _RulesReader(path, "top level", raw, {"destinations", "missing_data", "rules"}, line=1)
    destinations = _destinations(top)

    missing = top.mapping("missing_data", {"enabled", "grace_hours", "deliver_to"}, optional=True)
    missing_data = MissingData(
        enabled=missing.flag("enabled", True),
        grace_hours=missing.number("grace_hours", missing.data.get("grace_hours", 0), minimum=0),
        destination=_destination_of(missing, destinations),
    )

    entries = top.required("rules")
    if not isinstance(entries, list):
        top.fail(f"must be a list of rules, got {_kind(entries)}", field="rules")
    rules: list[Rule] = []
    for i, entry in enumerate(entries):
        rules.append(_rule(path, i, entry, entries.item_lines[i], catalog, destinations, rules))
    return AlertRules(path, tuple(destinations.values()), missing_data, tuple(rules))


def _destinations(top: _RulesReader) -> dict[str, Destination]:
    value = top.required("destinations")
    if not isinstance(value, dict) or not value:
        top.fail("must map destination names to {webhook_env, format}", field="destinations")
    section = top.mapping("destinations", set(value))
    destinations = {}
    for name in value:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            section.fail(f"{name!r} is not a destination name: use lower_snake_case, e.g. 'team'", field=name)
        reader = section.mapping(name, {"webhook_env", "format"})
        variable = reader.text("webhook_env")
        if "://" in variable:
            reader.fail(
                "is the name of the environment variable that holds the webhook URL, not the URL itself "
                "(a secret: keep it out of this file), e.g. GROWTH_ALERT_WEBHOOK_URL",
                field="webhook_env",
            )
        if not _VARIABLE.fullmatch(variable):
            reader.fail(
                f"{variable!r} is not an environment variable name, e.g. GROWTH_ALERT_WEBHOOK_URL", "webhook_env"
            )
        fmt = reader.choice("format", reader.data.get("format", "slack"), FORMATS, "format")
        destinations[name] = Destination(name, variable, fmt)
    return destinations


def _destination_of(reader: _RulesReader, destinations: dict[str, Destination]) -> Destination:
    """The destination named by ``deliver_to``; it may be left out when only one destination exists."""
    if reader.data.get("deliver_to") is None:
        if len(destinations) == 1:
            return next(iter(destinations.values()))
        reader.fail(f"is required when there are several destinations ({', '.join(destinations)})", "deliver_to")
    return destinations[reader.choice("deliver_to", reader.data["deliver_to"], list(destinations), "destination")]


def _rule(
    path: Path,
    index: int,
    entry: Any,
    line: int,
    catalog: Catalog,
    destinations: dict[str, Destination],
    earlier: list[Rule],
) -> Rule:
    name_value = entry.get("name") if isinstance(entry, dict) else None
    where = f"rule {name_value.strip()!r}" if isinstance(name_value, str) and name_value.strip() else f"rules[{index}]"
    allowed = {"name", "metric", "feature", "exclude", "segment", "condition", "deliver_to", "enabled"}
    reader = _RulesReader(path, where, entry, allowed, line)
    name = reader.name("name", _NAME, "teams_weak_growth")
    if name == MISSING_DATA_RULE:
        reader.fail(f"{name!r} is reserved for missing-data alerts; name the rule differently", field="name")
    if any(r.name == name for r in earlier):
        reader.fail("duplicate name: each rule has its own (alerts are keyed by rule and week)", field="name")

    if ("metric" in reader.data) == ("feature" in reader.data):
        reader.fail("give exactly one of 'metric' (weekly_growth) or 'feature' (weekly_adoption)")
    target = "metric" if "metric" in reader.data else "feature"
    known = [m.key for m in catalog.metrics] if target == "metric" else [f.key for f in catalog.features]
    key = reader.text(target)
    if key != EVERY:
        reader.choice(target, key, known, target)
    exclude = _exclude(reader, key, known, target)

    segment = reader.data.get("segment", ALL_SEGMENTS)
    if not isinstance(segment, str) or not (segment in (ALL_SEGMENTS, EVERY) or _SEGMENT.fullmatch(segment)):
        reader.fail(f"{segment!r} is not a segment: write 'all', '*' or one such as 'tier:team'", field="segment")
    if target == "feature" and segment not in (ALL_SEGMENTS, EVERY):
        tiers = catalog.feature(key).tiers if key != EVERY else catalog.tiers
        offered = [f"tier:{t}" for t in tiers]
        reader.choice("segment", segment, [ALL_SEGMENTS, *offered], "segment")

    condition = _condition(reader, target)
    return Rule(
        name=name,
        target=target,
        key=key,
        exclude=exclude,
        segment=segment,
        condition=condition,
        destination=_destination_of(reader, destinations),
        enabled=reader.flag("enabled", True),
    )


def _exclude(reader: _RulesReader, key: str, known: list[str], target: str) -> tuple[str, ...]:
    value = reader.data.get("exclude")
    if value is None:
        return ()
    if key != EVERY:
        reader.fail(f"only applies to {target}: '*'", field="exclude")
    if not isinstance(value, list):
        reader.fail(f"must be a list of {target} keys, got {_kind(value)}", field="exclude")
    return tuple(reader.choice("exclude", item, known, target) for item in value)


def _condition(rule: _RulesReader, target: str) -> Condition:
    reader = rule.mapping("condition", {*_CONDITIONS, "for_weeks"})
    kinds = [k for k in _CONDITIONS if k in reader.data]
    if len(kinds) != 1:
        reader.fail(f"give exactly one of {', '.join(_CONDITIONS)} (and optionally for_weeks)")
    kind = kinds[0]
    value = reader.data[kind]
    if kind in ("band_at_or_below", "band_is"):
        threshold = reader.choice(kind, value, BAND_ORDER, "band")
    elif kind == "wow_below":
        threshold = reader.fraction(kind, value, low=-1, high=1)
    elif kind == "drop_vs_4_week_average":
        threshold = reader.fraction(kind, value, low=0, high=1)
    else:
        if target != "feature":
            reader.fail("applies to a feature's adoption: give 'feature' instead of 'metric'", field=kind)
        threshold = reader.fraction(kind, value, low=0, high=1)

    # The sensor sees only the weeks the rollups' metadata carries (RECENT_WEEKS).
    most = RECENT_WEEKS - (AVERAGE_WEEKS if kind == "drop_vs_4_week_average" else 0)
    for_weeks = reader.data.get("for_weeks", 1)
    if not isinstance(for_weeks, int) or isinstance(for_weeks, bool) or not 1 <= for_weeks <= most:
        reader.fail(f"must be a whole number of weeks from 1 to {most}, got {for_weeks!r}", field="for_weeks")
    return Condition(kind, threshold, for_weeks)
