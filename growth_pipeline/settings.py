"""Settings read from the environment, with the embedded defaults (the simulated platform, a local file).

Everything a deployment changes is an environment variable; nothing needs a code edit. Secrets (the
FlowFuse token) are read where they are used and never stored in Dagster config or metadata.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_START_DATE = "2023-09-01"  # the simulated platform's first day


def start_date() -> date:
    """First daily partition (GROWTH_START_DATE, UTC)."""
    value = os.getenv("GROWTH_START_DATE", DEFAULT_START_DATE)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"GROWTH_START_DATE={value!r} is not a date; write it as YYYY-MM-DD") from None


def duckdb_path() -> Path:
    """The DuckDB file (GROWTH_DUCKDB_PATH, default data/growth.duckdb in the project)."""
    return Path(os.getenv("GROWTH_DUCKDB_PATH", PROJECT_ROOT / "data" / "growth.duckdb"))


def archive_dir() -> Path:
    """Where every live snapshot is archived, one JSON file per day (GROWTH_ARCHIVE_DIR, default data/archive)."""
    return Path(os.getenv("GROWTH_ARCHIVE_DIR", PROJECT_ROOT / "data" / "archive"))


def dashboard_path() -> Path:
    """Where the product metrics dashboard (one HTML file) is written (GROWTH_DASHBOARD_PATH, default
    data/product_metrics_dashboard.html in the project)."""
    return Path(os.getenv("GROWTH_DASHBOARD_PATH", PROJECT_ROOT / "data" / "product_metrics_dashboard.html"))
