"""The growth calculator: `growth-calc` run as a real subprocess (the installed console script), and the
`growth_calculator_job` run through Dagster with the same inputs. Expected values are hand-computed:
100 x (1 + g)^52 for the example table (DESIGN.md section 4), (end / start)^(1/n) - 1 for rates."""

import os
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from growth_pipeline.catalog import load_catalog
from growth_pipeline.definitions import defs
from growth_pipeline.growth.calculator_job import GrowthCalculatorConfig

GROWTH_CALC = Path(sys.executable).parent / "growth-calc"


def growth_calc(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    assert GROWTH_CALC.exists(), f"{GROWTH_CALC} is missing: run `make install` (it installs the console script)"
    return subprocess.run([str(GROWTH_CALC), *args], capture_output=True, text=True, timeout=60, env=env)


# The example table's right values, 100 x (1 + g)^52 worked out with 30-digit decimals, to one decimal.
EXAMPLE_ROWS = [
    ("10%", "14,204.3", "x142.04", "exceptional", "14,204", "agrees"),
    ("7%", "3,372.5", "x33.73", "exceptional", "3,372", "agrees"),
    ("6%", "2,069.7", "x20.70", "exceptional", "2,070", "agrees"),
    ("5%", "1,264.3", "x12.64", "strong", "1,265", "agrees"),
    ("4%", "768.7", "x7.69", "strong", "769", "agrees"),
    ("3%", "465.1", "x4.65", "sustainable", "465", "agrees"),
    ("2%", "280.0", "x2.80", "sustainable", "280", "agrees"),
    ("1%", "167.8", "x1.68", "not acceptable", "167", "agrees"),
    ("0.5%", "129.6", "x1.30", "not acceptable", "132", "OFF: 100 x 1.005^52 = 129.6"),
]


def table_rows(output: str) -> list[tuple]:
    """The example table's data rows, split on runs of two or more spaces."""
    return [tuple(re.split(r"\s{2,}", line.strip())) for line in output.splitlines() if re.match(r"\s+-?[\d.]+%", line)]


def test_no_arguments_prints_the_example_table_with_right_values_and_says_where_it_is_off():
    result = growth_calc()
    assert result.returncode == 0, result.stderr
    assert table_rows(result.stdout) == EXAMPLE_ROWS
    assert "The hand-made table is off at 0.5%: 100 x 1.005^52 = 129.6, not 132." in result.stdout
    assert growth_calc("table").stdout == result.stdout


def test_rate_between_two_values_over_weeks_and_between_two_dates():
    # 100 -> 121 over 2 weeks: 1.1^2 = 1.21, so 10% a week: exceptional.
    result = growth_calc("rate", "100", "121", "--weeks", "2")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "From 100 to 121 over 2 weeks: +10.00% a week (exceptional)"
    # 2026-01-05 to 2026-03-02 is 56 days = 8 weeks; 1000 -> 1171.66 is 1.02^8: 2% a week, sustainable.
    by_dates = growth_calc("rate", "1000", "1171.66", "--from", "2026-01-05", "--to", "2026-03-02")
    assert by_dates.stdout.splitlines()[0] == "From 1,000 to 1,171.66 over 8 weeks: +2.00% a week (sustainable)"
    # 1.02^52 = 2.80 (the example table's 280.0 / 100)
    assert by_dates.stdout.splitlines()[1] == "Sustained for 12 months (52 weeks) that is x2.80"
    # Exactly 1% a week is not acceptable: 100 -> 101 over 1 week.
    assert "+1.00% a week (not acceptable)" in growth_calc("rate", "100", "101", "--weeks", "1").stdout


def test_value_after_twelve_months_at_given_rates():
    result = growth_calc("year", "250", "5", "0.5%", "-1")
    assert result.returncode == 0, result.stderr
    # 250 x 12.6428 = 3,160.7; 250 x 1.29609 = 324.0; 250 x 0.99^52 = 250 x 0.59296 = 148.2
    assert table_rows(result.stdout) == [
        ("5%", "3,160.7", "x12.64", "strong"),
        ("0.5%", "324.0", "x1.30", "not acceptable"),
        ("-1%", "148.2", "x0.59", "not acceptable"),
    ]


def test_weeks_needed_to_reach_a_target():
    # 1.1^7 = 1.949 < 2 <= 1.1^8 = 2.144: 8 weeks from 100 to 200 at 10%.
    result = growth_calc("target", "100", "200", "10")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "From 100 at 10% a week: 8 weeks to reach 200 (214.4 after week 8)"
    # 1.03^77 = 9.74 < 10 <= 1.03^78 = 10.03: 78 weeks, 1.5 years.
    assert growth_calc("target", "100", "1000", "3").stdout.strip() == (
        "From 100 at 3% a week: 78 weeks to reach 1,000 (1,003.0 after week 78; about 1.5 years)"
    )
    assert growth_calc("target", "1234567", "1000", "3").stdout.strip() == (
        "1,234,567 is already at or above the target 1,000: 0 weeks"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["rate", "-5", "10", "--weeks", "4"], "start value must be greater than 0, got -5"),
        (["rate", "0", "10", "--weeks", "4"], "start value must be greater than 0, got 0"),
        (["rate", "ten", "20", "--weeks", "4"], "START must be a number, got 'ten'"),
        (["rate", "10", "20", "--weeks", "four"], "--weeks must be a number, got 'four'"),
        (["rate", "10", "20", "--weeks", "0"], "weeks must be greater than 0, got 0"),
        (["rate", "10", "20", "--weeks", "-2"], "weeks must be greater than 0, got -2"),
        (["rate", "10", "-20", "--weeks", "2"], "end value must not be negative, got -20"),
        (["rate", "10", "20", "--from", "2026-03-01", "--to", "2026-01-01"], "end date 2026-01-01 is before start"),
        (["rate", "10", "20", "--from", "2026-02-30", "--to", "2026-03-09"], "start date must be a date such as"),
        (["rate", "10", "20", "--from", "2026-03-09", "--to", "2026-03-09"], "start and end date are the same day"),
        (["rate", "10", "20", "--weeks", "3", "--from", "2026-03-09"], "give --weeks or --from/--to, not both"),
        (["rate", "10", "20"], "give --weeks N, or both --from DATE and --to DATE"),
        (["rate", "10", "20", "--weeks", "inf"], "--weeks must be a finite number, got 'inf'"),
        (["year", "-100", "5"], "start value must be greater than 0, got -100"),
        (["year", "100", "five"], "RATE (in percent) must be a number, got 'five'"),
        (["year", "100", "-100"], "RATE must be above -100% a week, got -100"),
        (["target", "100", "200", "0"], "a metric growing at 0.00% a week never reaches a higher target"),
        (["target", "0", "200", "3"], "start value must be greater than 0, got 0"),
        (["rate", "10"], "the following arguments are required: END"),
        (["grow"], "invalid choice: 'grow'"),
    ],
)  # fmt: skip
def test_bad_input_gives_a_one_line_error_and_a_non_zero_exit(args, message):
    result = growth_calc(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("growth-calc") and "error: " in result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_bands_come_from_the_configured_catalog(tmp_path):
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(load_catalog().path.read_text().replace("exceptional: 0.06", "exceptional: 0.12"))
    result = growth_calc("rate", "100", "121", "--weeks", "2", env={**os.environ, "GROWTH_CATALOG": str(catalog)})
    assert "+10.00% a week (strong)" in result.stdout  # 4% <= 10% < 12%
    broken = tmp_path / "broken.yaml"
    broken.write_text("tiers: [")
    bad = growth_calc(env={**os.environ, "GROWTH_CATALOG": str(broken)})
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1 and "not valid YAML" in bad.stderr


# ------------------------------------------------------------------------------ the Dagster job


def run_job(**config):
    job = defs.resolve_job_def("growth_calculator_job")
    return job.execute_in_process(
        run_config=dg.RunConfig(ops={"growth_calculator": GrowthCalculatorConfig(**config)}), raise_on_error=False
    )


def result_text(result) -> str:
    output = next(e for e in result.all_events if e.event_type_value == "STEP_OUTPUT")
    return output.event_specific_data.metadata["result"].md_str


def test_the_job_with_no_config_gives_the_example_table():
    result = run_job()
    assert result.success
    assert table_rows(result_text(result)) == EXAMPLE_ROWS


def test_the_job_takes_the_same_inputs_as_the_command():
    result = run_job(start_value=100, end_value=121, weeks=2, rates_percent=[5], target=200, rate_percent=10)
    assert result.success
    text = result_text(result)
    assert "From 100 to 121 over 2 weeks: +10.00% a week (exceptional)" in text
    assert ("5%", "1,264.3", "x12.64", "strong") in table_rows(text)
    assert "8 weeks to reach 200" in text
    by_dates = run_job(start_value=1000, end_value=1171.66, start_date="2026-01-05", end_date="2026-03-02")
    assert "over 8 weeks: +2.00% a week (sustainable)" in result_text(by_dates)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"start_value": 0, "end_value": 5, "weeks": 3}, "start value must be greater than 0, got 0"),
        ({"end_value": 5, "weeks": 0}, "weeks must be greater than 0, got 0"),
        ({"end_value": 5, "start_date": "2026-03-01", "end_date": "2026-01-01"}, "end date 2026-01-01 is before"),
        ({"end_value": 5}, "end_value needs weeks, or both start_date and end_date"),
        ({"target": 500}, "weeks to target needs both target and rate_percent"),
    ],
)
def test_the_job_fails_with_a_one_line_reason_on_bad_config(config, message):
    result = run_job(**config)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure).step_failure_data
    description = failure.user_failure_data.description
    assert description.startswith("growth_calculator: ") and message in description
    assert "\n" not in description


def test_the_launchpad_rejects_a_non_number():
    job = defs.resolve_job_def("growth_calculator_job")
    with pytest.raises(dg.DagsterInvalidConfigError, match="start_value"):
        job.execute_in_process(run_config={"ops": {"growth_calculator": {"config": {"start_value": "ten"}}}})
