"""The product metrics dashboard as ONE self-contained HTML file: data, charts (PNG, base64), CSS and script
are inline, so it opens offline, from a mail attachment or a file share, with nothing fetched. No Dagster.

The growth calculator in the page (dashboard.js) uses the definitions of growth/math.py with the catalog's
bands, which are written into the page.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from html import escape
from pathlib import Path

import pandas as pd

from growth_pipeline.dashboard import charts
from growth_pipeline.dashboard.alerts import ALERT_WEEKS
from growth_pipeline.dashboard.data import ACCOUNTING_WEEKS, CHART_WEEKS, HEADLINE_METRICS, DashboardData
from growth_pipeline.growth.math import BAND_ORDER, WEEKS_PER_YEAR
from growth_pipeline.growth.rollup import iso_week_label

STATIC = Path(__file__).parent / "static"
SIMULATED_BANNER = (
    "SIMULATED DATA: these numbers come from a seeded simulator of a FlowFuse-like platform (the demo "
    "source), not from a real platform. Do not report them as real usage."
)
MISSING = "–"


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def count(value: object) -> str:
    return MISSING if _missing(value) else f"{float(value):,.0f}"


def rate(value: object) -> str:
    return MISSING if _missing(value) else f"{float(value):.1%}"


def signed(value: object) -> str:
    return MISSING if _missing(value) else f"{float(value):+.2%}"


def _sort_key(value: object) -> str:
    """A cell's data-sort attribute: the raw number (sorted numerically by the page), empty when missing."""
    return "" if _missing(value) else repr(float(value))


def _cell(text: str, sort: object = None, numeric: bool = True, css: str = "") -> str:
    classes = " ".join(c for c in ("num" if numeric else "", css) if c)
    sort_attr = f' data-sort="{escape(_sort_key(sort))}"' if numeric else ""
    class_attr = f' class="{classes}"' if classes else ""
    return f"<td{class_attr}{sort_attr}>{escape(text)}</td>"


def _band_cell(band: object) -> str:
    if _missing(band):
        return f'<td data-sort="{len(BAND_ORDER)}"><span class="band none">no band</span></td>'
    position = BAND_ORDER.index(band) if band in BAND_ORDER else len(BAND_ORDER)
    return (
        f'<td data-sort="{position}"><span class="band" style="--band:{charts.band_colour(band)}">'
        f"{escape(str(band))}</span></td>"
    )


def _table(table_id: str, headers: list[tuple[str, bool]], rows: list[str], sortable: bool = True) -> str:
    """A table; ``headers`` are (label, numeric). A sortable table sorts on a header click (dashboard.js)."""
    head = "".join(
        f'<th scope="col"{" class=num" if numeric else ""}>'
        + (f'<button type="button">{escape(label)}</button>' if sortable else escape(label))
        + "</th>"
        for label, numeric in headers
    )
    kind = ' class="sortable"' if sortable else ""
    return f'<table id="{table_id}"{kind}><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _week_span(week_start: date) -> str:
    sunday = week_start + timedelta(days=6)
    return f"{iso_week_label(week_start)} (Monday {week_start:%d %b %Y} to Sunday {sunday:%d %b %Y})"


def _header(d: DashboardData) -> str:
    lines = [f"<h1>Product metrics</h1><p class=week>ISO week {escape(_week_span(d.week_start))}</p>"]
    s = d.snapshot
    if s is None:
        lines.append('<p id="provenance">No snapshot stored for this week.</p>')
    else:
        where = s.source + (f" ({s.base_url})" if s.base_url else "")
        lines.append(
            f'<p id="provenance">Data taken <time>{s.taken_at:%Y-%m-%d %H:%M} UTC</time> (snapshot of '
            f"{s.snapshot_date}, the week's last day with data) from <b>{escape(where)}</b>"
            f"{', a simulated platform' if s.simulated else ''}. Page generated "
            f"{d.generated_at:%Y-%m-%d %H:%M} UTC.</p>"
        )
    banner = f'<div id="simulated-banner" role="alert">{escape(SIMULATED_BANNER)}</div>' if d.simulated else ""
    return f"<header>{''.join(lines)}</header>{banner}"


