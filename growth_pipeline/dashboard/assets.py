"""The product metrics dashboard asset: one self-contained HTML file of the latest week's numbers, charts,
alerts and a growth calculator, for a product manager to open or attach to a weekly update.

Unpartitioned: the file is "the dashboard now", of the latest ISO week in weekly_growth. It runs after the
weekly assets in weekly_growth_job, and alone (``growth-pipeline dashboard``, or Materialize in the UI) to
pick up alerts raised since.
"""

import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg

from growth_pipeline import settings
from growth_pipeline.adoption.assets import weekly_adoption
from growth_pipeline.dashboard.alerts import ALERT_WEEKS, parse_alert, recent_alerts
from growth_pipeline.dashboard.data import latest_growth_week, load_dashboard
from growth_pipeline.dashboard.page import render_page
from growth_pipeline.growth.assets import team_growth_accounting, weekly_growth
from growth_pipeline.growth.rollup import iso_week_label
from growth_pipeline.ingest.assets import WRITER_POOL
from growth_pipeline.resources import CatalogResource, Warehouse
from growth_pipeline.storage.warehouse import ensure_tables

# The alert sensors record each alert as an observation of one of these assets, with metadata "alert".
ALERT_ASSETS = (weekly_growth.key, weekly_adoption.key)


class DashboardConfig(dg.Config):
    path: str = ""  # where to write the HTML file; empty: GROWTH_DASHBOARD_PATH (data/product_metrics_dashboard.html)


def recorded_alerts(instance: dg.DagsterInstance, since: datetime) -> list[dict]:
    """Every alert observation recorded on the weekly assets since ``since``, parsed."""
    alerts = []
    for key in ALERT_ASSETS:
        records_filter = dg.AssetRecordsFilter(asset_key=key, after_timestamp=since.timestamp())
        cursor = None
        while True:
            result = instance.fetch_observations(records_filter, limit=500, cursor=cursor)
            for record in result.records:
                observation = record.asset_observation
                if observation is None or "alert" not in observation.metadata:
                    continue
                observed_at = datetime.fromtimestamp(record.timestamp, UTC)
                alerts.append(parse_alert(observation.metadata["alert"].value, key.to_user_string(), observed_at))
            if not result.has_more:
                break
            cursor = result.cursor
    return alerts


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` in one step: a reader (or a mail client attaching it) never sees half a page."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, suffix=".tmp", delete=False) as out:
        out.write(text)
    os.chmod(out.name, 0o644)  # a report to share: readable like any file written here, not private as temp files are
    os.replace(out.name, path)


@dg.asset(
    deps=[weekly_growth, weekly_adoption, team_growth_accounting],
    pool=WRITER_POOL,  # it opens the DuckDB file, which a writing run holds locked
    group_name="dashboard",
    kinds={"html"},
    description="The product metrics dashboard: one self-contained HTML file (data, charts, script inline; "
    "opens offline) of the latest ISO week in weekly_growth: headline tiles (WCI, teams, instances, "
    "devices), the weekly growth table, adoption per feature since launch and by tier, team growth "
    "accounting, the alerts raised in the last 8 weeks and a growth calculator. Its path is in the metadata.",
)
def product_metrics_dashboard(
    context: dg.AssetExecutionContext, config: DashboardConfig, warehouse: Warehouse, catalog: CatalogResource
) -> dg.MaterializeResult:
    tracked = catalog.get()
    with warehouse.get_connection() as conn:
        ensure_tables(conn)
        week = latest_growth_week(conn)
        if week is None:
            raise dg.Failure("weekly_growth has no rows yet: materialize the weekly assets first (make demo)")
        first_alert_week = datetime.combine(week - timedelta(weeks=ALERT_WEEKS - 1), datetime.min.time(), UTC)
        alerts = recent_alerts(recorded_alerts(context.instance, first_alert_week), week)
        dashboard = load_dashboard(conn, tracked, week, alerts, datetime.now(UTC))
    page = render_page(dashboard)
    path = Path(config.path) if config.path else settings.dashboard_path()
    write_atomically(path, page)
    context.log.info(f"wrote the dashboard of {iso_week_label(week)} to {path}")
    snapshot = dashboard.snapshot
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path.resolve())),
            "open": dg.MetadataValue.url(path.resolve().as_uri()),
            "week": iso_week_label(week),
            "size_kb": round(len(page.encode()) / 1024, 1),
            "alerts_shown": len(alerts),
            "source": snapshot.source if snapshot else "none",
            "simulated": dashboard.simulated,
            "data_taken_at": snapshot.taken_at.isoformat() if snapshot else "none",
        }
    )
