"""Charts of the weekly numbers as PNG images (matplotlib, Agg): in the Dagster UI (markdown metadata with an
inline image, as Dagster's quickstart_etl does) and in the dashboard. No Dagster import.

Figures are built with matplotlib's object API (``Figure`` + ``FigureCanvasAgg``), never pyplot: no global
state, nothing to close, safe in any process a run uses.
"""

from __future__ import annotations

import base64
import io
import math
from datetime import date, timedelta

import duckdb
import matplotlib.dates as mdates
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter
from PIL import Image

from growth_pipeline.catalog import Catalog
from growth_pipeline.dashboard import data
from growth_pipeline.growth.math import BAND_ORDER, Bands
from growth_pipeline.growth.rollup import iso_week_label

# Best to worst, green to red; a week without a band (no previous value, or in progress) is grey.
BAND_COLOURS = {
    "exceptional": "#0b6e3a",
    "strong": "#3a9a47",
    "sustainable": "#8dbf3f",
    "okay": "#f0a030",
    "not acceptable": "#d7301f",
}
NO_BAND_COLOUR = "#9aa0a6"
TIER_COLOURS = {"starter": "#7b61c9", "team": "#1f77b4", "enterprise": "#e377c2"}
UNITS = {"weighted_customer_index": "weighted customers (WCI)"}
DPI = 100
WIDTH = 10.0  # inches: 1,000 pixels, the width the Dagster UI's markdown dialog shows without scrolling
FONT_SIZE = 12


def band_colour(band: str | None) -> str:
    return BAND_COLOURS.get(band, NO_BAND_COLOUR) if isinstance(band, str) else NO_BAND_COLOUR


def band_labels(bands: Bands) -> dict[str, str]:
    """Each band with its range, from the catalog's bands: 'strong (4% to 6%)'."""

    def pct(x: float) -> str:
        return f"{x * 100:g}%"

    return {
        "exceptional": f"exceptional (≥ {pct(bands.exceptional)})",
        "strong": f"strong ({pct(bands.strong)} to {pct(bands.exceptional)})",
        "sustainable": f"sustainable ({pct(bands.sustainable)} to {pct(bands.strong)})",
        "okay": f"okay ({pct(bands.okay)} to {pct(bands.sustainable)})",
        "not acceptable": f"not acceptable (≤ {pct(bands.okay)})",
    }


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Figure) -> bytes:
    """The figure, drawn once, as a 64-colour palette PNG: charts are flat colours and text, so it looks the
    same as matplotlib's full-colour PNG at a quarter of the size (it is stored in the run's metadata)."""
    canvas = figure.canvas
    canvas.draw()
    image = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba()).convert("RGB")
    palette_image = image.quantize(colors=64, method=Image.Quantize.FASTOCTREE)
    # The quantizer averages colours: keep the background pure white, as the page around it.
    palette = palette_image.getpalette()
    for i in range(0, len(palette), 3):
        if min(palette[i : i + 3]) >= 250:
            palette[i : i + 3] = [255, 255, 255]
    palette_image.putpalette(palette)
    buffer = io.BytesIO()
    palette_image.save(buffer, format="PNG")
    return buffer.getvalue()


def _style(axes) -> None:
    axes.tick_params(labelsize=FONT_SIZE - 1)
    axes.grid(axis="y", color="#e3e3e3", linewidth=0.8)
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)


def _date_axis(axes) -> None:
    locator = mdates.AutoDateLocator(minticks=4, maxticks=8)
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _thousands(value: float, _position) -> str:
    return f"{value:,.0f}" if abs(value) >= 10 or float(value).is_integer() else f"{value:,.1f}"


def _band_lines(axes, bands: Bands) -> None:
    """Dashed lines at the band boundaries within the bars' range, each in the colour of the band above it,
    so a bar reads against its band without the axis stretching to every boundary."""
    low, high = axes.get_ylim()
    for band, bound in (("okay", bands.okay), ("sustainable", bands.sustainable), ("strong", bands.strong),
                        ("exceptional", bands.exceptional)):  # fmt: skip
        if low < bound * 100 < high:
            axes.axhline(bound * 100, color=BAND_COLOURS[band], linewidth=1, linestyle=(0, (4, 3)), zorder=0)
    axes.set_ylim(low, high)