def _tiles(d: DashboardData) -> str:
    by_metric = {r.metric: r for r in d.growth[d.growth["segment"] == "all"].itertuples()}
    rate_metrics = {m.key for m in d.catalog.adoption_metrics()}
    tiles = []
    for key in HEADLINE_METRICS:
        row = by_metric.get(key)
        name = escape(d.catalog.metric_name(key))
        if row is None:
            tiles.append(f'<div class="tile" data-metric="{key}"><h3>{name}</h3><p class="value">{MISSING}</p></div>')
            continue
        shown = rate if key in rate_metrics else count
        band = None if _missing(row.band) else row.band
        tiles.append(
            f'<div class="tile" data-metric="{key}" data-band="{escape(band or "")}" '
            f'style="--band:{charts.band_colour(band)}"><h3>{name}</h3>'
            f'<p class="value">{shown(row.value)}</p>'
            f'<p><span class="wow">{signed(row.wow_growth)}</span> week on week</p>'
            f'<p><span class="band" style="--band:{charts.band_colour(band)}">{escape(band or "no band")}</span></p>'
            f'<p class="previous">previous week {shown(row.previous_value)}'
            + (f"; {escape(row.growth_note)}" if not _missing(row.growth_note) else "")
            + "</p></div>"
        )
    return (
        '<section id="headline"><h2>Headline</h2><div class="tiles">' + "".join(tiles) + "</div>"
        "<p class=note>The weighted customer index (WCI) is the north-star metric: "
        + " + ".join(f"{w:g} x {t}" for t, w in d.catalog.wci_weights.items())
        + " teams (unsuspended). Colours are the week-on-week growth bands.</p></section>"
    )


def _growth(d: DashboardData) -> str:
    order = {m.key: i for i, m in enumerate(d.catalog.metrics)}
    rate_metrics = {m.key for m in d.catalog.adoption_metrics()}
    frame = d.growth.assign(_order=d.growth["metric"].map(order), _all=d.growth["segment"] != "all")
    rows = []
    for r in frame.sort_values(["_order", "_all", "segment"]).itertuples():
        shown = rate if r.metric in rate_metrics else count
        notes = "; ".join(str(n) for n in (r.growth_note, r.trend_note) if not _missing(n))
        segment_class = "" if r.segment == "all" else ' class="segment"'
        rows.append(
            f"<tr{segment_class}>"
            + _cell(d.catalog.metric_name(r.metric), numeric=False)
            + _cell(r.segment, numeric=False)
            + _cell(shown(r.value), r.value)
            + _cell(shown(r.previous_value), r.previous_value)
            + _cell(signed(r.wow_growth), r.wow_growth)
            + _band_cell(r.band)
            + _cell(signed(r.cgr_4w), r.cgr_4w)
            + _cell(signed(r.cgr_13w), r.cgr_13w)
            + _cell(MISSING if _missing(r.streak) else f"{int(r.streak)}", r.streak)
            + _cell(MISSING if _missing(r.multiple_12m) else f"x{r.multiple_12m:,.2f}", r.multiple_12m)
            + _cell(notes, numeric=False, css="note")
            + "</tr>"
        )
    headers = [
        ("metric", False), ("segment", False), ("value", True), ("previous week", True), ("WoW", True),
        ("band", False), ("4-week rate", True), ("13-week rate", True), ("streak (weeks)", True),
        ("12-month multiple", True), ("note", False),
    ]  # fmt: skip
    chart = ""
    if not d.growth_history.empty:
        png = charts.growth_chart_png(d.growth_history, d.catalog, HEADLINE_METRICS)
        chart = _image(png, f"Headline metrics over the last {CHART_WEEKS} weeks, coloured by band")
    return (
        f'<section id="growth"><h2>Weekly growth, {iso_week_label(d.week_start)}</h2>{chart}'
        '<p><label><input type="checkbox" id="show-segments"> show segments (tiers, states, modes)</label> '
        "Click a column to sort.</p>"
        + _table("growth-table", headers, rows)
        + "<p class=note>WoW = V<sub>w</sub> / V<sub>w-1</sub> - 1. 4- and 13-week rates are compound weekly "
        "growth (V<sub>w</sub> / V<sub>w-n</sub>)<sup>1/n</sup> - 1; the 12-month multiple is "
        f"(1 + 4-week rate)<sup>{WEEKS_PER_YEAR}</sup>; the streak counts consecutive weeks in the current "
        "band.</p></section>"
    )


