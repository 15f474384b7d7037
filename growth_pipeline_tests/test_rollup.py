"""The weekly growth rollup: pure rollup() on hand-written series, the end-of-week SQL, the daily trailing
view, and the weekly_growth asset (range = week by week, bands re-classify without refetching).

Expected values come from the definitions (DESIGN.md section 4), worked out by hand in the comments.
"""

from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from growth_pipeline.catalog import load_catalog
from growth_pipeline.growth.assets import END_OF_WEEK_SQL
from growth_pipeline.growth.math import Bands
from growth_pipeline.growth.rollup import iso_week_label, rollup
from growth_pipeline.resources import SnapshotSourceResource
from growth_pipeline.storage.warehouse import ensure_tables

from .conftest import pipeline_resources, query, run_days, run_weeks

BANDS = load_catalog().bands  # the packaged catalog's bands: the team's defaults
LONG_AGO = date(2030, 1, 1)  # as_of for series whose weeks are all over
OLD_COLUMNS = [
    "week_start", "iso_week", "metric", "segment", "value", "value_date", "missing_days",
    "previous_value", "wow_growth", "growth_note", "band",
]  # fmt: skip


def levels(values: dict[date, float | None], metric: str = "teams", segment: str = "all") -> pd.DataFrame:
    """End-of-week rows as the asset's SQL gives them: each week's value on its Sunday, no missing day."""
    return pd.DataFrame(
        [
            {
                "week_start": monday,
                "metric": metric,
                "segment": segment,
                "value": value,
                "value_date": monday + timedelta(days=6),
                "missing_days": None,
            }
            for monday, value in values.items()
        ]
    )


def mondays(first: date, count: int) -> list[date]:
    return [first + timedelta(days=7 * i) for i in range(count)]


def row(frame: pd.DataFrame, week: date, metric: str = "teams") -> dict:
    """One output row as a dict, with every kind of missing value (NaN, NA) as None."""
    found = frame[(frame["week_start"] == week) & (frame["metric"] == metric)].iloc[0].to_dict()
    return {column: None if pd.isna(value) else value for column, value in found.items()}


def column(frame: pd.DataFrame, name: str) -> list:
    return [None if pd.isna(value) else value for value in frame[name]]


# A hand-written series, 2026-W02 onwards: 1,000 then these weekly rates (percent).
RATES = [3, 3, 3, 3, 7, 7, 0.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5]
WEEKS = mondays(date(2026, 1, 5), len(RATES) + 1)  # w0 .. w13


def series() -> dict[date, float]:
    values = [1000.0]
    for rate in RATES:
        values.append(values[-1] * (1 + rate / 100))
    return dict(zip(WEEKS, values, strict=True))


def test_bands_and_streaks_on_a_hand_written_series():
    frame = rollup(levels(series()), WEEKS, BANDS, as_of=LONG_AGO)
    # w0 has no previous week; then 3% x4 sustainable, 7% x2 exceptional, 0.5% not acceptable, 1.5% x6 okay.
    assert column(frame, "band") == [
        None, *["sustainable"] * 4, *["exceptional"] * 2, "not acceptable", *["okay"] * 6,
    ]  # fmt: skip
    assert column(frame, "streak") == [None, 1, 2, 3, 4, 1, 2, 1, 1, 2, 3, 4, 5, 6]
    assert row(frame, WEEKS[0])["growth_note"] == "no value in the previous week"


def test_four_and_thirteen_week_compound_rates_and_the_twelve_month_multiple():
    frame = rollup(levels(series()), WEEKS, BANDS, as_of=LONG_AGO)
    w4, w6, w13 = (row(frame, WEEKS[i]) for i in (4, 6, 13))
    # w4: four weeks of 3% -> exactly 3%; 52 weeks at 3% multiply by 4.651 (the example table's 465.1 / 100).
    assert w4["cgr_4w"] == pytest.approx(0.03)
    assert w4["multiple_12m"] == pytest.approx(4.651, abs=5e-4)
    # w6: (1.03^2 x 1.07^2)^(1/4) - 1 = sqrt(1.03 x 1.07) - 1 = sqrt(1.1021) - 1 = 4.981%.
    assert w6["cgr_4w"] == pytest.approx(0.04981, abs=1e-5)
    # w13: four weeks of 1.5%; over 13 weeks (1.03^4 x 1.07^2 x 1.005 x 1.015^6)^(1/13) - 1: the logs sum
    # to 0.11824 + 0.13532 + 0.00499 + 0.08933 = 0.34787, / 13 = 0.026759, e^0.026759 - 1 = 2.712%.
    assert w13["cgr_4w"] == pytest.approx(0.015)
    assert w13["cgr_13w"] == pytest.approx(0.02712, abs=1e-5)
    assert w13["multiple_12m"] == pytest.approx(1.015**52)
    assert w13["trend_note"] is None
    # w12's 13-week base would be 2026-W01, before the series: NULL with the reason.
    w12 = row(frame, WEEKS[12])
    assert w12["cgr_13w"] is None and w12["cgr_4w"] == pytest.approx(0.015)
    assert w12["trend_note"] == "13-week rate: no value for 2026-W01"


