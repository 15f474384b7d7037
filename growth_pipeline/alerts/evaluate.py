"""Evaluating alert rules on a weekly rollup's metadata, and when a missing rollup becomes an alert.
Pure Python, no Dagster: the sensor passes in the parsed metadata and the time.

A rollup's metadata describes one week (the last of the run) for every metric (or feature) and segment,
with the RECENT_WEEKS weeks up to it (``recent``), so a rule over consecutive weeks needs nothing else.
A rule is breached when its condition holds in each of its last ``for_weeks`` weeks; a week without a
value, growth or band (no data, a zero base) never satisfies a condition, so it never alerts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from growth_pipeline.alerts.rules import (
    AVERAGE_WEEKS,
    MISSING_DATA_RULE,
    AlertRules,
    Condition,
    Destination,
    Rule,
)
from growth_pipeline.growth.math import BAND_ORDER
from growth_pipeline.growth.rollup import iso_week_label

# The rollup of an ISO week is due on the following Monday at this time (UTC), plus the rules' grace_hours:
# by then the daily run has snapshotted Sunday (a live platform within 6 hours of midnight) and the weekly
# run has rolled the week up.
ROLLUP_DUE = time(6, 0)


class MetadataError(ValueError):
    """A weekly rollup's metadata lacks what the rules need; the message says what and how to fix it."""


@dataclass(frozen=True)
class Series:
    """One metric (or feature) and segment of a rollup: the weeks up to the week evaluated, oldest first,
    with None where a week has no value, growth or band."""

    key: str
    segment: str
    weeks: tuple[str, ...]
    values: tuple[float | None, ...]
    wow_growth: tuple[float | None, ...]
    bands: tuple[str | None, ...]
    adoption_rates: tuple[float | None, ...] | None = None  # features only
    streak: int | None = None  # weeks in the current band (the rollup's own count for metrics)

    @property
    def week(self) -> str:
        return self.weeks[-1]


@dataclass(frozen=True)
class Finding:
    """A series that breached a rule in the week evaluated."""

    key: str
    name: str
    segment: str
    week: str
    value: float | None
    wow_growth: float | None
    band: str | None
    streak: int | None
    adoption_rate: float | None
    detail: str  # the weeks that tripped the rule, e.g. "2026-W47 +0.65% not acceptable; 2026-W48 ..."


@dataclass(frozen=True)
class Alert:
    """What an alert run delivers: a rule's findings for a week, or a missing rollup (no findings)."""

    rule: str
    target: str  # "metric", "feature", or "rollup" for missing data
    condition: str
    week_start: date
    assets: tuple[str, ...]
    destination: Destination
    findings: tuple[Finding, ...] = ()

    @property
    def week(self) -> str:
        return iso_week_label(self.week_start)

    @property
    def kind(self) -> str:
        return "missing_data" if self.rule == MISSING_DATA_RULE else "rule"

    @property
    def run_key(self) -> str:
        """One alert per rule and ISO week: the sensor and Dagster's run keys never send it twice."""
        return f"{self.rule}:{self.week}"


# ------------------------------------------------------------------------------------ metadata


def growth_series(entries: Iterable[Mapping]) -> list[Series]:
    """Series from weekly_growth's "growth" metadata."""
    series = []
    for entry in entries:
        recent = _recent(entry, f"metric {entry.get('metric')!r}, segment {entry.get('segment')!r}", "value")
        series.append(
            Series(
                key=entry["metric"],
                segment=entry["segment"],
                weeks=tuple(recent["weeks"]),
                values=tuple(recent["value"]),
                wow_growth=tuple(recent["wow_growth"]),
                bands=tuple(recent["band"]),
                streak=entry.get("streak"),
            )
        )
    return series


def adoption_series(entries: Iterable[Mapping]) -> list[Series]:
    """Series from weekly_adoption's "adoption" metadata: the value is the number of adopting teams, the
    segment 'all' or 'tier:<tier>' as in weekly_growth."""
    series = []
    for entry in entries:
        tier = entry.get("tier")
        recent = _recent(entry, f"feature {entry.get('feature')!r}, tier {tier!r}", "adopting_teams", "adoption_rate")
        bands = tuple(recent["band"])
        series.append(
            Series(
                key=entry["feature"],
                segment="all" if tier == "all" else f"tier:{tier}",
                weeks=tuple(recent["weeks"]),
                values=tuple(recent["adopting_teams"]),
                wow_growth=tuple(recent["wow_growth"]),
                bands=bands,
                adoption_rates=tuple(recent["adoption_rate"]),
                streak=_streak(bands),
            )
        )
    return series


def _recent(entry: Mapping, what: str, *value_fields: str) -> Mapping:
    recent = entry.get("recent")
    if not isinstance(recent, Mapping):
        raise MetadataError(
            f"the entry for {what} has no 'recent' weeks: it was written before alerting was added; "
            "re-materialize the latest week of the weekly rollups (weekly_growth_job)"
        )
    needed = ("weeks", *value_fields, "wow_growth", "band")
    lengths = {field: len(recent.get(field) or ()) for field in needed}
    if len(set(lengths.values())) != 1 or not lengths["weeks"] or recent["weeks"][-1] != entry.get("week"):
        raise MetadataError(
            f"the entry for {what} has inconsistent 'recent' weeks ({lengths}, week {entry.get('week')})"
        )
    return recent


