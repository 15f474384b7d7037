"""`growth-calc`: the team's growth calculator on the command line.

    growth-calc                                   the team's example table, right values, where it is off
    growth-calc rate 100 150 --weeks 8            WoW rate from 100 to 150 over 8 weeks, with its band
    growth-calc rate 100 150 --from 2026-01-05 --to 2026-03-02     ... or between two dates
    growth-calc year 100 5 2 0.5                  the value after 52 weeks at 5%, 2% and 0.5% a week
    growth-calc target 100 1000 3                 weeks to grow from 100 to 1,000 at 3% a week

Rates are in percent a week (5 and 5% both mean 5%). Bands come from the catalog (GROWTH_CATALOG, or
the packaged catalog.yaml). A bad input prints one line naming it and exits with status 2.
"""

from __future__ import annotations

import argparse
import os
import sys

from growth_pipeline.catalog import CatalogError, load_catalog
from growth_pipeline.growth import calculator
from growth_pipeline.growth.calculator import CalculatorError, number, percent

USAGE_ERROR = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (no usage block), like every other input error here."""

    def error(self, message: str):
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message} (see {self.prog.split()[0]} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="growth-calc",
        description="Week-on-week growth calculator. With no command it prints the team's example table.",
        epilog="Rates are in percent a week: 5 and 5%% both mean 5%%.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("table", help="the team's example table (the default), with the right values")

    rate = commands.add_parser("rate", help="the sustained WoW rate between two values, with its band")
    rate.add_argument("start", metavar="START", help="the value at the start (> 0)")
    rate.add_argument("end", metavar="END", help="the value at the end (>= 0)")
    rate.add_argument("--weeks", help="weeks from START to END (> 0)")
    rate.add_argument("--from", dest="from_date", metavar="DATE", help="date of START (YYYY-MM-DD)")
    rate.add_argument("--to", dest="to_date", metavar="DATE", help="date of END (YYYY-MM-DD)")

    year = commands.add_parser("year", help="the value after 12 months (52 weeks) at sustained weekly rates")
    year.add_argument("start", metavar="START", help="the value now (> 0)")
    year.add_argument("rates", metavar="RATE", nargs="+", help="weekly rate in percent, e.g. 5 or 0.5%%")

    target = commands.add_parser("target", help="weeks needed to reach a target at a weekly rate")
    target.add_argument("start", metavar="START", help="the value now (> 0)")
    target.add_argument("target", metavar="TARGET", help="the value to reach (> 0)")
    target.add_argument("rate", metavar="RATE", help="weekly rate in percent, e.g. 3")
    return parser


def report(args: argparse.Namespace) -> str:
    """The text the command prints; CalculatorError (or CatalogError) on a bad input."""
    bands = load_catalog(os.getenv("GROWTH_CATALOG") or None).bands
    if args.command in (None, "table"):
        return calculator.example_table_report(bands)
    start = number(args.start, "START")
    if args.command == "rate":
        dates = (args.from_date, args.to_date)
        if args.weeks is not None and any(dates):
            raise CalculatorError("give --weeks or --from/--to, not both")
        if args.weeks is not None:
            weeks = number(args.weeks, "--weeks")
        elif all(dates):
            weeks = calculator.weeks_between(*dates)
        else:
            raise CalculatorError("give --weeks N, or both --from DATE and --to DATE")
        return calculator.rate_report(start, number(args.end, "END"), weeks, bands)
    if args.command == "year":
        return calculator.year_report(start, [percent(r, "RATE") for r in args.rates], bands)
    return calculator.target_report(start, number(args.target, "TARGET"), percent(args.rate, "RATE"))


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        print(report(args))
    except (CalculatorError, CatalogError) as problem:
        one_line = " ".join(str(problem).split())  # a YAML error spans lines; the answer is one line
        print(f"growth-calc: error: {one_line}", file=sys.stderr)
        raise SystemExit(USAGE_ERROR) from None


if __name__ == "__main__":
    main()
