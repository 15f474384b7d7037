"""The weekly growth rollup asset: ISO weeks (Monday start), every tracked metric and segment."""

from datetime import timedelta

import dagster as dg
import pandas as pd

from growth_pipeline.growth.rollup import rollup
from growth_pipeline.ingest.assets import WRITER_POOL, platform_metrics
from growth_pipeline.markdown import markdown_table
from growth_pipeline.partitions import weekly_partitions, window_days
from growth_pipeline.resources import CatalogResource, Warehouse
from growth_pipeline.settings import start_date
from growth_pipeline.storage.warehouse import ensure_tables, replace_window

WEEKLY = weekly_partitions(start_date())

# The level at the end of each ISO week: the latest day with data (Sunday when the week is complete),
# and the days of the week with no snapshot at all.
END_OF_WEEK_SQL = """
WITH days AS (
    SELECT DISTINCT snapshot_date FROM platform_metrics WHERE snapshot_date >= $start AND snapshot_date < $end
), missing AS (
    SELECT date_trunc('week', d)::DATE AS week_start,
           string_agg(strftime(d, '%Y-%m-%d'), ', ' ORDER BY d) AS missing_days
    FROM (SELECT unnest(generate_series($start, $end - INTERVAL 1 DAY, INTERVAL 1 DAY))::DATE AS d)
    WHERE d NOT IN (SELECT snapshot_date FROM days)
    GROUP BY ALL
)
SELECT date_trunc('week', snapshot_date)::DATE AS week_start, metric, segment,
       arg_max(value, snapshot_date) AS value, max(snapshot_date) AS value_date,
       any_value(m.missing_days) AS missing_days
FROM platform_metrics p
LEFT JOIN missing m ON m.week_start = date_trunc('week', p.snapshot_date)::DATE
WHERE snapshot_date >= $start AND snapshot_date < $end AND list_contains($metrics, metric)
GROUP BY ALL
"""


def _or_none(value):
    """JSON metadata has no NaN: a missing number or text becomes null."""
    return None if pd.isna(value) else value


@dg.asset(
    partitions_def=WEEKLY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=WRITER_POOL,
    deps=[platform_metrics],
    group_name="growth",
    kinds={"duckdb"},
    description="Week-on-week growth of every tracked metric and segment per ISO week: end-of-week "
    "value (Sunday, or the latest day, flagged), previous week, WoW growth (NULL with a reason on a "
    "zero or missing base) and its band. Metadata 'growth' carries the latest week for sensors.",
)
def weekly_growth(
    context: dg.AssetExecutionContext, warehouse: Warehouse, catalog: CatalogResource
) -> dg.MaterializeResult:
    start, end = window_days(context)
    tracked = catalog.get()
    weeks = [start + timedelta(days=7 * i) for i in range((end - start).days // 7)]
    with warehouse.get_connection() as conn:
        ensure_tables(conn)
        levels = conn.execute(
            END_OF_WEEK_SQL,
            {"start": start - timedelta(days=7), "end": end, "metrics": [m.key for m in tracked.metrics]},
        ).df()
        levels["week_start"] = levels["week_start"].dt.date
        levels["value_date"] = levels["value_date"].dt.date
        frame = rollup(levels, weeks, tracked.bands)
        rows = replace_window(conn, "weekly_growth", start, end, frame)

    latest = frame[(frame["week_start"] == weeks[-1]) & (frame["segment"] == "all")].copy()
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
                    }
                    for r in frame[frame["week_start"] == weeks[-1]].itertuples()
                ]
            ),
            "latest_week_growth": dg.MetadataValue.md(
                markdown_table(
                    latest[["metric", "value", "previous_value", "wow_growth", "band", "growth_note"]],
                    {"wow_growth": "signed"},
                )
            ),
        }
    )
