"""`growth_calculator_job`: the growth calculator from the Dagster UI's launchpad (same inputs as `growth-calc`).

Fill in what you want to know; every calculation whose inputs are given runs, and with none the job
prints the team's example table. The answers are in the run's logs and in the step's output metadata.
"""

import dagster as dg
from pydantic import Field

from growth_pipeline.growth import calculator
from growth_pipeline.growth.calculator import CalculatorError, percent
from growth_pipeline.resources import CatalogResource


class GrowthCalculatorConfig(dg.Config):
    start_value: float = Field(default=100.0, description="The value at the start / now (> 0).")
    end_value: float | None = Field(
        default=None, description="WoW rate: the value at the end; give `weeks`, or `start_date` and `end_date`."
    )
    weeks: float | None = Field(default=None, description="WoW rate: weeks from start_value to end_value (> 0).")
    start_date: str | None = Field(default=None, description="WoW rate: date of start_value (YYYY-MM-DD).")
    end_date: str | None = Field(default=None, description="WoW rate: date of end_value (YYYY-MM-DD).")
    rates_percent: list[float] = Field(
        default=[],
        description="12 months: the value after 52 weeks from start_value at each weekly rate, in percent "
        "(e.g. [5, 2, 0.5]).",
    )
    target: float | None = Field(default=None, description="Weeks to target: the value to reach (> 0).")
    rate_percent: float | None = Field(default=None, description="Weeks to target: the weekly rate, in percent.")


def reports(config: GrowthCalculatorConfig, bands) -> list[str]:
    """The calculations the config asks for, each as text; the example table when it asks for none."""
    answers = []
    if config.end_value is not None:
        dates = (config.start_date, config.end_date)
        if config.weeks is not None and any(dates):
            raise CalculatorError("give weeks or start_date/end_date, not both")
        if config.weeks is None and not all(dates):
            raise CalculatorError("end_value needs weeks, or both start_date and end_date")
        weeks = config.weeks if config.weeks is not None else calculator.weeks_between(*dates)
        answers.append(calculator.rate_report(config.start_value, config.end_value, weeks, bands))
    elif config.weeks is not None or any((config.start_date, config.end_date)):
        raise CalculatorError("weeks, start_date and end_date are for the WoW rate: give end_value too")
    if config.rates_percent:
        rates = [percent(r, "rates_percent") for r in config.rates_percent]
        answers.append(calculator.year_report(config.start_value, rates, bands))
    if (config.target is None) != (config.rate_percent is None):
        raise CalculatorError("weeks to target needs both target and rate_percent")
    if config.target is not None:
        answers.append(
            calculator.target_report(config.start_value, config.target, percent(config.rate_percent, "rate_percent"))
        )
    return answers or [calculator.example_table_report(bands)]


@dg.op(out=dg.Out(dg.Nothing))
def growth_calculator(context: dg.OpExecutionContext, config: GrowthCalculatorConfig, catalog: CatalogResource):
    """Runs the calculations the config asks for, with the catalog's bands."""
    try:
        answers = reports(config, catalog.get().bands)
    except CalculatorError as problem:
        raise dg.Failure(description=f"growth_calculator: {problem}") from None
    text = "\n\n".join(answers)
    context.log.info("\n" + text)
    yield dg.Output(None, metadata={"result": dg.MetadataValue.md(f"```\n{text}\n```")})


@dg.job(
    description="The growth calculator: WoW rate between two values (over N weeks or two dates) with its "
    "band; the value after 12 months at sustained rates; weeks to a target. No config: the team's example table."
)
def growth_calculator_job():
    growth_calculator()