def _streak(bands: tuple[str | None, ...]) -> int | None:
    """Consecutive weeks in the last week's band, counted within the weeks given."""
    if not bands or bands[-1] is None:
        return None
    streak = 0
    for band in reversed(bands):
        if band != bands[-1]:
            break
        streak += 1
    return streak


# ------------------------------------------------------------------------------------ rules


def _holds(condition: Condition, series: Series, i: int) -> bool:
    """The condition's test on week ``i`` of the series (an unknown value never satisfies it)."""
    kind, threshold = condition.kind, condition.threshold
    if kind == "band_at_or_below":
        band = series.bands[i]
        return band is not None and BAND_ORDER.index(band) >= BAND_ORDER.index(threshold)
    if kind == "band_is":
        return series.bands[i] == threshold
    if kind == "wow_below":
        return series.wow_growth[i] is not None and series.wow_growth[i] < threshold
    if kind == "adoption_rate_below":
        rate = series.adoption_rates[i] if series.adoption_rates else None
        return rate is not None and rate < threshold
    # drop_vs_4_week_average: the value more than `threshold` below the mean of the 4 weeks before.
    average = _average_before(series, i)
    value = series.values[i]
    return average is not None and value is not None and value < average * (1 - threshold)


def _average_before(series: Series, i: int) -> float | None:
    before = series.values[i - AVERAGE_WEEKS : i] if i >= AVERAGE_WEEKS else ()
    if len(before) < AVERAGE_WEEKS or any(v is None for v in before):
        return None
    average = sum(before) / AVERAGE_WEEKS
    return average if average > 0 else None


def _describe_week(condition: Condition, series: Series, i: int) -> str:
    week = series.weeks[i]
    if condition.kind == "adoption_rate_below":
        return f"{week} {series.adoption_rates[i]:.1%}"
    if condition.kind == "drop_vs_4_week_average":
        average = _average_before(series, i)
        return (
            f"{week} {series.values[i]:,.4g} vs 4-week average {average:,.4g} ({series.values[i] / average - 1:+.1%})"
        )
    return f"{week} {series.wow_growth[i]:+.2%} {series.bands[i]}"


def breaches(rule: Rule, series: Iterable[Series], name_of: Callable[[str], str]) -> list[Finding]:
    """The series ``rule`` matches whose condition held in each of the rule's last ``for_weeks`` weeks."""
    condition = rule.condition
    found = []
    for s in series:
        if not rule.matches(s.key, s.segment):
            continue
        last = len(s.weeks) - 1
        weeks = range(last - condition.for_weeks + 1, last + 1)
        if weeks.start < 0 or not all(_holds(condition, s, i) for i in weeks):
            continue
        found.append(
            Finding(
                key=s.key,
                name=name_of(s.key),
                segment=s.segment,
                week=s.week,
                value=s.values[last],
                wow_growth=s.wow_growth[last],
                band=s.bands[last],
                streak=s.streak,
                adoption_rate=s.adoption_rates[last] if s.adoption_rates else None,
                detail="; ".join(_describe_week(condition, s, i) for i in weeks),
            )
        )
    return found


@dataclass(frozen=True)
class Evaluation:
    """The alerts a rollup raised, and what was looked at (for the sensor's log)."""

    alerts: list[Alert]
    rules: int
    series: int
    unmatched_rules: list[str]  # enabled rules that matched no series at all (a typo in a segment?)


def evaluate(
    rules: AlertRules, asset: str, week_start: date, series: list[Series], name_of: Callable[[str], str]
) -> Evaluation:
    """Every enabled rule on ``asset`` (weekly_growth or weekly_adoption) over its series for a week."""
    alerts, unmatched = [], []
    enabled = rules.enabled(asset)
    for rule in enabled:
        if not any(rule.matches(s.key, s.segment) for s in series):
            unmatched.append(rule.name)
            continue
        found = breaches(rule, series, name_of)
        if found:
            alerts.append(
                Alert(rule.name, rule.target, rule.describe(), week_start, (asset,), rule.destination, tuple(found))
            )
    return Evaluation(alerts, len(enabled), len(series), unmatched)


# ------------------------------------------------------------------------------------ missing data


def last_complete_week(now: datetime) -> date:
    """The Monday of the last ISO week that has ended by ``now`` (UTC)."""
    today = now.astimezone(UTC).date()
    return today - timedelta(days=today.weekday() + 7)


def rollup_deadline(week_start: date, grace_hours: float) -> datetime:
    """When the rollup of the week starting ``week_start`` is due: the next Monday at ROLLUP_DUE + grace."""
    return datetime.combine(week_start + timedelta(days=7), ROLLUP_DUE, UTC) + timedelta(hours=grace_hours)


def missing_data_alert(rules: AlertRules, week_start: date, missing_assets: list[str]) -> Alert:
    deadline = rollup_deadline(week_start, rules.missing_data.grace_hours)
    return Alert(
        rule=MISSING_DATA_RULE,
        target="rollup",
        condition=f"the weekly rollup of {iso_week_label(week_start)} was due by {deadline:%Y-%m-%d %H:%M} UTC",
        week_start=week_start,
        assets=tuple(missing_assets),
        destination=rules.missing_data.destination,
    )
