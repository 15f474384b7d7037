"""Team growth accounting on a small hand-written team history (growth_pipeline/growth/accounting.py has
the definitions). Every expected number is counted by hand from the HISTORY table below."""

from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from growth_pipeline.catalog import load_catalog
from growth_pipeline.growth.accounting import team_growth_accounting
from growth_pipeline.growth.assets import team_growth_accounting as accounting_asset
from growth_pipeline.storage.warehouse import ensure_tables

from .conftest import RANGE_END, RANGE_START, pipeline_resources, query

# Each team's state on every day of each ISO week: I = an instance, D = a device (both make a team active),
# 0 = neither, ? = counters unknown (never active), - = not listed. Tier changes are written tier:state.
MONDAYS = [date(2026, 1, 5) + timedelta(days=7 * i) for i in range(8)]  # 2026-W02 .. 2026-W09
HISTORY = {
    #        W02          W03          W04          W05          W06          W07          W08  W09
    "A": ["starter:I", "starter:I", "starter:I", "starter:I", "starter:I", "starter:I", "-", "starter:I"],
    "B": ["team:D", "team:D", "team:0", "team:0", "team:I", "team:I", "-", "-"],
    "C": ["enterprise:0", "enterprise:I", "enterprise:D", "enterprise:0", "enterprise:0", "enterprise:0", "-", "-"],
    "D": ["starter:I", "starter:I", "team:I", "team:I", "team:I", "team:0", "-", "-"],
    "E": ["-", "-", "-", "team:I", "team:I:suspended", "team:D", "-", "-"],
    "F": ["starter:I", "starter:?", "starter:I", "starter:I", "starter:I", "starter:I", "-", "-"],
    "G": ["starter:I", "starter:I", "starter:I:until-saturday", "-", "-", "-", "-", "-"],
}
NO_DATA_WEEK = MONDAYS[6]  # 2026-W08: nobody listed on any day
MISSING_SUNDAY = date(2026, 2, 15)  # 2026-W07's Sunday: the week is decided on Saturday 2026-02-14


def history_rows() -> list[tuple]:
    rows = []
    for team, weeks in HISTORY.items():
        for monday, cell in zip(MONDAYS, weeks, strict=True):
            if cell == "-":
                continue
            tier, state, *flags = cell.split(":")
            for offset in range(7):
                day = monday + timedelta(days=offset)
                if day == MISSING_SUNDAY:
                    continue
                # G is active Monday to Saturday of 2026-W04 but not on its Sunday: inactive that week.
                day_state = "0" if "until-saturday" in flags and offset == 6 else state
                instances = {"I": 1, "D": 0, "0": 0, "?": None}[day_state]
                devices = {"I": 0, "D": 2, "0": 0, "?": None}[day_state]
                rows.append((day, team, tier, "suspended" in flags, instances, devices))
    return rows


def write_history(database: Path) -> None:
    with duckdb.connect(str(database)) as conn:
        ensure_tables(conn)
        conn.executemany(
            "INSERT INTO team_usage (snapshot_date, team_id, tier, suspended, instance_count, device_count) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            history_rows(),
        )


NOTHING_CHURNED = "nothing churned: no quick ratio"
# (ISO week, tier) -> (active, new, retained, resurrected, churned, quick ratio, note), counted by hand:
EXPECTED = {
    # W03 vs W02 (active A B D F G): C is new; F's counters are unknown, so F churns.
    ("2026-W03", "starter"): (3, 0, 3, 0, 1, 0.0, None),  # A D G retained, F churned
    ("2026-W03", "team"): (1, 0, 1, 0, 0, None, NOTHING_CHURNED),  # B
    ("2026-W03", "enterprise"): (1, 1, 0, 0, 0, None, NOTHING_CHURNED),  # C new
    ("2026-W03", "all"): (5, 1, 4, 0, 1, 1.0, None),
    # W04 vs W03 (A B C D G): F is back (resurrected); B churns; G churns (inactive on Sunday); D moved
    # to the team tier and is retained there.
    ("2026-W04", "starter"): (2, 0, 1, 1, 1, 1.0, None),  # A retained, F resurrected, G churned
    ("2026-W04", "team"): (1, 0, 1, 0, 1, 0.0, None),  # D retained, B churned
    ("2026-W04", "enterprise"): (1, 0, 1, 0, 0, None, NOTHING_CHURNED),  # C
    ("2026-W04", "all"): (4, 0, 3, 1, 2, 0.5, None),
    # W05 vs W04 (A C D F): E is new, C churns.
    ("2026-W05", "starter"): (2, 0, 2, 0, 0, None, NOTHING_CHURNED),  # A F
    ("2026-W05", "team"): (2, 1, 1, 0, 0, None, NOTHING_CHURNED),  # D retained, E new
    ("2026-W05", "enterprise"): (0, 0, 0, 0, 1, 0.0, None),  # C churned
    ("2026-W05", "all"): (4, 1, 3, 0, 1, 1.0, None),
    # W06 vs W05 (A D E F): B is resurrected (active in W02-W03); E is suspended but still active.
    ("2026-W06", "starter"): (2, 0, 2, 0, 0, None, NOTHING_CHURNED),
    ("2026-W06", "team"): (3, 0, 2, 1, 0, None, NOTHING_CHURNED),  # D E retained, B resurrected
    ("2026-W06", "enterprise"): (0, 0, 0, 0, 0, None, NOTHING_CHURNED),
    ("2026-W06", "all"): (5, 0, 4, 1, 0, None, NOTHING_CHURNED),
    # W07 vs W06 (A B D E F), decided on Saturday: D has no instance left and churns.
    ("2026-W07", "starter"): (2, 0, 2, 0, 0, None, NOTHING_CHURNED),
    ("2026-W07", "team"): (2, 0, 2, 0, 1, 0.0, None),  # B E retained, D churned
    ("2026-W07", "enterprise"): (0, 0, 0, 0, 0, None, NOTHING_CHURNED),
    ("2026-W07", "all"): (4, 0, 4, 0, 1, 0.0, None),
    # W08 has no team data at all; W09 cannot be compared with it.
    **{("2026-W08", t): (None,) * 6 + ("no team data this week",) for t in ("starter", "team", "enterprise", "all")},
    ("2026-W09", "starter"): (1, None, None, None, None, None, "no team data in the previous week (2026-W08)"),
    **{
        ("2026-W09", t): (0, None, None, None, None, None, "no team data in the previous week (2026-W08)")
        for t in ("team", "enterprise")
    },
    ("2026-W09", "all"): (1, None, None, None, None, None, "no team data in the previous week (2026-W08)"),
}
COUNTS = "active_teams, new_teams, retained_teams, resurrected_teams, churned_teams, quick_ratio, note"