def test_history_before_the_requested_weeks_feeds_rates_and_streaks_but_is_not_returned():
    full = rollup(levels(series()), WEEKS, BANDS, as_of=LONG_AGO)
    last_two = rollup(levels(series()), WEEKS[-2:], BANDS, as_of=LONG_AGO)
    assert last_two["week_start"].tolist() == WEEKS[-2:]
    assert {c: column(last_two, c) for c in last_two} == {c: column(full.tail(2), c) for c in full}
    assert last_two["streak"].tolist() == [5, 6]


def test_keeps_the_original_signature_and_columns():
    frame = rollup(levels(series()), WEEKS[1:3], BANDS)  # as issue 4's weekly_adoption calls it
    assert frame.columns.tolist()[: len(OLD_COLUMNS)] == OLD_COLUMNS
    assert {"cgr_4w", "cgr_13w", "multiple_12m", "streak"} <= set(frame.columns)


# Every band boundary from both sides: V_{w-1} = 100, V_w as given.
@pytest.mark.parametrize(
    ("current", "band"),
    [
        (106.01, "exceptional"), (106, "exceptional"), (105.99, "strong"),
        (104.01, "strong"), (104, "strong"), (103.99, "sustainable"),
        (102.01, "sustainable"), (102, "sustainable"), (101.99, "okay"),
        (101.01, "okay"), (101, "not acceptable"), (100.99, "not acceptable"),
    ],
)  # fmt: skip
def test_every_band_boundary_from_both_sides(current, band):
    frame = rollup(levels({WEEKS[0]: 100, WEEKS[1]: current}), [WEEKS[1]], BANDS, as_of=LONG_AGO)
    assert column(frame, "band") == [band]
    assert frame["wow_growth"].iloc[0] == pytest.approx(current / 100 - 1)


def test_a_zero_base_gives_null_with_a_reason_never_inf_or_zero():
    values = {WEEKS[0]: 0.0, WEEKS[1]: 5.0, WEEKS[2]: 6.0, WEEKS[3]: 6.0, WEEKS[4]: 9.0}
    frame = rollup(levels(values), WEEKS[:5], BANDS, as_of=LONG_AGO)
    w1, w4 = row(frame, WEEKS[1]), row(frame, WEEKS[4])
    assert w1["wow_growth"] is None and w1["band"] is None and w1["streak"] is None
    assert w1["growth_note"] == "previous week's value is 0"
    # w4's 4-week base is w0 = 0: no rate; its WoW (9 / 6 - 1 = 50%) is fine.
    assert w4["cgr_4w"] is None and w4["multiple_12m"] is None
    assert w4["trend_note"].startswith("4-week rate: 2026-W02's value is 0")
    assert w4["wow_growth"] == pytest.approx(0.5) and w4["band"] == "exceptional"


def test_a_missing_week_gives_null_growth_and_breaks_the_streak():
    values = {WEEKS[0]: 100, WEEKS[1]: 103, WEEKS[2]: 106.09, WEEKS[4]: 112.55, WEEKS[5]: 115.93}
    frame = rollup(levels(values), WEEKS[:6], BANDS, as_of=LONG_AGO)
    assert [row(frame, WEEKS[i])["streak"] for i in (1, 2)] == [1, 2]
    w4 = row(frame, WEEKS[4])
    assert w4["wow_growth"] is None and w4["band"] is None
    assert w4["growth_note"] == "no value in the previous week"
    # 115.93 / 112.55 - 1 = 3.0%: sustainable again, but the streak starts over after the gap.
    assert row(frame, WEEKS[5])["band"] == "sustainable" and row(frame, WEEKS[5])["streak"] == 1
    assert WEEKS[3] not in frame["week_start"].tolist()  # a week with no data has no value


