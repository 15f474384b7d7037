"""The weekly growth assets, per ISO week (Monday start): the rollup of every tracked metric and segment
(weekly_growth) and the growth accounting of teams (team_growth_accounting)."""

from datetime import date, timedelta

import dagster as dg
import pandas as pd

from growth_pipeline.dashboard.charts import weekly_growth_charts
from growth_pipeline.growth import accounting
from growth_pipeline.growth.rollup import RECENT_WEEKS, recent_history, rollup
from growth_pipeline.ingest.assets import WRITER_POOL, platform_metrics, team_usage
from growth_pipeline.markdown import markdown_table
from growth_pipeline.partitions import weekly_partitions, window_days
from growth_pipeline.resources import CatalogResource, Warehouse
from growth_pipeline.settings import start_date
from growth_pipeline.storage.warehouse import ensure_tables, replace_window

WEEKLY = weekly_partitions(start_date())

# The level at the end of each ISO week (the latest day with data: Sunday when the week is complete) and
# the days of the week with no snapshot at all, for every week up to $end: the 13-week rate and the streak
# look back before the weeks being built. A few rows per metric, segment and week, aggregated in DuckDB.
END_OF_WEEK_SQL = """
WITH days AS (
    SELECT DISTINCT snapshot_date FROM platform_metrics WHERE snapshot_date < $end
), calendar AS (
    SELECT unnest(generate_series(
        (SELECT date_trunc('week', min(snapshot_date)) FROM days), $end - 1, INTERVAL 1 DAY
    ))::DATE AS d
), missing AS (
    SELECT date_trunc('week', d)::DATE AS week_start,
           string_agg(strftime(d, '%Y-%m-%d'), ', ' ORDER BY d) AS missing_days
    FROM calendar
    WHERE d NOT IN (SELECT snapshot_date FROM days)
    GROUP BY ALL
)
SELECT date_trunc('week', snapshot_date)::DATE AS week_start, metric, segment,
       arg_max(value, snapshot_date) AS value, max(snapshot_date) AS value_date,
       any_value(m.missing_days) AS missing_days
FROM platform_metrics p
LEFT JOIN missing m ON m.week_start = date_trunc('week', p.snapshot_date)::DATE
WHERE snapshot_date < $end AND list_contains($metrics, metric)
GROUP BY ALL
"""


def _or_none(value):
    """JSON metadata has no NaN or dates: a missing value becomes null, a date its ISO text, a numpy
    number a plain one."""
    if value is None or pd.isna(value):
        return None
    if isinstance(value, date):
        return value.isoformat()
    return value.item() if hasattr(value, "item") else value


def _latest_table(latest: pd.DataFrame) -> str:
    """Every metric's latest WoW, band, 4- and 13-week rates, streak and 12-month multiple, as markdown."""
    table = pd.DataFrame(
        {
            "metric": latest["metric"],
            "value": latest["value"],
            "previous": latest["previous_value"],
            "WoW": latest["wow_growth"],
            "band": latest["band"],
            "4-week rate": latest["cgr_4w"],
            "13-week rate": latest["cgr_13w"],
            "streak (weeks)": latest["streak"].map(lambda n: None if pd.isna(n) else str(n)),
            "12-month multiple": latest["multiple_12m"].map(lambda m: None if pd.isna(m) else f"{m:,.2f}x"),
            "note": [
                "; ".join(n for n in notes if _or_none(n)) or None
                for notes in zip(
                    latest["growth_note"],
                    latest["trend_note"],
                    latest["missing_days"].map(lambda days: _or_none(days) and f"missing days: {days}"),
                    strict=True,
                )
            ],
        }
    )
    return markdown_table(table, {"WoW": "signed", "4-week rate": "signed", "13-week rate": "signed"})