def _adoption(d: DashboardData) -> str:
    if d.adoption_history.empty:
        return '<section id="adoption"><h2>Feature adoption</h2><p>No weekly adoption stored yet.</p></section>'
    png = charts.adoption_chart_png(d.adoption_history, d.catalog)
    week = d.adoption["week_start"].iloc[0]
    rows = []
    for feature in d.catalog.features:
        mine = {r.tier: r for r in d.adoption[d.adoption["feature"] == feature.key].itertuples()}
        since = str(feature.launched) if feature.launched else f"tracked from {feature.collected_from}"
        total = mine.get("all")
        if total is None:
            rows.append(
                f"<tr>{_cell(feature.name, numeric=False)}{_cell(since, numeric=False)}"
                f'<td colspan="{4 + len(d.catalog.tiers)}">not tracked in this week (collected from '
                f"{feature.collected_from})</td></tr>"
            )
            continue
        tiers = []
        for tier in d.catalog.tiers:
            r = mine.get(tier)
            if tier not in feature.tiers:
                tiers.append(_cell("not offered", numeric=False, css="note"))
            elif r is None:
                tiers.append(_cell(MISSING, None))
            else:
                shown = f"{rate(r.adoption_rate)} ({count(r.adopting_teams)} of {count(r.eligible_teams)})"
                tiers.append(_cell(shown, r.adoption_rate))
        rows.append(
            "<tr>"
            + _cell(feature.name, numeric=False)
            + _cell(since, numeric=False)
            + _cell(rate(total.adoption_rate), total.adoption_rate)
            + _cell(f"{count(total.adopting_teams)} of {count(total.eligible_teams)}", total.adopting_teams)
            + _cell(signed(total.wow_growth), total.wow_growth)
            + _band_cell(total.band)
            + "".join(tiers)
            + "</tr>"
        )
    headers = [("feature", False), ("launched", False), ("adoption rate", True), ("adopting teams", True),
               ("WoW of adopting teams", True), ("band", False)]  # fmt: skip
    headers += [(f"{tier} tier", True) for tier in d.catalog.tiers]
    return (
        f'<section id="adoption"><h2>Feature adoption, end of {iso_week_label(week)}</h2>'
        + _image(png, "Adoption rate of each feature since launch, all tiers and per tier")
        + _table("adoption-table", headers, rows)
        + "<p class=note>Adoption rate = adopting teams / eligible teams (active, unsuspended teams of the "
        "tiers the feature is offered to), over all tiers and per tier. The band is that of the week-on-week "
        "growth of adopting teams. Weeks before a feature is collected are not tracked, never 0.</p></section>"
    )


def _accounting(d: DashboardData) -> str:
    if d.accounting.empty:
        return '<section id="accounting"><h2>Team growth accounting</h2><p>No weeks stored yet.</p></section>'
    columns = [("active", "active_teams"), ("new", "new_teams"), ("retained", "retained_teams")]
    columns += [("resurrected", "resurrected_teams"), ("churned", "churned_teams")]

    def row(r, first: str) -> str:
        return (
            "<tr>"
            + _cell(first, numeric=False)
            + "".join(_cell(count(getattr(r, c)), getattr(r, c)) for _, c in columns)
            + _cell(MISSING if _missing(r.quick_ratio) else f"{r.quick_ratio:,.2f}", r.quick_ratio)
            + _cell("" if _missing(r.note) else str(r.note), numeric=False, css="note")
            + "</tr>"
        )

    headers = [(label, True) for label, _ in columns] + [("quick ratio", True), ("note", False)]
    total = d.accounting[d.accounting["tier"] == "all"].sort_values("week_start", ascending=False)
    weekly = [row(r, r.iso_week) for r in total.itertuples()]
    latest_week = d.accounting["week_start"].max()
    order = {t: i for i, t in enumerate([*d.catalog.tiers, "all"])}
    latest = sorted(
        d.accounting[d.accounting["week_start"] == latest_week].itertuples(), key=lambda r: order.get(r.tier, 99)
    )
    return (
        f'<section id="accounting"><h2>Team growth accounting, last {ACCOUNTING_WEEKS} weeks</h2>'
        + _table("accounting-table", [("ISO week", False), *headers], weekly)
        + f"<h3>By tier, {iso_week_label(latest_week)}</h3>"
        + _table("accounting-tiers-table", [("tier", False), *headers], [row(r, r.tier) for r in latest])
        + "<p class=note>Active: an instance or a device on the week's last day with data. New: active for the "
        "first time; retained: active this week and last; resurrected: active again after a week or more "
        "without; churned: active last week, not this week. Quick ratio = (new + resurrected) / churned.</p>"
        "</section>"
    )


