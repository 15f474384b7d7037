"""Growth math from DESIGN.md section 4, with no Dagster import so the CLI, assets and sensors share it.

Every function takes plain numbers. Where growth is undefined (a zero or missing base) the result is
``None`` together with a reason a person can read, never ``inf`` and never a silent 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

WEEKS_PER_YEAR = 52

# Bands are compared after rounding, so 101/100 - 1 (0.010000000000000009 in binary floating point)
# is exactly 1%, which the team's bands call "not acceptable".
_DECIMALS = 10


@dataclass(frozen=True)
class Bands:
    """Lower bounds of the team's week-on-week bands (fractions, 0.06 = 6%).

    exceptional: g >= exceptional; strong: strong <= g < exceptional; sustainable: sustainable <= g < strong;
    okay: okay < g < sustainable (note: strictly above); not acceptable: g <= okay.
    """

    exceptional: float = 0.06
    strong: float = 0.04
    sustainable: float = 0.02
    okay: float = 0.01

    def __post_init__(self) -> None:
        if not (self.exceptional > self.strong > self.sustainable > self.okay):
            raise ValueError(
                "growth bands must be strictly decreasing: exceptional > strong > sustainable > okay, "
                f"got {self.exceptional}, {self.strong}, {self.sustainable}, {self.okay}"
            )


DEFAULT_BANDS = Bands()

# Best first. Alert rules ("band at or below okay") compare positions in this list.
BAND_ORDER = ("exceptional", "strong", "sustainable", "okay", "not acceptable")


def classify(growth: float | None, bands: Bands = DEFAULT_BANDS) -> str | None:
    """The band of a week-on-week growth rate, or None when the rate is undefined."""
    if growth is None or math.isnan(growth):
        return None
    g = round(growth, _DECIMALS)
    if g >= bands.exceptional:
        return "exceptional"
    if g >= bands.strong:
        return "strong"
    if g >= bands.sustainable:
        return "sustainable"
    if g > bands.okay:
        return "okay"
    return "not acceptable"


@dataclass(frozen=True)
class Growth:
    """A growth rate, or None with the reason it is undefined."""

    rate: float | None
    reason: str | None = None


def wow_growth(current: float | None, previous: float | None) -> Growth:
    """Week-on-week growth g = V_w / V_{w-1} - 1."""
    if current is None:
        return Growth(None, "no value this week")
    if previous is None:
        return Growth(None, "no value in the previous week")
    if previous == 0:
        return Growth(None, "previous week's value is 0")
    if previous < 0:
        return Growth(None, "previous week's value is negative")
    return Growth(current / previous - 1)


def compound_weekly_growth(start: float, end: float, weeks: float) -> float:
    """The sustained weekly rate that turns ``start`` into ``end`` over ``weeks``: (end/start)^(1/n) - 1."""
    if weeks <= 0:
        raise ValueError(f"weeks must be greater than 0, got {weeks:g}")
    if start <= 0:
        raise ValueError(f"the start value must be greater than 0, got {start:g}")
    if end < 0:
        raise ValueError(f"the end value must not be negative, got {end:g}")
    return (end / start) ** (1 / weeks) - 1


def project(start: float, weekly_rate: float, weeks: float = WEEKS_PER_YEAR) -> float:
    """The value after ``weeks`` of sustained weekly growth (52 weeks = 12 months)."""
    if weekly_rate <= -1:
        raise ValueError(f"a weekly rate must be above -100%, got {weekly_rate:.2%}")
    return start * (1 + weekly_rate) ** weeks


def twelve_month_multiple(weekly_rate: float) -> float:
    """How many times larger a metric is after 52 weeks at this sustained weekly rate."""
    return project(1.0, weekly_rate)


def weeks_to_target(start: float, target: float, weekly_rate: float) -> int:
    """Whole weeks of sustained growth until ``start`` reaches ``target`` (0 if it already has)."""
    if start <= 0:
        raise ValueError(f"the start value must be greater than 0, got {start:g}")
    if target <= start:
        return 0
    if weekly_rate <= 0:
        raise ValueError(f"a metric growing at {weekly_rate:.2%} a week never reaches a higher target")
    exact = math.log(target / start) / math.log(1 + weekly_rate)
    # Guard the float result so that exactly-reachable targets are not pushed a week later.
    return math.ceil(round(exact, _DECIMALS))
