"""The product metrics dashboard checked as a person would: built by the real assets from three simulated
weeks (seed 7), opened from its file in headless Chromium with the network off, read and typed into.

Expected numbers come from the simulator's own answers for the week's Sunday (its stats and team list) and
from hand computation, not from the dashboard's code. Needs Debian's `chromium`: without it these tests
fail and say `apt-get install chromium`.
"""

import json
from datetime import date

import dagster as dg
import pytest

from growth_pipeline.adoption.assets import weekly_adoption
from growth_pipeline.dashboard.assets import product_metrics_dashboard
from growth_pipeline.dashboard.page import SIMULATED_BANNER
from growth_pipeline.growth.assets import team_growth_accounting, weekly_growth
from growth_pipeline.growth.math import classify
from growth_pipeline.simulator.api import SIMULATED_BASE_URL
from growth_pipeline.simulator.platform import SimulatedPlatform

from .browser import INSTALL_HINT, Chromium, Page, chromium_path
from .conftest import RANGE_END, RANGE_START, pipeline_resources, run_days
from .test_pipeline import mqtt_adoption_by_hand

FIRST, LAST = date(2025, 11, 3), date(2025, 11, 23)  # ISO weeks 2025-W45 to W47, Monday to Sunday
WEEKS = (date(2025, 11, 10), date(2025, 11, 17))  # the weeks whose previous week is in the range
SUNDAY, PREVIOUS_SUNDAY = date(2025, 11, 23), date(2025, 11, 16)
WEEKLY = [weekly_growth, weekly_adoption, team_growth_accounting]
ALERTS = [  # as the alert sensors (issue 7) record them: an observation of the weekly asset, metadata "alert"
    ("weekly_growth", {"rule": "not-acceptable-2-weeks", "metric": "teams", "segment": "all", "week": "2025-W47",
     "wow_growth": 0.00898, "band": "not acceptable", "streak": 2, "condition": "band <= not acceptable for 2 weeks",
     "delivered": False, "reason": "no webhook configured: nothing was sent"}),
    ("weekly_adoption", {"rule": "tables-adoption", "metric": None, "segment": "enterprise", "week": "2025-W46",
     "wow_growth": None, "band": None, "streak": None, "condition": "adoption rate of tables < 60%",
     "delivered": True, "reason": None}),
    ("weekly_growth", {"rule": "old", "metric": "users", "segment": "all", "week": "2025-W30", "wow_growth": 0.0,
     "band": "not acceptable", "streak": 5, "condition": "too old to show", "delivered": True, "reason": None}),
]  # fmt: skip


@pytest.fixture(scope="module")
def browser():
    try:
        chromium_path()
    except Exception:
        pytest.fail(f"chromium is not installed: {INSTALL_HINT}")
    with Chromium() as chromium:
        yield chromium


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The real assets over three simulated weeks, alerts recorded on the weekly assets, then the dashboard."""
    folder = tmp_path_factory.mktemp("dashboard")
    resources = pipeline_resources(folder / "growth.duckdb")
    instance = dg.DagsterInstance.ephemeral()
    run_days(FIRST, LAST, resources, instance)
    tags = {RANGE_START: WEEKS[0].isoformat(), RANGE_END: WEEKS[1].isoformat()}
    weeks = dg.materialize(WEEKLY, resources=resources, instance=instance, tags=tags)
    for asset, body in ALERTS:
        instance.report_runless_asset_event(
            dg.AssetObservation(asset_key=asset, metadata={"alert": dg.MetadataValue.json(body)})
        )
    path = folder / "product_metrics_dashboard.html"
    board = dg.materialize(
        [product_metrics_dashboard, *WEEKLY],
        selection=[product_metrics_dashboard],
        resources=resources,
        instance=instance,
        run_config={"ops": {"product_metrics_dashboard": {"config": {"path": str(path)}}}},
    )
    return path, weeks, board


@pytest.fixture(scope="module")
def page(built, browser):
    path, _, _ = built
    tab = Page(browser)
    tab.open(path.as_uri(), offline=True)
    return tab


def expected_tiles() -> dict[str, tuple[str, str, str]]:
    """metric -> (value, WoW, band) from the simulator's stats and team list on the two Sundays."""
    platform = SimulatedPlatform()
    weights = {"starter": 1, "team": 4, "enterprise": 8}  # catalog.yaml: WCI = Starter + 4 x Team + 8 x Enterprise

    def levels(day: date) -> dict[str, int]:
        state = platform.state_on(day)
        wci = sum(weights[t["type"]["name"]] for t in state.teams if not t["suspended"])
        return {
            "weighted_customer_index": wci,
            "teams": state.stats["teamCount"],
            "instances": state.stats["instanceCount"],
            "devices": state.stats["deviceCount"],
        }

    now, before = levels(SUNDAY), levels(PREVIOUS_SUNDAY)
    return {m: (f"{now[m]:,}", f"{now[m] / before[m] - 1:+.2%}", classify(now[m] / before[m] - 1)) for m in now}