@dg.asset(
    partitions_def=WEEKLY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=WRITER_POOL,
    deps=[platform_metrics],
    group_name="growth",
    kinds={"duckdb"},
    description="Week-on-week growth of every tracked metric and segment per ISO week: end-of-week "
    "value (Sunday, or the latest day, flagged), previous week, WoW growth (NULL with a reason on a "
    "zero or missing base) and its band (from the catalog), compound weekly growth over 4 and 13 weeks, "
    "the 12-month multiple of the 4-week rate, and the streak of weeks in the current band. Reads every "
    "earlier week of platform_metrics, so a range equals week-by-week runs. Metadata 'growth' carries "
    "the latest week for sensors.",
)
def weekly_growth(
    context: dg.AssetExecutionContext, warehouse: Warehouse, catalog: CatalogResource
) -> dg.MaterializeResult:
    start, end = window_days(context)
    tracked = catalog.get()
    weeks = [start + timedelta(days=7 * i) for i in range((end - start).days // 7)]
    with warehouse.get_connection() as conn:
        ensure_tables(conn)
        levels = conn.execute(END_OF_WEEK_SQL, {"end": end, "metrics": [m.key for m in tracked.metrics]}).df()
        levels["week_start"] = levels["week_start"].dt.date
        levels["value_date"] = levels["value_date"].dt.date
        frame = rollup(levels, weeks, tracked.bands)
        rows = replace_window(conn, "weekly_growth", start, end, frame)
        # The last 26 weeks as a chart, on the latest week's materialization only (not on every week of a range).
        charts = dg.MetadataValue.md(weekly_growth_charts(conn, tracked, weeks[-1]))
    context.add_asset_metadata({"charts": charts}, partition_key=context.partition_key_range.end)
    # The last week's series with the weeks before it, for alert rules over consecutive weeks.
    recent_weeks = [weeks[-1] - timedelta(days=7 * n) for n in range(RECENT_WEEKS)]
    recent = recent_history(
        rollup(levels, recent_weeks, tracked.bands), weeks[-1], ["metric", "segment"], ["value", "wow_growth", "band"]
    )

    latest_rows = frame[frame["week_start"] == weeks[-1]]
    catalog_order = {m.key: i for i, m in enumerate(tracked.metrics)}
    latest = latest_rows[latest_rows["segment"] == "all"].sort_values("metric", key=lambda k: k.map(catalog_order))
    latest["metric"] = latest["metric"].map(tracked.metric_name)
    return dg.MaterializeResult(
        metadata={
            "rows": rows,
            "weeks": len(weeks),
            "latest_week": latest["iso_week"].iloc[0] if len(latest) else None,
            # What alert sensors read: they never open DuckDB, which a backfill may be writing.
            "growth": dg.MetadataValue.json(
                [
                    {
                        "metric": r.metric,
                        "segment": r.segment,
                        "week": r.iso_week,
                        "value": _or_none(r.value),
                        "wow_growth": _or_none(r.wow_growth),
                        "band": _or_none(r.band),
                        "note": _or_none(r.growth_note),
                        "missing_days": _or_none(r.missing_days),
                        "cgr_4w": _or_none(r.cgr_4w),
                        "cgr_13w": _or_none(r.cgr_13w),
                        "streak": _or_none(r.streak),
                        "multiple_12m": _or_none(r.multiple_12m),
                        "trend_note": _or_none(r.trend_note),
                        # The RECENT_WEEKS weeks up to this one, oldest first: {weeks, value, wow_growth, band}.
                        "recent": recent[(r.metric, r.segment)],
                    }
                    for r in latest_rows.itertuples()
                ]
            ),
            "latest_week_growth": dg.MetadataValue.md(_latest_table(latest)),
        }
    )


@dg.asset(
    partitions_def=WEEKLY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=WRITER_POOL,
    deps=[team_usage],
    group_name="growth",
    kinds={"duckdb"},
    description="Growth accounting of teams per ISO week, per tier and in total: new, retained, "
    "resurrected and churned teams (active as the catalog defines it, on the week's last day with data) "
    "and the quick ratio (new + resurrected) / churned, NULL when nothing churned. Reads every earlier "
    "week of team_usage ('never before', 'some week before').",
)
def team_growth_accounting(
    context: dg.AssetExecutionContext, warehouse: Warehouse, catalog: CatalogResource
) -> dg.MaterializeResult:
    start, end = window_days(context)
    tracked = catalog.get()
    with warehouse.get_connection() as conn:
        ensure_tables(conn)
        frame = accounting.team_growth_accounting(conn, start, end, tracked.active_team_sql(), tracked.tiers)
        rows = replace_window(conn, "team_growth_accounting", start, end, frame)
    latest = frame[frame["week_start"] == frame["week_start"].max()]
    total = latest[latest["tier"] == "all"].iloc[0]
    return dg.MaterializeResult(
        metadata={
            "rows": rows,
            "weeks": (end - start).days // 7,
            "latest_week": total["iso_week"],
            "accounting": dg.MetadataValue.json(
                [
                    {column: _or_none(getattr(r, column)) for column in accounting.ACCOUNTING_COLUMNS[1:]}
                    for r in latest.itertuples()
                ]
            ),
            "latest_week_accounting": dg.MetadataValue.md(
                markdown_table(
                    latest[["tier", "active_teams", *(f"{s}_teams" for s in accounting.STATES), "quick_ratio", "note"]]
                )
            ),
        }
    )
