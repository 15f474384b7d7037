"""The daily feature adoption asset, derived in DuckDB from team usage and the catalog."""

from datetime import timedelta

import dagster as dg
import pandas as pd

from growth_pipeline.catalog import Catalog, Feature
from growth_pipeline.ingest.assets import DAILY, WRITER_POOL, team_usage
from growth_pipeline.markdown import markdown_table
from growth_pipeline.partitions import window_days
from growth_pipeline.resources import CatalogResource, Warehouse
from growth_pipeline.storage.warehouse import ensure_tables, replace_window


def _feature_sql(catalog: Catalog, feature: Feature) -> str:
    """Adoption of one feature per day x tier, plus an 'all' row per day (GROUPING SETS).

    Eligible: a tier the feature is offered to, not suspended, active (catalog). Adopting: eligible and the
    signal holds. If any eligible team's counter is unknown, adopting and the rate are NULL, not a guess.
    """
    offered = ", ".join(f"'{tier}'" for tier in feature.tiers)
    return f"""
    WITH teams AS (
        SELECT snapshot_date, tier, {feature.signal.sql()} AS uses
        FROM team_usage
        WHERE snapshot_date >= $start AND snapshot_date < $end AND snapshot_date >= DATE '{feature.collected_from}'
          AND tier IN ({offered}) AND NOT coalesce(suspended, false) AND {catalog.active_team_sql()}
    )
    SELECT snapshot_date, '{feature.key}' AS feature, coalesce(tier, 'all') AS tier,
           count(*) AS eligible_teams,
           CASE WHEN count(*) = count(uses) THEN count(*) FILTER (WHERE uses) END AS adopting_teams,
           CASE WHEN count(*) = count(uses) AND count(*) > 0
                THEN count(*) FILTER (WHERE uses) / count(*) END AS adoption_rate
    FROM teams
    GROUP BY GROUPING SETS ((snapshot_date, tier), (snapshot_date))
    """


@dg.asset(
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=WRITER_POOL,
    deps=[team_usage],
    group_name="adoption",
    kinds={"duckdb"},
    description="Per catalog feature x tier x day (and an 'all' total): eligible teams (offered the "
    "feature, active, not suspended), adopting teams, adoption rate. Days before a feature's "
    "collected_from date have no rows: not tracked, never zero.",
)
def feature_adoption(
    context: dg.AssetExecutionContext, warehouse: Warehouse, catalog: CatalogResource
) -> dg.MaterializeResult:
    start, end = window_days(context)
    tracked = catalog.get()
    query = "\nUNION ALL\n".join(f"SELECT * FROM ({_feature_sql(tracked, f)})" for f in tracked.features)
    with warehouse.get_connection() as conn:
        ensure_tables(conn)
        frame = conn.execute(query, {"start": start, "end": end}).df()
        rows = replace_window(conn, "feature_adoption", start, end, frame)
    last_day = end - timedelta(days=1)
    latest = frame[(frame["snapshot_date"].dt.date == last_day) & (frame["tier"] == "all")].sort_values("feature")
    return dg.MaterializeResult(
        metadata={
            "rows": rows,
            "days": (end - start).days,
            **{
                f"adoption_rate/{f}": float(r)
                for f, r in zip(latest["feature"], latest["adoption_rate"], strict=True)
                if pd.notna(r)
            },
            "latest_day": dg.MetadataValue.md(
                markdown_table(
                    latest[["feature", "eligible_teams", "adopting_teams", "adoption_rate"]],
                    {"adoption_rate": "rate"},
                )
            ),
        }
    )