def test_the_dashboard_materializes_with_its_path_in_the_metadata(built):
    path, _, board = built
    assert board.success
    metadata = board.asset_materializations_for_node("product_metrics_dashboard")[0].metadata
    assert metadata["path"].value == str(path.resolve())
    assert metadata["week"].value == "2025-W47"
    assert metadata["simulated"].value is True
    assert metadata["alerts_shown"].value == 2  # the third is about 2025-W30, long before the last 8 weeks
    assert path.read_text().startswith("<!doctype html>")


def test_the_weekly_charts_are_on_the_latest_week_only(built):
    _, weeks, _ = built
    for asset in ("weekly_growth", "weekly_adoption"):
        by_week = {m.partition: m.metadata for m in weeks.asset_materializations_for_node(asset)}
        assert set(by_week) == {"2025-11-10", "2025-11-17"}
        assert by_week["2025-11-17"]["charts"].value.startswith("![")
        assert "(data:image/png;base64," in by_week["2025-11-17"]["charts"].value
        assert "charts" not in by_week["2025-11-10"]  # a range run does not copy the image to every week


def test_the_page_loads_offline_without_console_errors(page):
    assert page.console_problems() == []
    requested = page.requested_urls()
    assert requested and all(url.startswith(("file:", "data:")) for url in requested), requested
    assert page.evaluate("document.images.length") == 2
    assert page.evaluate("[...document.images].every(i => i.complete && i.naturalWidth === 1000)")


def test_the_tiles_show_the_weeks_values_from_the_simulator(page):
    assert expected_tiles()["teams"] == ("337", "+0.90%", "not acceptable")  # README: 334 -> 337 teams
    for metric, (value, wow, band) in expected_tiles().items():
        tile = f'.tile[data-metric="{metric}"]'
        assert page.text(f"{tile} .value") == value, metric
        assert page.text(f"{tile} .wow") == wow, metric
        assert page.text(f"{tile} .band") == band, metric
        assert page.evaluate(f"document.querySelector('{tile}').dataset.band") == band


def test_the_page_says_when_and_where_the_data_was_taken_and_that_it_is_simulated(page):
    assert page.text("#simulated-banner") == SIMULATED_BANNER
    # A demo snapshot is taken at the end of its day (the simulator's clock), from the simulated platform's URL.
    assert page.text("#provenance").startswith(
        "Data taken 2025-11-24 00:00 UTC (snapshot of 2025-11-23, the week's last day with data) from "
        f"demo ({SIMULATED_BASE_URL}), a simulated platform. Page generated "
    )
    assert page.text(".week") == "ISO week 2025-W47 (Monday 17 Nov 2025 to Sunday 23 Nov 2025)"


def test_the_calculator_answers_typed_inputs(page):
    # (1350 / 1200)^(1/8) - 1 = 1.125^0.125 - 1 = 0.014834...: +1.48% a week, "okay" (1% < g < 2%);
    # sustained for 52 weeks: 1.125^(52/8) = 1.125^6.5 = 2.1503...
    page.type("#calc-start", "1200")
    page.type("#calc-end", "1350")
    page.type("#calc-weeks", "8")
    assert page.text("#calc-rate") == "+1.48%"
    assert page.text("#calc-band") == "okay"
    assert page.text("#calc-multiple") == "x2.15"
    # 100 at 5% a week for 52 weeks: 100 x 1.05^52 = 1,264.34 (the team's table says 1,265), "strong"
    page.type("#proj-start", "100")
    page.type("#proj-rate", "5")
    assert page.text("#proj-value") == "1,264.3"
    assert "strong" in page.text("#proj-result")
    assert "(x12.64)" in page.text("#proj-result")
    # 0.5% a week: 100 x 1.005^52 = 129.6, not the hand-made table's 132; "not acceptable" (<= 1%)
    page.type("#proj-rate", "0.5")
    assert page.text("#proj-value") == "129.6"
    assert "not acceptable" in page.text("#proj-result")
    page.type("#calc-start", "0")
    assert page.text("#calc-rate-result") == "start value must be greater than 0, got 0"
    assert page.console_problems() == []


