"""The alerting resource shared by the sensor and the alert run: where the rules and catalog are, the
Dagster UI's address for links, and how delivery retries. Holds no secret: webhook URLs stay in the
environment variables the rules name, read only when an alert is posted."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import dagster as dg

from growth_pipeline.alerts.rules import AlertRules, load_alert_rules
from growth_pipeline.catalog import Catalog, load_catalog

DEFAULT_UI_URL = "http://127.0.0.1:3000"


class AlertSettings(dg.ConfigurableResource):
    """Read the rules on each use: an edit to the rules file takes effect on the sensor's next tick, and a
    mistake in it fails that tick with the error naming the file, rule and field."""

    rules_path: str = ""  # GROWTH_ALERT_RULES; default: the packaged alerts/alert_rules.yaml
    catalog_path: str = ""  # GROWTH_CATALOG
    dagster_ui_url: str = DEFAULT_UI_URL  # GROWTH_DAGSTER_UI_URL: links in alerts point here
    delivery_attempts: int = 4  # posts per alert before the run fails (connection errors, timeouts, 5xx, 429)
    retry_backoff_seconds: float = 2.0  # waits 2, 4, 8 s between attempts
    timeout_seconds: float = 10.0

    def load(self) -> tuple[Catalog, AlertRules]:
        catalog = load_catalog(self.catalog_path or None)
        return catalog, load_alert_rules(self.rules_path or None, catalog)

    def now(self) -> datetime:
        """The current time (UTC); tests subclass this to pin the clock."""
        return datetime.now(UTC)


def alert_settings_from_env() -> AlertSettings:
    return AlertSettings(
        rules_path=os.getenv("GROWTH_ALERT_RULES", ""),
        catalog_path=os.getenv("GROWTH_CATALOG", ""),
        dagster_ui_url=os.getenv("GROWTH_DAGSTER_UI_URL", DEFAULT_UI_URL),
    )