def test_a_week_missing_its_sunday_uses_the_latest_day_and_says_which_days():
    frame_in = levels({WEEKS[0]: 200, WEEKS[1]: 210})
    saturday = WEEKS[1] + timedelta(days=5)
    frame_in.loc[1, ["value_date", "missing_days"]] = [saturday, "2026-01-14, 2026-01-18"]
    result = row(rollup(frame_in, [WEEKS[1]], BANDS, as_of=LONG_AGO), WEEKS[1])
    assert result["value_date"] == date(2026, 1, 17)
    assert result["missing_days"] == "2026-01-14, 2026-01-18"
    assert result["growth_note"] == "no data on Sunday 2026-01-18; value from 2026-01-17"
    assert result["wow_growth"] == pytest.approx(0.05) and result["band"] == "strong"


def test_the_current_incomplete_week_is_never_classified():
    values = {WEEKS[0]: 100, WEEKS[1]: 103, WEEKS[2]: 110}
    wednesday = WEEKS[2] + timedelta(days=2)
    frame = rollup(levels(values), WEEKS[:3], BANDS, as_of=wednesday)
    current = row(frame, WEEKS[2])
    assert current["band"] is None and current["streak"] is None
    assert current["growth_note"] == "week in progress until 2026-01-25: not classified"
    assert current["wow_growth"] == pytest.approx(110 / 103 - 1)  # provisional, shown but not judged
    assert row(frame, WEEKS[1])["band"] == "sustainable"
    # On its Sunday the week is still in progress; the Monday after, it is classified.
    assert row(rollup(levels(values), [WEEKS[2]], BANDS, as_of=WEEKS[2] + timedelta(days=6)), WEEKS[2])["band"] is None
    assert row(rollup(levels(values), [WEEKS[2]], BANDS, as_of=WEEKS[3]), WEEKS[2])["band"] == "exceptional"


def test_bands_come_from_configuration():
    stricter = Bands(exceptional=0.10, strong=0.07, sustainable=0.05, okay=0.02)
    frame = rollup(levels(series()), WEEKS, stricter, as_of=LONG_AGO)
    # 2% < 3% < 5%: okay; 7% <= 7% < 10%: strong; 0.5% and 1.5% <= 2%: not acceptable (7 weeks running).
    assert column(frame, "band") == [
        None, *["okay"] * 4, *["strong"] * 2, *["not acceptable"] * 7,
    ]  # fmt: skip
    assert column(frame, "streak")[-7:] == [1, 2, 3, 4, 5, 6, 7]


def test_year_end_iso_weeks():
    # 2025-12-29..2026-01-04 spans two calendar years and is 2026-W01; 2026 has 53 ISO weeks:
    # 2026-W53 is 2026-12-28..2027-01-03, and 2027-01-04 starts 2027-W01.
    assert iso_week_label(date(2025, 12, 29)) == "2026-W01"
    assert iso_week_label(date(2026, 12, 21)) == "2026-W52"
    assert iso_week_label(date(2026, 12, 28)) == "2026-W53"
    assert iso_week_label(date(2027, 1, 4)) == "2027-W01"
    year_end = [date(2026, 12, 21), date(2026, 12, 28), date(2027, 1, 4)]
    frame = rollup(levels(dict(zip(year_end, [500, 520, 520.5], strict=True))), year_end, BANDS, as_of=LONG_AGO)
    assert frame["iso_week"].tolist() == ["2026-W52", "2026-W53", "2027-W01"]
    assert frame["value_date"].tolist() == [date(2026, 12, 27), date(2027, 1, 3), date(2027, 1, 10)]
    # W53 over W52: 520 / 500 - 1 = 4% strong; 2027-W01 over W53: 520.5 / 520 - 1 = 0.096% not acceptable.
    assert column(frame, "previous_value") == [None, 500, 520]
    assert column(frame, "wow_growth")[1:] == [pytest.approx(0.04), pytest.approx(0.5 / 520)]
    assert column(frame, "band") == [None, "strong", "not acceptable"]


# ------------------------------------------------------------------------------ SQL over the tables


def write_metrics(database: Path, rows: list[tuple[date, str, str, float]]) -> None:
    with duckdb.connect(str(database)) as conn:
        ensure_tables(conn)
        conn.executemany("INSERT INTO platform_metrics VALUES (?, ?, ?, ?)", rows)


