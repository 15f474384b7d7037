"""The dashboard's pure parts: which alerts it shows, that the charts colour weeks by band, and that the
page is one self-contained document with the right words in it. The page as a person sees it (in Chromium)
is in test_dashboard_browser.py."""

import io
import json
import re
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
from matplotlib.image import imread

from growth_pipeline.catalog import load_catalog
from growth_pipeline.dashboard import charts
from growth_pipeline.dashboard.alerts import parse_alert, recent_alerts
from growth_pipeline.dashboard.data import HEADLINE_METRICS, DashboardData, SnapshotInfo
from growth_pipeline.dashboard.page import SIMULATED_BANNER, render_page
from growth_pipeline.growth.rollup import iso_week_label

CATALOG = load_catalog()
WEEK = date(2026, 11, 23)  # 2026-W48
NOW = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)


def alert(week: str, observed_at: datetime = NOW, **fields) -> dict:
    value = {"rule": "weak-growth", "metric": "teams", "segment": "all", "week": week, "band": "not acceptable"}
    return parse_alert(json.dumps({**value, **fields}), "weekly_growth", observed_at)


def test_an_alert_is_read_from_json_text_or_an_object():
    body = {"rule": "r", "metric": "teams", "segment": "all", "week": "2026-W48", "wow_growth": 0.004}
    assert parse_alert(json.dumps(body), "weekly_growth", NOW) == parse_alert(body, "weekly_growth", NOW)
    parsed = parse_alert(body, "weekly_growth", NOW)
    assert parsed["wow_growth"] == 0.004
    assert parsed["delivered"] is None  # a field the sensor did not send
    assert (parsed["asset"], parsed["observed_at"]) == ("weekly_growth", NOW)


def test_unreadable_alert_metadata_is_shown_not_dropped():
    parsed = parse_alert("not json {", "weekly_adoption", NOW)
    assert parsed["reason"] == "unreadable alert metadata: not json {"
    assert recent_alerts([parsed], WEEK) == [parsed]  # counted by the day it was observed


def test_recent_alerts_are_those_of_the_last_eight_weeks_newest_first():
    alerts = [
        alert("2026-W48"),
        alert("2026-W41"),  # the 8th week back: shown
        alert("2026-W40"),  # 9 weeks back: not shown
        alert("2026-W49"),  # after the dashboard's week (a later backfill): not shown
        alert("2026-11-18", rule="adoption-target"),  # a date in 2026-W47
    ]
    shown = recent_alerts(alerts, WEEK)
    assert [(a["week"], a["rule"]) for a in shown] == [
        ("2026-W48", "weak-growth"),
        ("2026-11-18", "adoption-target"),
        ("2026-W41", "weak-growth"),
    ]


def test_an_alert_recorded_twice_counts_once_as_last_recorded():
    first = alert("2026-W48", NOW, delivered=False, reason="webhook answered 500")
    again = alert("2026-W48", NOW + timedelta(minutes=5), delivered=True)
    assert recent_alerts([again, first], WEEK) == [again]


def history(bands: list[str | None]) -> pd.DataFrame:
    """26 weeks of the headline metrics, every metric in the given band each week."""
    rows = []
    for metric in HEADLINE_METRICS:
        for i, band in enumerate(bands):
            monday = WEEK - timedelta(weeks=len(bands) - 1 - i)
            rows.append(
                {
                    "week_start": monday,
                    "iso_week": iso_week_label(monday),
                    "metric": metric,
                    "value": 100.0 + i,
                    "wow_growth": None if band is None else 0.05,
                    "band": band,
                }
            )
    return pd.DataFrame(rows)


def pixels_of(png: bytes, colour: str) -> int:
    image = imread(io.BytesIO(png))[:, :, :3]
    rgb = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    return int((abs(image - rgb).max(axis=2) < 0.02).sum())


def test_the_growth_chart_colours_each_week_by_its_band():
    all_strong = charts.growth_chart_png(history(["strong"] * 26), CATALOG, HEADLINE_METRICS)
    all_okay = charts.growth_chart_png(history(["okay"] * 26), CATALOG, HEADLINE_METRICS)
    strong, okay = charts.BAND_COLOURS["strong"], charts.BAND_COLOURS["okay"]
    # The legend shows every colour once; the bars and markers of 4 metrics x 26 weeks dwarf it.
    assert pixels_of(all_strong, strong) > 20 * pixels_of(all_okay, strong)
    assert pixels_of(all_okay, okay) > 20 * pixels_of(all_strong, okay)
    image = imread(io.BytesIO(all_strong))
    assert image.shape[1] == 1000  # what the Dagster UI's markdown dialog shows without scrolling


def test_weeks_without_a_band_are_grey():
    png = charts.growth_chart_png(history([None] + ["strong"] * 25), CATALOG, HEADLINE_METRICS)
    none_at_all = charts.growth_chart_png(history(["strong"] * 26), CATALOG, HEADLINE_METRICS)
    assert pixels_of(png, charts.NO_BAND_COLOUR) > pixels_of(none_at_all, charts.NO_BAND_COLOUR)


def test_band_labels_follow_the_catalog_bands():
    labels = charts.band_labels(CATALOG.bands)
    assert labels["strong"] == "strong (4% to 6%)"
    assert labels["not acceptable"] == "not acceptable (≤ 1%)"


def dashboard(simulated: bool, alerts: list[dict]) -> DashboardData:
    growth = pd.DataFrame(
        [
            {
                "week_start": WEEK, "iso_week": "2026-W48", "metric": m, "segment": "all", "value": v,
                "previous_value": p, "wow_growth": v / p - 1, "band": b, "growth_note": None, "trend_note": None,
                "cgr_4w": 0.01, "cgr_13w": 0.012, "streak": 2, "multiple_12m": 1.68, "missing_days": None,
                "value_date": WEEK,
            }
            for m, v, p, b in [
                ("weighted_customer_index", 2100.0, 2000.0, "strong"),
                ("teams", 779.0, 776.0, "not acceptable"),
                ("instances", 1500.0, 1470.0, "sustainable"),
                ("devices", 2355.0, 2296.0, "sustainable"),
            ]
        ]
    )  # fmt: skip
    snapshot = SnapshotInfo(WEEK + timedelta(days=6), NOW, "demo" if simulated else "flowfuse", None, simulated, 0)
    return DashboardData(
        catalog=CATALOG,
        week_start=WEEK,
        growth=growth,
        growth_history=pd.DataFrame(),
        adoption=pd.DataFrame(),
        adoption_history=pd.DataFrame(),
        accounting=pd.DataFrame(),
        snapshot=snapshot,
        alerts=alerts,
        generated_at=NOW,
    )


def test_the_page_fetches_nothing():
    page = render_page(dashboard(True, [alert("2026-W48")]))
    # No URL the browser would fetch: every image is inline, no script or stylesheet is linked.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page)
    assert not re.search(r"<link\b|@import|url\(", page)
    assert "default-src 'none'" in page  # and the page forbids fetching anything, should a later edit try


def test_a_simulated_page_says_so_and_a_real_one_does_not():
    assert SIMULATED_BANNER in render_page(dashboard(True, []))
    real = render_page(dashboard(False, []))
    assert SIMULATED_BANNER not in real and 'id="simulated-banner"' not in real
    assert "from <b>flowfuse</b>" in real


@pytest.mark.parametrize("alerts", [[], [alert("2026-W48")]])
def test_the_alerts_section_lists_alerts_or_says_there_are_none(alerts):
    page = render_page(dashboard(True, alerts))
    assert ("No alerts raised." in page) == (not alerts)
    assert ('id="alerts-table"' in page) == bool(alerts)
