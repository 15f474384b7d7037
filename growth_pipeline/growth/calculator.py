"""The growth calculator the team uses by hand, as text reports (no Dagster): shared by the `growth-calc`
command and the `growth_calculator_job` so both give the same answers from the same inputs.

Rates are given in percent (5 or 5% = 5% a week, 0.5 = 0.5% a week) and computed as fractions. Every
input mistake raises ``CalculatorError`` with a one-line message naming the input.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date

from growth_pipeline.growth.math import (
    WEEKS_PER_YEAR,
    Bands,
    classify,
    compound_weekly_growth,
    project,
    twelve_month_multiple,
    weeks_to_target,
)

# The team's hand-made table (DESIGN.md section 4): start 100, weekly rate in percent -> value after 52 weeks.
EXAMPLE_START = 100.0
HAND_MADE_TABLE = {10: 14_204, 7: 3_372, 6: 2_070, 5: 1_265, 4: 769, 3: 465, 2: 280, 1: 167, 0.5: 132}
# The hand-made table prints whole numbers, so a row agrees when it is within 1 of the exact value.
HAND_MADE_TOLERANCE = 1.0


class CalculatorError(ValueError):
    """An input is unusable; the message names it and says what is wrong, in one line."""


def number(text: str, name: str) -> float:
    """A finite number from text, or CalculatorError naming the input."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise CalculatorError(f"{name} must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise CalculatorError(f"{name} must be a finite number, got {text!r}")
    return value


def percent(text: str | float, name: str = "rate") -> float:
    """A weekly rate in percent ('5', '5%', '-0.5', 5.0) as a fraction (0.05), above -100%."""
    rate = number(str(text).strip().removesuffix("%"), f"{name} (in percent)") / 100
    if rate <= -1:
        raise CalculatorError(f"{name} must be above -100% a week, got {text}")
    return rate


def positive(value: float, name: str) -> float:
    if value <= 0:
        raise CalculatorError(f"{name} must be greater than 0, got {value:g}")
    return value


def weeks_between(start: date | str, end: date | str) -> float:
    """Weeks from ``start`` to ``end`` (days / 7); ISO dates as text are accepted."""
    start, end = (_day(d, name) for d, name in ((start, "start date"), (end, "end date")))
    if end < start:
        raise CalculatorError(f"end date {end} is before start date {start}")
    if end == start:
        raise CalculatorError(f"start and end date are the same day ({start}): no weeks between them")
    return (end - start).days / 7


def _day(value: date | str, name: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise CalculatorError(f"{name} must be a date such as 2026-01-05, got {value!r}") from None


def _num(value: float) -> str:
    """1000 -> 1,000; 1171.66 -> 1,171.66; 1234567 -> 1,234,567 (never scientific notation)."""
    return f"{value:,.12g}" if abs(value) < 1e15 else f"{value:.6g}"


def _pct(rate: float) -> str:
    return f"{rate:+.2%}"


def _rate_label(rate: float) -> str:
    return f"{rate * 100:g}%"


def rate_report(start: float, end: float, weeks: float, bands: Bands) -> str:
    """The sustained WoW rate that turns ``start`` into ``end`` over ``weeks``, with its band."""
    positive(start, "start value")
    if end < 0:
        raise CalculatorError(f"end value must not be negative, got {end:g}")
    positive(weeks, "weeks")
    rate = compound_weekly_growth(start, end, weeks)
    lines = [
        f"From {_num(start)} to {_num(end)} over {weeks:.4g} weeks: {_pct(rate)} a week ({classify(rate, bands)})",
    ]
    if rate > -1:
        lines.append(f"Sustained for 12 months (52 weeks) that is x{twelve_month_multiple(rate):,.2f}")
    return "\n".join(lines)


def year_report(start: float, rates: Sequence[float], bands: Bands, hand_made: dict | None = None) -> str:
    """The value after 52 weeks from ``start`` at each sustained weekly rate (fractions), with the band
    of each rate; with ``hand_made`` (percent -> value), whether each hand-made row agrees."""
    positive(start, "start value")
    if not rates:
        raise CalculatorError("give at least one weekly rate")
    header = f"{'weekly rate':>11}  {'after 52 weeks':>14}  {'multiple':>9}  {'band':<14}"
    if hand_made:
        header += f"  {'hand-made':>9}  check"
    lines = [
        f"Value after 12 months ({WEEKS_PER_YEAR} weeks) of sustained week-on-week growth, from {_num(start)}",
        header,
    ]
    off = []
    for rate in rates:
        value = project(start, rate)
        line = f"{_rate_label(rate):>11}  {value:>14,.1f}  {f'x{value / start:,.2f}':>9}  {classify(rate, bands):<14}"
        if hand_made:
            claimed = hand_made[round(rate * 100, 10)]
            agrees = abs(claimed - value) < HAND_MADE_TOLERANCE
            line += f"  {claimed:>9,}  " + (
                "agrees" if agrees else f"OFF: {_num(start)} x {1 + rate:g}^52 = {value:,.1f}"
            )
            if not agrees:
                off.append(f"{_rate_label(rate)}: {_num(start)} x {1 + rate:g}^52 = {value:,.1f}, not {claimed:,}")
        lines.append(line)
    if hand_made:
        lines.append(
            "The hand-made table is off at " + "; at ".join(off) + "."
            if off
            else "Every hand-made row agrees with the exact value."
        )
        lines.append(
            f"(A row agrees when it is within {HAND_MADE_TOLERANCE:g} of {_num(start)} x (1 + rate)^52: "
            "the table prints whole numbers.)"
        )
    return "\n".join(line.rstrip() for line in lines)


def example_table_report(bands: Bands) -> str:
    """The team's example table (DESIGN.md section 4) with the right values, saying where it is off."""
    rates = [p / 100 for p in HAND_MADE_TABLE]
    return year_report(EXAMPLE_START, rates, bands, hand_made=HAND_MADE_TABLE)


def target_report(start: float, target: float, rate: float) -> str:
    """Whole weeks of sustained growth at ``rate`` (a fraction) for ``start`` to reach ``target``."""
    positive(start, "start value")
    positive(target, "target")
    try:
        weeks = weeks_to_target(start, target, rate)
    except ValueError as exc:
        raise CalculatorError(str(exc)) from None
    if weeks == 0:
        return f"{_num(start)} is already at or above the target {_num(target)}: 0 weeks"
    reached = project(start, rate, weeks)
    years = f"; about {weeks / WEEKS_PER_YEAR:.1f} years" if weeks >= WEEKS_PER_YEAR else ""
    return (
        f"From {_num(start)} at {_rate_label(rate)} a week: {weeks} weeks to reach {_num(target)} "
        f"({reached:,.1f} after week {weeks}{years})"
    )