def test_the_calculator_bands_agree_with_growth_math(page):
    # Boundaries included: 101/100 - 1 is 1.0000000000000009% in floating point, and 1% is "not acceptable".
    rates = [-0.05, 0.0, 101 / 100 - 1, 0.01, 0.0100001, 0.015, 0.02, 0.0399999, 0.04, 0.05, 0.06, 0.1]
    in_page = page.evaluate(f"{json.dumps(rates)}.map(r => window.growthCalculator.classify(r))")
    assert in_page == [classify(r) for r in rates]


def test_the_growth_table_lists_every_metric_and_sorts(page):
    names = page.evaluate("[...document.querySelectorAll('#growth-table tbody tr:not(.segment) td:first-child')]"
                          ".map(td => td.textContent)")  # fmt: skip
    assert names[:3] == ["Teams", "Users", "Hosted instances"]  # catalog order
    assert "Weighted customer index (WCI)" in names
    wow_column = "[...document.querySelectorAll('#growth-table tbody tr:not(.segment) td:nth-child(5)')]"
    page.click("#growth-table th:nth-child(5) button")  # WoW, ascending
    ascending = page.evaluate(f"{wow_column}.map(td => td.dataset.sort).filter(s => s !== '').map(Number)")
    assert ascending == sorted(ascending) and len(ascending) >= 8
    page.click("#growth-table th:nth-child(5) button")  # again: descending
    descending = page.evaluate(f"{wow_column}.map(td => td.dataset.sort).filter(s => s !== '').map(Number)")
    assert descending == sorted(ascending, reverse=True)
    assert page.evaluate("document.querySelector('#growth-table tr.segment').offsetParent") is None  # hidden
    page.click("#show-segments")
    assert page.evaluate("document.querySelector('#growth-table tr.segment').offsetParent") is not None
    headers = page.evaluate("[...document.querySelectorAll('#growth-table th')].map(th => th.textContent)")
    assert {"4-week rate", "13-week rate", "streak (weeks)"} <= {h.strip(" ▲▼") for h in headers}


def test_adoption_accounting_and_alerts_are_on_the_page(page):
    mqtt = page.evaluate(
        "[...document.querySelectorAll('#adoption-table tbody tr')].map(tr => [...tr.cells].map(c => c.textContent))"
        ".filter(cells => cells[0] === 'MQTT team broker')[0]"
    )
    eligible, adopting = mqtt_adoption_by_hand(SUNDAY)  # counted in the simulator's team list
    assert mqtt[1:4] == ["2024-10-24", f"{adopting / eligible:.1%}", f"{adopting} of {eligible}"]
    assert mqtt[6] == "not offered"  # the starter tier
    accounting_headers = page.evaluate("[...document.querySelectorAll('#accounting-table th')].map(t => t.textContent)")
    assert accounting_headers[:7] == ["ISO week", "active", "new", "retained", "resurrected", "churned", "quick ratio"]
    weeks = page.evaluate(
        "[...document.querySelectorAll('#accounting-table tbody tr td:first-child')].map(t => t.textContent)"
    )
    assert weeks == ["2025-W47", "2025-W46"]  # the weeks built, newest first
    alerts = page.evaluate(
        "[...document.querySelectorAll('#alerts-table tbody tr')].map(tr => [...tr.cells].map(c => c.textContent))"
    )
    assert [row[:2] for row in alerts] == [["2025-W47", "not-acceptable-2-weeks"], ["2025-W46", "tables-adoption"]]
    assert alerts[0][2:6] == ["Teams", "all", "+0.90%", "not acceptable"]
    assert alerts[0][8:10] == ["no", "no webhook configured: nothing was sent"]