def as_expected(rows) -> dict:
    """(ISO week, tier) -> the counts, with every kind of missing value (NaN, NA) as None."""
    return {(week, tier): tuple(None if pd.isna(v) else v for v in values) for week, tier, *values in rows}


def approx(expected: dict) -> dict:
    return {key: tuple(pytest.approx(v) if isinstance(v, float) else v for v in e) for key, e in expected.items()}


def test_growth_accounting_on_a_hand_written_team_history(warehouse):
    write_history(warehouse)
    catalog = load_catalog()
    end = MONDAYS[-1] + timedelta(days=7)
    with duckdb.connect(str(warehouse)) as conn:
        frame = team_growth_accounting(conn, MONDAYS[1], end, catalog.active_team_sql(), catalog.tiers)
    columns = ["iso_week", "tier", *(c.strip() for c in COUNTS.split(","))]
    assert as_expected(frame[columns].itertuples(index=False)) == approx(EXPECTED)
    assert frame["tier"].tolist()[:4] == ["starter", "team", "enterprise", "all"]


def test_states_add_up_and_each_week_is_decided_on_its_last_day_with_data(warehouse):
    write_history(warehouse)
    catalog = load_catalog()
    with duckdb.connect(str(warehouse)) as conn:
        frame = team_growth_accounting(conn, MONDAYS[1], MONDAYS[6], catalog.active_team_sql(), catalog.tiers)
    totals = frame[frame["tier"] == "all"].set_index("iso_week")
    per_tier = frame[frame["tier"] != "all"].groupby("iso_week")[["new_teams", "retained_teams", "churned_teams"]].sum()
    assert (per_tier == totals[["new_teams", "retained_teams", "churned_teams"]]).all().all()
    saturday = totals.loc["2026-W07"]
    assert (saturday["activity_date"], saturday["missing_days"]) == (date(2026, 2, 14), "2026-02-15")
    assert totals.loc["2026-W06", "activity_date"] == date(2026, 2, 8)
    assert totals["missing_days"].isna().sum() == 4


def test_the_asset_writes_the_table_and_a_range_equals_week_by_week(tmp_path):
    def run(database: Path, first: date, last: date):
        return dg.materialize(
            [accounting_asset],
            resources=pipeline_resources(database),
            tags={RANGE_START: first.isoformat(), RANGE_END: last.isoformat()},
        )

    in_one_run, week_by_week = tmp_path / "range.duckdb", tmp_path / "weekly.duckdb"
    for database in (in_one_run, week_by_week):
        write_history(database)
    result = run(in_one_run, MONDAYS[1], MONDAYS[-1])
    for monday in MONDAYS[1:]:
        run(week_by_week, monday, monday)

    table = "SELECT * FROM team_growth_accounting ORDER BY week_start, tier"
    assert query(in_one_run, table) == query(week_by_week, table)
    stored = query(in_one_run, f"SELECT iso_week, tier, {COUNTS} FROM team_growth_accounting")
    assert as_expected(stored) == approx(EXPECTED)

    metadata = result.asset_materializations_for_node("team_growth_accounting")[-1].metadata
    assert metadata["latest_week"].value == "2026-W09"
    total = next(entry for entry in metadata["accounting"].data if entry["tier"] == "all")
    assert total["active_teams"] == 1 and total["activity_date"] == "2026-03-01" and total["new_teams"] is None