def growth_chart_png(history: pd.DataFrame, catalog: Catalog, metrics: tuple[str, ...]) -> bytes:
    """The level (line) and week-on-week growth (bars) of each metric over the weeks in ``history``
    (data.growth_history rows), each week's marker and bar in the colour of its band."""
    shown = [m for m in metrics if m in set(history["metric"])]
    columns = 2 if len(shown) > 1 else 1
    rows = math.ceil(len(shown) / columns) or 1
    figure = _figure(WIDTH, 4.2 * rows + 0.7)
    grid = figure.add_gridspec(rows * 2, columns, height_ratios=[3, 2] * rows)
    first, last = history["week_start"].min(), history["week_start"].max()
    weeks = (
        f"week {iso_week_label(first)}" if first == last else f"weeks {iso_week_label(first)} to {iso_week_label(last)}"
    )
    figure.suptitle(
        f"ISO {weeks}, by their Sunday; colour: the band of the week's WoW growth",
        fontsize=FONT_SIZE + 1,
    )
    for i, metric in enumerate(shown):
        series = history[history["metric"] == metric].sort_values("week_start")
        sundays = [w + timedelta(days=6) for w in series["week_start"]]
        colours = [band_colour(b) for b in series["band"]]
        level = figure.add_subplot(grid[(i // columns) * 2, i % columns])
        growth = figure.add_subplot(grid[(i // columns) * 2 + 1, i % columns], sharex=level)
        is_rate = metric in {m.key for m in catalog.adoption_metrics()}
        values = series["value"] * (100 if is_rate else 1)
        level.plot(sundays, values, color="#555555", linewidth=1.5, zorder=1)
        level.scatter(sundays, values, c=colours, s=36, zorder=2, edgecolors="white", linewidths=0.6)
        latest = series.iloc[-1]
        wow = "no WoW" if pd.isna(latest["wow_growth"]) else f"{latest['wow_growth']:+.1%} WoW"
        band = latest["band"] if isinstance(latest["band"], str) else "no band"
        shown_value = f"{latest['value']:.1%}" if is_rate else f"{latest['value']:,.0f}"
        level.set_title(
            f"{catalog.metric_name(metric)}\n{shown_value} in {latest['iso_week']}: {wow}, {band}",
            fontsize=FONT_SIZE,
            loc="left",
        )
        level.set_ylabel("%" if is_rate else UNITS.get(metric, catalog.metric_name(metric).lower()), fontsize=FONT_SIZE)
        level.yaxis.set_major_formatter(FuncFormatter(_thousands))
        level.tick_params(labelbottom=False)
        wow_percent = series["wow_growth"].fillna(0) * 100
        growth.bar(sundays, wow_percent, width=5, color=colours)
        growth.axhline(0, color="#555555", linewidth=0.8)
        growth.set_ylabel("WoW growth", fontsize=FONT_SIZE)
        growth.yaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]))
        growth.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}%"))
        _band_lines(growth, catalog.bands)
        # Half a week of margin either side, and room for 4 weeks at least: a bar is 5 days wide.
        growth.set_xlim(min(first, last - timedelta(weeks=3)) + timedelta(days=2.5), last + timedelta(days=9.5))
        for axes in (level, growth):
            _style(axes)
        growth.grid(False)  # the band boundaries are the reference lines here
        _date_axis(growth)
    labels = band_labels(catalog.bands)
    handles = [Patch(color=BAND_COLOURS[b], label=labels[b]) for b in BAND_ORDER]
    handles.append(Patch(color=NO_BAND_COLOUR, label="no band"))
    handles.append(Line2D([], [], color="#555555", linestyle=(0, (4, 3)), label="band boundary"))
    figure.legend(handles=handles, loc="outside lower center", ncols=4, fontsize=FONT_SIZE - 1, frameon=False)
    return _png(figure)


def adoption_chart_png(history: pd.DataFrame, catalog: Catalog) -> bytes:
    """Each feature's adoption rate at the end of every week since it is tracked (its launch, or the first
    tracked day), over all tiers and per offered tier (data.adoption_history rows)."""
    features = [f for f in catalog.features if f.key in set(history["feature"])]
    columns = min(2, len(features)) or 1
    panels = len(features) + (1 if len(features) % columns else 0)  # a free panel holds the legend
    rows = math.ceil(panels / columns) or 1
    figure = _figure(WIDTH, 3.3 * rows + 0.5)
    figure.suptitle(
        "Adoption since launch: adopting / eligible teams at the end of each ISO week", fontsize=FONT_SIZE + 1
    )
    grid = figure.add_gridspec(rows, columns)
    tiers_seen: list[str] = []
    for i, feature in enumerate(features):
        axes = figure.add_subplot(grid[i // columns, i % columns])
        mine = history[history["feature"] == feature.key]
        latest = {"adoption_rate": None}
        for tier in [*(t for t in catalog.tiers if t in feature.tiers), "all"]:
            series = mine[mine["tier"] == tier].sort_values("week_start")
            if series.empty:
                continue
            sundays = [w + timedelta(days=6) for w in series["week_start"]]
            if tier == "all":
                axes.plot(sundays, series["adoption_rate"] * 100, color="black", linewidth=2.2, zorder=3)
                latest = series.iloc[-1]
            else:
                axes.plot(sundays, series["adoption_rate"] * 100, color=TIER_COLOURS.get(tier), linewidth=1.2)
                if tier not in tiers_seen:
                    tiers_seen.append(tier)
        since = f"launched {feature.launched}" if feature.launched else f"tracked from {feature.collected_from}"
        now = (
            f"{latest['adoption_rate']:.0%} ({latest['adopting_teams']:,.0f} of {latest['eligible_teams']:,.0f} teams)"
            if pd.notna(latest["adoption_rate"])
            else "no eligible team"
        )
        axes.set_title(f"{feature.name}: {now}\n{since}", fontsize=FONT_SIZE - 1, loc="left")
        axes.set_ylabel("adoption rate", fontsize=FONT_SIZE - 1)
        axes.yaxis.set_major_formatter(PercentFormatter(decimals=0))
        axes.set_ylim(bottom=0)
        _style(axes)
        _date_axis(axes)
    handles = [Patch(color="black", label="all tiers")]
    handles += [Patch(color=TIER_COLOURS.get(t, NO_BAND_COLOUR), label=f"{t} tier") for t in tiers_seen]
    if len(features) % columns:
        legend_axes = figure.add_subplot(grid[rows - 1, columns - 1])
        legend_axes.axis("off")
        legend_axes.legend(handles=handles, loc="center", fontsize=FONT_SIZE, frameon=False, title="tiers")
    else:
        figure.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=FONT_SIZE - 1)
    return _png(figure)


def base64_png(png: bytes) -> str:
    return base64.b64encode(png).decode("ascii")


def png_markdown(png: bytes, alt: str) -> str:
    """Markdown showing ``png`` inline, as the Dagster UI renders MetadataValue.md."""
    return f"![{alt}](data:image/png;base64,{base64_png(png)})"


def weekly_growth_charts(conn: duckdb.DuckDBPyConnection, catalog: Catalog, last_week: date) -> str:
    """Markdown for weekly_growth's metadata: the headline metrics over the last 26 weeks to ``last_week``."""
    metrics = tuple(m for m in data.HEADLINE_METRICS if m in {x.key for x in catalog.metrics})
    history = data.growth_history(conn, metrics, last_week)
    if history.empty:
        return f"No weekly growth stored up to {iso_week_label(last_week)} yet."
    return png_markdown(growth_chart_png(history, catalog, metrics), "Headline metrics, last 26 weeks")


def weekly_adoption_charts(conn: duckdb.DuckDBPyConnection, catalog: Catalog, last_week: date) -> str:
    """Markdown for weekly_adoption's metadata: every feature's adoption curve since launch, by tier."""
    history = data.adoption_history(conn, last_week)
    if history.empty:
        return f"No weekly adoption stored up to {iso_week_label(last_week)} yet."
    return png_markdown(adoption_chart_png(history, catalog), "Adoption since launch, by tier")