def _alerts(d: DashboardData) -> str:
    first = d.week_start - timedelta(weeks=ALERT_WEEKS - 1)
    span = f"{iso_week_label(first)} to {iso_week_label(d.week_start)}"
    title = f'<section id="alerts"><h2>Alerts raised in the last {ALERT_WEEKS} weeks ({span})</h2>'
    if not d.alerts:
        return title + '<p id="no-alerts">No alerts raised.</p></section>'
    rows = []
    for a in d.alerts:
        delivered = MISSING if a["delivered"] is None else ("yes" if a["delivered"] else "no")
        rows.append(
            "<tr>"
            + _cell(str(a["week"] or MISSING), numeric=False)
            + _cell(str(a["rule"] or MISSING), numeric=False)
            + _cell(d.catalog.metric_name(a["metric"]) if a["metric"] else MISSING, numeric=False)
            + _cell(str(a["segment"] or MISSING), numeric=False)
            + _cell(signed(a["wow_growth"]) if isinstance(a["wow_growth"], int | float) else MISSING, a["wow_growth"])
            + _band_cell(a["band"])
            + _cell(str(a["streak"]) if a["streak"] is not None else MISSING, a["streak"], numeric=False)
            + _cell(str(a["condition"] or MISSING), numeric=False)
            + _cell(delivered, numeric=False)
            + _cell(str(a["reason"] or ""), numeric=False, css="note")
            + _cell(f"{a['asset']}, {a['observed_at']:%Y-%m-%d %H:%M} UTC", numeric=False, css="note")
            + "</tr>"
        )
    headers = [
        ("week", False), ("rule", False), ("metric", False), ("segment", False), ("WoW", True), ("band", False),
        ("streak", False), ("condition", False), ("delivered", False), ("reason", False), ("recorded", False),
    ]  # fmt: skip
    return title + _table("alerts-table", headers, rows) + "</section>"


def _calculator(d: DashboardData) -> str:
    return """
<section id="calculator"><h2>Growth calculator</h2>
<div class="calculators">
<form id="rate-form" autocomplete="off"><h3>Weekly rate between two values</h3>
<label>start value <input id="calc-start" inputmode="decimal" placeholder="e.g. 1200"></label>
<label>end value <input id="calc-end" inputmode="decimal" placeholder="e.g. 1350"></label>
<label>over weeks <input id="calc-weeks" inputmode="decimal" placeholder="e.g. 8"></label>
<output id="calc-rate-result" for="calc-start calc-end calc-weeks">Enter a start value, an end value and the
weeks between them.</output>
</form>
<form id="projection-form" autocomplete="off"><h3>12-month projection</h3>
<label>start value <input id="proj-start" inputmode="decimal" placeholder="e.g. 100"></label>
<label>weekly rate (%) <input id="proj-rate" inputmode="decimal" placeholder="e.g. 5"></label>
<output id="proj-result" for="proj-start proj-rate">Enter a start value and a sustained weekly rate.</output>
</form>
</div>
<p class=note>Rate = (end / start)<sup>1/weeks</sup> - 1; after 12 months (52 weeks) a value is
start x (1 + rate)<sup>52</sup>. Bands from the catalog: <span id="band-legend"></span>. The same
definitions as <code>growth-calc</code>.</p>
</section>"""


def _image(png: bytes, alt: str) -> str:
    return f'<img class="chart" alt="{escape(alt)}" src="data:image/png;base64,{charts.base64_png(png)}">'


def _page_data(d: DashboardData) -> str:
    """The data the script needs, as JSON that cannot close its <script> element."""
    b = d.catalog.bands
    payload = {
        "bands": {"exceptional": b.exceptional, "strong": b.strong, "sustainable": b.sustainable, "okay": b.okay},
        "band_order": list(BAND_ORDER),
        "band_colours": charts.BAND_COLOURS,
        "band_labels": charts.band_labels(b),
        "weeks_per_year": WEEKS_PER_YEAR,
    }
    return json.dumps(payload).replace("</", "<\\/")


def render_page(d: DashboardData) -> str:
    """The whole dashboard of ``d.week_start`` as one HTML document."""
    css = (STATIC / "dashboard.css").read_text()
    script = (STATIC / "dashboard.js").read_text()
    sections = [_tiles(d), _growth(d), _adoption(d), _accounting(d), _alerts(d), _calculator(d)]
    nav = "".join(
        f'<a href="#{target}">{label}</a>'
        for target, label in [
            ("headline", "Headline"), ("growth", "Weekly growth"), ("adoption", "Adoption"),
            ("accounting", "Team accounting"), ("alerts", "Alerts"), ("calculator", "Calculator"),
        ]
    )  # fmt: skip
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # Nothing may be fetched: the page works from a file, offline.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; '
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">"
        f"<title>Product metrics, {iso_week_label(d.week_start)}</title><style>{css}</style></head>"
        f'<body class="{"simulated" if d.simulated else "real"}">'
        + _header(d)
        + f"<nav>{nav}</nav><main>"
        + "".join(sections)
        + "</main>"
        + f'<script type="application/json" id="dashboard-data">{_page_data(d)}</script>'
        + f"<script>{script}</script></body></html>\n"
    )
