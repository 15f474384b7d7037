"""Small markdown renderings for asset metadata, so the UI shows tables a person can read without SQL."""

from __future__ import annotations

import math

import pandas as pd


def _cell(value: object, percent: bool) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "–"
    if isinstance(value, float):
        if percent:
            return f"{value:+.2%}" if percent == "signed" else f"{value:.1%}"
        return f"{value:,.0f}" if value.is_integer() else f"{value:,.2f}"
    return str(value)


def markdown_table(frame: pd.DataFrame, percent_columns: dict[str, str] | None = None) -> str:
    """A markdown table of ``frame``; ``percent_columns`` maps a column to 'rate' (12.3%) or 'signed' (+1.20%)."""
    percent_columns = percent_columns or {}
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    lines = [
        "| " + " | ".join(_cell(row[c], percent_columns.get(c, False)) for c in frame.columns) + " |"
        for _, row in frame.iterrows()
    ]
    return "\n".join([header, rule, *lines])