def test_end_of_week_sql_groups_the_53rd_iso_week_across_the_year_end(warehouse):
    days = [date(2026, 12, 21) + timedelta(days=i) for i in range(21)]  # 2026-W52 .. 2027-W01
    missing = {date(2026, 12, 30), date(2027, 1, 3)}  # a Wednesday and the Sunday of 2026-W53
    write_metrics(warehouse, [(d, "teams", "all", 100 + i) for i, d in enumerate(days) if d not in missing])
    with duckdb.connect(str(warehouse)) as conn:
        got = conn.execute(END_OF_WEEK_SQL + " ORDER BY week_start", {"end": date(2027, 1, 11), "metrics": ["teams"]})
        rows = got.fetchall()
    assert rows == [
        (date(2026, 12, 21), "teams", "all", 106.0, date(2026, 12, 27), None),
        # 2026-W53: its Saturday 2027-01-02 (day 12, value 112) stands in for the missing Sunday.
        (date(2026, 12, 28), "teams", "all", 112.0, date(2027, 1, 2), "2026-12-30, 2027-01-03"),
        (date(2027, 1, 4), "teams", "all", 120.0, date(2027, 1, 10), None),
    ]


def test_daily_trailing_growth_view(warehouse):
    first = date(2026, 3, 2)
    values = {0: 50.0, 1: 0.0, 7: 55.0, 8: 10.0, 9: 12.0}  # day offset -> value; day 2 is absent
    write_metrics(warehouse, [(first + timedelta(days=k), "users", "all", v) for k, v in values.items()])
    rows = query(
        warehouse,
        "SELECT snapshot_date, value_7_days_before, trailing_growth, growth_note FROM daily_trailing_growth "
        "WHERE metric = 'users' AND snapshot_date >= ? ORDER BY snapshot_date",
        [first + timedelta(days=7)],
    )
    assert rows == [
        (date(2026, 3, 9), 50.0, pytest.approx(55 / 50 - 1), None),  # +10%
        (date(2026, 3, 10), 0.0, None, "value on 2026-03-03 is 0"),
        (date(2026, 3, 11), None, None, "no value on 2026-03-04"),
    ]


# ------------------------------------------------------------------------------ the asset in Dagster

# Hand-written daily levels, 2025-08-04 (Mon) to 2026-01-04 (Sun): each week's days climb to its Sunday
# value. The last week (2025-12-29..2026-01-04) spans the year end and is 2026-W01; its Sunday is absent.
HISTORY_START = date(2025, 8, 4)
SUNDAY_VALUES = [
    100, 103, 106, 109, 118, 127, 128, 130, 132, 134, 136,  # 2025-08-04 .. 2025-10-13
    138, 143, 150, 151, 157, 164, 170, 175, 182, 189, 190,  # 2025-10-20 .. 2025-12-29
]  # fmt: skip


def write_history(database: Path) -> None:
    rows = []
    for week, sunday_value in enumerate(SUNDAY_VALUES):
        for weekday in range(7):
            day = HISTORY_START + timedelta(days=7 * week + weekday)
            if day != date(2026, 1, 4):
                rows += [(day, "teams", "all", sunday_value - (6 - weekday)), (day, "users", "tier:team", 7.0)]
    write_metrics(database, rows)


def stored(database: Path) -> list[tuple]:
    return query(database, "SELECT * FROM weekly_growth ORDER BY week_start, metric, segment")


def test_a_weekly_range_equals_week_by_week_runs(tmp_path):
    first, last = date(2025, 11, 3), date(2025, 12, 29)  # nine weeks; history before them in the table
    in_one_run, week_by_week = tmp_path / "range.duckdb", tmp_path / "weekly.duckdb"
    for database in (in_one_run, week_by_week):
        write_history(database)
    run_weeks(first, last, pipeline_resources(in_one_run))
    for monday in mondays(first, 9):
        run_weeks(monday, monday, pipeline_resources(week_by_week))
    assert len(stored(in_one_run)) == 18 and stored(in_one_run) == stored(week_by_week)

    teams = query(
        in_one_run,
        "SELECT iso_week, value, value_date, missing_days, wow_growth, band, streak, cgr_4w, cgr_13w, growth_note "
        "FROM weekly_growth WHERE metric = 'teams' ORDER BY week_start DESC LIMIT 2",
    )
    # 2026-W01 = 2025-12-29..2026-01-04, its Sunday absent: Saturday's 190 - 1 = 189 against 189: 0%.
    # 4 weeks back is 2025-12-01 (170), 13 weeks back 2025-09-29 (132).
    assert teams[0] == (
        "2026-W01", 189.0, date(2026, 1, 3), "2026-01-04", 0.0, "not acceptable", 1,
        pytest.approx((189 / 170) ** 0.25 - 1), pytest.approx((189 / 132) ** (1 / 13) - 1),
        "no data on Sunday 2026-01-04; value from 2026-01-03",
    )  # fmt: skip
    # 2025-W52: 189 / 182 - 1 = 3.85% sustainable; W51 182 / 175 = 4% strong, so the streak is 1.
    assert teams[1][0] == "2025-W52" and teams[1][5:7] == ("sustainable", 1)


