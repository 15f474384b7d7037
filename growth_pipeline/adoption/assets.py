"""Feature adoption assets: daily per feature x tier (feature_adoption) and its ISO-weekly rollup with
week-on-week growth of adopting teams (weekly_adoption). The SQL and its definitions are in queries.py."""

from datetime import timedelta

import dagster as dg
import pandas as pd

from growth_pipeline.adoption.queries import END_OF_WEEK_SQL, daily_adoption_sql
from growth_pipeline.adoption.report import adoption_report
from growth_pipeline.dashboard.charts import weekly_adoption_charts
from growth_pipeline.growth.rollup import RECENT_WEEKS, recent_history, rollup
from growth_pipeline.ingest.assets import DAILY, WRITER_POOL, team_usage
from growth_pipeline.partitions import weekly_partitions, window_days
from growth_pipeline.resources import CatalogResource, Warehouse
from growth_pipeline.settings import start_date
from growth_pipeline.storage.warehouse import TABLES, ensure_tables, replace_window

WEEKLY = weekly_partitions(start_date())


def _or_none(value):
    """JSON metadata has no NaN or NA: a missing value becomes null."""
    return None if pd.isna(value) else value


@dg.asset(
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=WRITER_POOL,
    deps=[team_usage],
    group_name="adoption",
    kinds={"duckdb"},
    description="Per catalog feature x offered tier x day, and an 'all' total: eligible teams (offered the "
    "feature, active, not suspended), adopting teams, adoption rate, new and lost adopters, teams that ever "
    "adopted, and median / 75th percentile days from launch (or team creation) to first use. A feature has "
    "rows from its collected_from on; days before it have none: not tracked, never zero.",
)
def feature_adoption(
    context: dg.AssetExecutionContext, warehouse: Warehouse, catalog: CatalogResource
) -> dg.MaterializeResult:
    start, end = window_days(context)
    tracked = catalog.get()
    last_day = end - timedelta(days=1)
    with warehouse.get_connection() as conn:
        ensure_tables(conn)
        frame = conn.execute(daily_adoption_sql(tracked), {"start": start, "end": end}).df()
        rows = replace_window(conn, "feature_adoption", start, end, frame)
        report = adoption_report(conn, tracked, last_day)
    latest = frame[(frame["snapshot_date"].dt.date == last_day) & (frame["tier"] == "all")]
    not_tracked = [f.key for f in tracked.features if not f.collected_on(last_day)]
    return dg.MaterializeResult(
        metadata={
            "rows": rows,
            "days": (end - start).days,
            "last_day": str(last_day),
            "features_not_tracked_on_last_day": ", ".join(not_tracked) or "none",
            **{
                f"adoption_rate/{f}": float(r)
                for f, r in zip(latest["feature"], latest["adoption_rate"], strict=True)
                if pd.notna(r)
            },
            "latest_day": dg.MetadataValue.md(report["latest_day"]),
            "rate_last_8_weeks": dg.MetadataValue.md(report["rate_last_8_weeks"]),
        }
    )


@dg.asset(
    partitions_def=WEEKLY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=WRITER_POOL,
    deps=[feature_adoption],
    group_name="adoption",
    kinds={"duckdb"},
    description="Per ISO week x feature x tier: adopting teams, eligible teams and the adoption rate at the "
    "end of the week (Sunday, or the latest day with data), week-on-week growth of adopting teams and its "
    "band. Weeks before a feature is tracked have no rows. Metadata 'adoption' carries the latest week for "
    "alert sensors.",
)
def weekly_adoption(
    context: dg.AssetExecutionContext, warehouse: Warehouse, catalog: CatalogResource
) -> dg.MaterializeResult:
    start, end = window_days(context)
    tracked = catalog.get()
    weeks = [start + timedelta(days=7 * i) for i in range((end - start).days // 7)]
    # The last week's series with the weeks before it go into the metadata, for alert rules.
    recent_weeks = [weeks[-1] - timedelta(days=7 * n) for n in range(RECENT_WEEKS)]
    with warehouse.get_connection() as conn:
        ensure_tables(conn)
        # The week before the window (and before the recent weeks) too: the first week's growth compares with it.
        first = min(start, recent_weeks[-1]) - timedelta(days=7)
        ends = conn.execute(END_OF_WEEK_SQL, {"start": first, "end": end}).df()
        ends["week_start"] = ends["week_start"].dt.date
        ends["value_date"] = ends["value_date"].dt.date
        levels = ends.rename(columns={"feature": "metric", "tier": "segment"})
        levels["value"] = levels["adopting_teams"].astype(object).where(levels["adopting_teams"].notna(), None)
        growth = rollup(levels, weeks, tracked.bands)
        frame = _weekly_rows(growth, ends)
        recent = recent_history(
            _weekly_rows(rollup(levels, recent_weeks, tracked.bands), ends),
            weeks[-1],
            ["feature", "tier"],
            ["adopting_teams", "adoption_rate", "wow_growth", "band"],
        )
        rows = replace_window(conn, "weekly_adoption", start, end, frame)
        last_day = conn.execute(
            "SELECT max(snapshot_date) FROM feature_adoption WHERE snapshot_date < ?", [end]
        ).fetchone()[0]
        report = adoption_report(conn, tracked, last_day) if last_day else {}
        # Each feature's curve since launch, by tier, on the latest week's materialization only.
        charts = dg.MetadataValue.md(weekly_adoption_charts(conn, tracked, weeks[-1]))
    context.add_asset_metadata({"charts": charts}, partition_key=context.partition_key_range.end)

    latest = frame[frame["week_start"] == weeks[-1]]
    return dg.MaterializeResult(
        metadata={
            "rows": rows,
            "weeks": len(weeks),
            "latest_week": latest["iso_week"].iloc[0] if len(latest) else None,
            # What alert sensors read ("adoption rate below a target"): they never open DuckDB.
            "adoption": dg.MetadataValue.json(
                [
                    {
                        "feature": r.feature,
                        "tier": r.tier,
                        "week": r.iso_week,
                        "adopting_teams": _or_none(r.adopting_teams),
                        "adoption_rate": _or_none(r.adoption_rate),
                        "wow_growth": _or_none(r.wow_growth),
                        "band": _or_none(r.band),
                        # The RECENT_WEEKS weeks up to this one, oldest first:
                        # {weeks, adopting_teams, adoption_rate, wow_growth, band}.
                        "recent": recent[(r.feature, r.tier)],
                    }
                    for r in latest.itertuples()
                ]
            ),
            **{name: dg.MetadataValue.md(table) for name, table in report.items()},
        }
    )


def _weekly_rows(growth: pd.DataFrame, ends: pd.DataFrame) -> pd.DataFrame:
    """weekly_adoption rows: rollup()'s growth of adopting teams with the end-of-week eligible teams and
    rate. Columns are picked by name: rollup() may grow more columns than this table stores."""
    if growth.empty:
        return pd.DataFrame(columns=list(TABLES["weekly_adoption"]))
    renamed = {
        "metric": "feature",
        "segment": "tier",
        "value": "adopting_teams",
        "previous_value": "previous_adopting_teams",
    }
    frame = growth.rename(columns=renamed)[
        ["week_start", "iso_week", "feature", "tier", "value_date", "missing_days", "adopting_teams",
         "previous_adopting_teams", "wow_growth", "growth_note", "band"]
    ]  # fmt: skip
    frame = frame.merge(
        ends[["week_start", "feature", "tier", "eligible_teams", "adoption_rate"]], on=["week_start", "feature", "tier"]
    )
    return frame[list(TABLES["weekly_adoption"])]
