"""The alert run: one run per alert (a rule's findings for a week, or a missing weekly rollup). It logs the
alert, posts it to the rule's webhook, and records it as an observation on the weekly asset, so the alert
is visible in the UI (and to the dashboard) whether or not anything was sent."""

import os
from datetime import date

import dagster as dg

from growth_pipeline.alerts.delivery import WebhookError, post_json
from growth_pipeline.alerts.evaluate import Alert, Finding
from growth_pipeline.alerts.messages import alert_records, asset_link, body, summary_lines
from growth_pipeline.alerts.resources import AlertSettings
from growth_pipeline.alerts.rules import Destination

NO_WEBHOOK = "no webhook configured"


class FindingConfig(dg.Config):
    key: str
    name: str
    segment: str
    week: str
    value: float | None = None
    wow_growth: float | None = None
    band: str | None = None
    streak: int | None = None
    adoption_rate: float | None = None
    detail: str = ""


class AlertConfig(dg.Config):
    """The alert, as the sensor requested it. No secret: ``webhook_env`` is the variable's name."""

    rule: str
    target: str
    condition: str
    week_start: str
    assets: list[str]
    destination: str
    webhook_env: str
    format: str
    findings: list[FindingConfig] = []

    @classmethod
    def from_alert(cls, alert: Alert) -> "AlertConfig":
        destination = alert.destination
        return cls(
            rule=alert.rule,
            target=alert.target,
            condition=alert.condition,
            week_start=alert.week_start.isoformat(),
            assets=list(alert.assets),
            destination=destination.name,
            webhook_env=destination.webhook_env,
            format=destination.format,
            findings=[FindingConfig(**vars(f)) for f in alert.findings],
        )

    def to_alert(self) -> Alert:
        return Alert(
            rule=self.rule,
            target=self.target,
            condition=self.condition,
            week_start=date.fromisoformat(self.week_start),
            assets=tuple(self.assets),
            destination=Destination(self.destination, self.webhook_env, self.format),
            findings=tuple(Finding(**f.model_dump()) for f in self.findings),
        )


def _record(context: dg.OpExecutionContext, alert: Alert, delivered: bool, reason: str | None) -> None:
    """An observation on the week's partition of each weekly asset concerned, metadata ``alert`` (JSON)
    plus its main fields on their own for the UI."""
    for asset, record in alert_records(alert, delivered, reason):
        shown = ("rule", "metric", "segment", "week", "wow_growth", "band", "streak", "delivered", "reason")
        context.log_event(
            dg.AssetObservation(
                asset_key=asset,
                partition=alert.week_start.isoformat(),
                metadata={"alert": dg.MetadataValue.json(record), **{k: record[k] for k in shown}},
            )
        )


@dg.op(
    description="Log the alert, post it to its webhook (retrying with backoff) and record it as an "
    "observation on the weekly asset, delivered or not.",
)
def deliver_alert(context: dg.OpExecutionContext, config: AlertConfig, alerting: AlertSettings) -> None:
    alert = config.to_alert()
    variable = alert.destination.webhook_env
    attempt, attempts = context.retry_number + 1, alerting.delivery_attempts
    if attempt == 1:
        link = asset_link(alerting.dagster_ui_url, alert.assets[0], alert.week_start)
        context.log.info("\n".join([*summary_lines(alert), link]))

    url = os.environ.get(variable, "").strip()
    if not url:
        context.log.warning(
            f"Nothing was sent: {NO_WEBHOOK} ({variable} is not set). The alert is recorded as an observation "
            f"on {', '.join(alert.assets)} ({alert.week_start})."
        )
        _record(context, alert, delivered=False, reason=NO_WEBHOOK)
        return
    try:
        status = post_json(
            url, body(alert, alerting.dagster_ui_url), variable=variable, timeout=alerting.timeout_seconds
        )
    except WebhookError as exc:
        if exc.retryable and attempt < attempts:
            wait = alerting.retry_backoff_seconds * 2 ** (attempt - 1)
            context.log.warning(f"Attempt {attempt} of {attempts}: {exc}. Retrying in {wait:g} s.")
            raise dg.RetryRequested(max_retries=attempts - 1, seconds_to_wait=wait) from exc
        reason = f"{exc} (attempt {attempt} of {attempts})"
        _record(context, alert, delivered=False, reason=reason)
        raise dg.Failure(description=f"Alert {alert.run_key} not delivered: {reason}", allow_retries=False) from None
    context.log.info(f"Delivered to {alert.destination.name} ({variable}, {alert.destination.format}): HTTP {status}")
    _record(context, alert, delivered=True, reason=None)


@dg.job(
    description="Deliver one growth alert (requested by growth_alert_sensor): log it, post it to the "
    "rule's webhook, and record it as an observation on weekly_growth or weekly_adoption.",
    tags={"growth/kind": "alert"},
)
def growth_alert_job():
    deliver_alert()