def test_users_flat_series_streak_counts_back_before_the_window(tmp_path):
    database = tmp_path / "growth.duckdb"
    write_history(database)
    run_weeks(date(2025, 12, 22), date(2025, 12, 22), pipeline_resources(database))
    # users/tier:team is 7 every day from 2025-08-04: 0% growth (not acceptable) every week from
    # 2025-W33 (2025-08-11) to 2025-W52 (2025-12-22): 20 weeks, all but one before the window.
    assert query(database, "SELECT band, streak FROM weekly_growth WHERE segment = 'tier:team'") == [
        ("not acceptable", 20)
    ]


class NoSource(SnapshotSourceResource):
    """A source that fails if anything asks it for a snapshot."""

    def source(self):
        raise AssertionError("the weekly rollup must not fetch raw data")


def test_changing_the_bands_reclassifies_on_the_next_materialization_without_refetching(warehouse, tmp_path):
    resources = pipeline_resources(warehouse)
    run_days(date(2025, 11, 10), date(2025, 11, 23), resources)
    raw_before = query(warehouse, "SELECT snapshot_date, taken_at FROM raw_snapshots ORDER BY 1")
    week = date(2025, 11, 17)
    first = run_weeks(week, week, resources)
    band = "SELECT band, wow_growth FROM weekly_growth WHERE metric = 'teams' AND segment = 'all'"
    assert query(warehouse, band) == [("not acceptable", pytest.approx(337 / 334 - 1))]  # +0.90%

    catalog = load_catalog()
    looser = tmp_path / "catalog.yaml"
    text = catalog.path.read_text()
    looser.write_text(
        text.replace("exceptional: 0.06", "exceptional: 0.03")
        .replace("strong: 0.04", "strong: 0.02")
        .replace("sustainable: 0.02", "sustainable: 0.008")
        .replace("okay: 0.01", "okay: 0.005")
    )
    assert load_catalog(looser).bands == Bands(exceptional=0.03, strong=0.02, sustainable=0.008, okay=0.005)
    second = run_weeks(week, week, pipeline_resources(warehouse, NoSource(), catalog=str(looser)))

    assert query(warehouse, band) == [("sustainable", pytest.approx(337 / 334 - 1))]  # 0.8% <= 0.90% < 2%
    assert query(warehouse, "SELECT snapshot_date, taken_at FROM raw_snapshots ORDER BY 1") == raw_before
    tables = [
        r.asset_materializations_for_node("weekly_growth")[-1].metadata["latest_week_growth"].md_str
        for r in (first, second)
    ]
    teams = [next(line for line in table.splitlines() if line.startswith("| Teams |")) for table in tables]
    assert teams[0] == (
        "| Teams | 337 | 334 | +0.90% | not acceptable | – | – | 1 | – "
        "| 4-week rate: no value for 2025-W43; 13-week rate: no value for 2025-W34 |"
    )
    assert teams[1].startswith("| Teams | 337 | 334 | +0.90% | sustainable |")


def test_weekly_metadata_carries_rates_and_streaks_for_the_latest_week(tmp_path):
    database = tmp_path / "growth.duckdb"
    write_history(database)
    result = run_weeks(date(2025, 12, 22), date(2025, 12, 22), pipeline_resources(database))
    metadata = result.asset_materializations_for_node("weekly_growth")[-1].metadata
    table = metadata["latest_week_growth"].md_str.splitlines()
    assert table[0] == (
        "| metric | value | previous | WoW | band | 4-week rate | 13-week rate | streak (weeks) | 12-month multiple "
        "| note |"
    )
    # Teams 2025-W52: 189 / 182 = +3.85%; 4 weeks from 164 (2025-11-24's week): (189/164)^(1/4) - 1 = +3.61%;
    # 13 weeks from 130 (2025-09-22's week): (189/130)^(1/13) - 1 = +2.92%; (189/164)^(52/4) = 6.32x.
    assert table[2] == "| Teams | 189 | 182 | +3.85% | sustainable | +3.61% | +2.92% | 1 | 6.32x | – |"
    growth = metadata["growth"].data
    users = next(g for g in growth if g["metric"] == "users")
    assert users["streak"] == 20 and users["cgr_4w"] == 0 and users["multiple_12m"] == 1
    assert isinstance(dg.MetadataValue.json(growth), dg.JsonMetadataValue)
