"""Growth math against hand-computed values (DESIGN.md section 4)."""

import math

import pytest

from growth_pipeline.growth.math import (
    BAND_ORDER,
    Bands,
    classify,
    compound_weekly_growth,
    project,
    twelve_month_multiple,
    weeks_to_target,
    wow_growth,
)

# The team's table: start 100, sustained weekly growth for 52 weeks. Right values: 100 * (1 + g) ** 52,
# worked out with 30-digit decimal arithmetic and rounded to one decimal. The team's table (14,204 ·
# 3,372 · 2,070 · 1,265 · 769 · 465 · 280 · 167 · 132) rounds these; its 0.5% row is wrong (129.6).
EXAMPLE_TABLE = [
    (0.10, 14_204.3),
    (0.07, 3_372.5),
    (0.06, 2_069.7),
    (0.05, 1_264.3),
    (0.04, 768.7),
    (0.03, 465.1),
    (0.02, 280.0),
    (0.01, 167.8),
    (0.005, 129.6),
]


@pytest.mark.parametrize(("rate", "after_a_year"), EXAMPLE_TABLE)
def test_twelve_month_projection_reproduces_the_example_table(rate, after_a_year):
    assert project(100, rate) == pytest.approx(after_a_year, abs=0.05)


def test_the_hand_made_half_percent_row_is_off():
    assert round(project(100, 0.005)) == 130  # the team's table says 132
    assert twelve_month_multiple(0.005) == pytest.approx(1.2960, abs=1e-4)


# Every band boundary from both sides, written as the values a person would compare (V_w vs V_{w-1}).
@pytest.mark.parametrize(
    ("current", "previous", "band"),
    [
        (106, 100, "exceptional"),  # exactly 6%
        (105.99, 100, "strong"),  # just under 6%
        (104, 100, "strong"),  # exactly 4%
        (103.99, 100, "sustainable"),
        (102, 100, "sustainable"),  # exactly 2%
        (101.99, 100, "okay"),
        (101.01, 100, "okay"),  # just above 1%
        (101, 100, "not acceptable"),  # exactly 1% is not acceptable
        (100, 100, "not acceptable"),
        (90, 100, "not acceptable"),
        (53, 50, "exceptional"),  # 6% again, via a different float path
        (1_000_001, 1_000_000, "not acceptable"),
    ],
)
def test_band_boundaries(current, previous, band):
    assert classify(wow_growth(current, previous).rate) == band


def test_bands_are_configurable():
    stricter = Bands(exceptional=0.10, strong=0.07, sustainable=0.05, okay=0.02)
    assert classify(0.06, stricter) == "sustainable"
    assert classify(0.02, stricter) == "not acceptable"
    with pytest.raises(ValueError, match="strictly decreasing"):
        Bands(exceptional=0.04, strong=0.06)


def test_band_order_is_best_first():
    assert BAND_ORDER.index("exceptional") < BAND_ORDER.index("okay") < BAND_ORDER.index("not acceptable")


@pytest.mark.parametrize(
    ("current", "previous", "reason"),
    [
        (5, 0, "previous week's value is 0"),
        (5, None, "no value in the previous week"),
        (None, 5, "no value this week"),
    ],
)
def test_undefined_growth_is_null_with_a_reason_never_inf_or_zero(current, previous, reason):
    growth = wow_growth(current, previous)
    assert growth.rate is None
    assert growth.reason == reason
    assert classify(growth.rate) is None


def test_wow_growth_value():
    assert wow_growth(115, 100).rate == pytest.approx(0.15)
    assert wow_growth(80, 100).rate == pytest.approx(-0.20)


def test_compound_weekly_growth():
    # 100 -> 121 over 2 weeks is 10% a week; 100 -> 280.0328 over 52 weeks is 2% a week (1.02 ** 52).
    assert compound_weekly_growth(100, 121, 2) == pytest.approx(0.10)
    assert compound_weekly_growth(100, 280.0328, 52) == pytest.approx(0.02, abs=1e-7)
    assert compound_weekly_growth(100, 100, 4) == 0
    for start, end, weeks, message in [
        (0, 10, 4, "start value must be greater than 0"),
        (-5, 10, 4, "start value must be greater than 0"),
        (10, -1, 4, "end value must not be negative"),
        (10, 20, 0, "weeks must be greater than 0"),
    ]:
        with pytest.raises(ValueError, match=message):
            compound_weekly_growth(start, end, weeks)


def test_weeks_to_target():
    # 100 * 1.1 ** 7 = 194.9 < 200 <= 100 * 1.1 ** 8 = 214.4
    assert weeks_to_target(100, 200, 0.10) == 8
    # exactly reachable: 100 * 1.1 ** 2 = 121
    assert weeks_to_target(100, 121, 0.10) == 2
    assert weeks_to_target(100, 90, 0.05) == 0
    with pytest.raises(ValueError, match="never reaches"):
        weeks_to_target(100, 200, 0)


def test_projection_rejects_a_rate_of_minus_100_percent_or_less():
    with pytest.raises(ValueError):
        project(100, -1.0)
    assert math.isclose(project(100, 0.0), 100)
