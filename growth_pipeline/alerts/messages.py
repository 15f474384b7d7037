"""What an alert says: Slack-compatible text, a generic JSON body, and the record the UI and the dashboard
read (the ``alert`` metadata of an observation on the weekly asset). Pure Python, no Dagster."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

from growth_pipeline.alerts.evaluate import Alert, Finding


def asset_link(ui_url: str, asset: str, week_start) -> str:
    """The week's partition of the asset in the Dagster UI."""
    return f"{ui_url.rstrip('/')}/assets/{quote(asset)}?view=partitions&partition={week_start.isoformat()}"


def _percent(value: float | None, signed: bool = True) -> str:
    if value is None:
        return "–"
    return f"{value:+.2%}" if signed else f"{value:.1%}"


def _number(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.4g}"


def describe_finding(finding: Finding, target: str) -> str:
    """One line per series: name (segment): WoW, band, streak, value; the weeks that tripped the rule."""
    parts = []
    if finding.adoption_rate is not None:
        parts.append(f"adoption rate {_percent(finding.adoption_rate, signed=False)}")
    parts.append(f"WoW {_percent(finding.wow_growth)}")
    parts.append(f"band {finding.band or '–'}")
    if finding.streak is not None:
        parts.append(f"streak {finding.streak} week{'s' if finding.streak != 1 else ''}")
    parts.append(f"{'adopting teams' if target == 'feature' else 'value'} {_number(finding.value)}")
    return f"{finding.name} ({finding.segment}): {', '.join(parts)} [{finding.detail}]"


def summary_lines(alert: Alert) -> list[str]:
    """The alert in plain text: a heading, the condition, then one line per series."""
    end = alert.week_start + timedelta(days=6)
    heading = f"Growth alert {alert.rule}, {alert.week} ({alert.week_start} to {end})"
    if alert.kind == "missing_data":
        return [
            heading,
            f"No weekly rollup: {', '.join(alert.assets)} not materialized for {alert.week}; "
            f"{alert.condition}. The alert rules cannot be checked for this week until it is.",
        ]
    return [heading, alert.condition[:1].upper() + alert.condition[1:] + ":"] + [
        describe_finding(f, alert.target) for f in alert.findings
    ]


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(alert: Alert, ui_url: str) -> dict:
    """Slack's (and Mattermost's, ...) incoming-webhook body: {"text": ...} in Slack's markup."""
    heading, *rest = (_slack_escape(line) for line in summary_lines(alert))
    bullets = [rest[0], *(f"• {line}" for line in rest[1:])]
    asset = alert.assets[0]
    link = f"<{asset_link(ui_url, asset, alert.week_start)}|{asset} {alert.week} in Dagster>"
    return {"text": "\n".join([f":warning: *{heading}*", *bullets, link])}


def json_body(alert: Alert, ui_url: str) -> dict:
    """A generic webhook body: the alert as structured JSON, with the plain-text summary."""
    return {
        "kind": alert.kind,
        "rule": alert.rule,
        "condition": alert.condition,
        "week": alert.week,
        "week_start": alert.week_start.isoformat(),
        "assets": list(alert.assets),
        "link": asset_link(ui_url, alert.assets[0], alert.week_start),
        "summary": "\n".join(summary_lines(alert)),
        "findings": [
            {
                alert.target: f.key,
                "name": f.name,
                "segment": f.segment,
                "value": f.value,
                "wow_growth": f.wow_growth,
                "band": f.band,
                "streak": f.streak,
                **({"adoption_rate": f.adoption_rate} if alert.target == "feature" else {}),
                "detail": f.detail,
            }
            for f in alert.findings
        ],
    }


def body(alert: Alert, ui_url: str) -> dict:
    return slack_body(alert, ui_url) if alert.destination.format == "slack" else json_body(alert, ui_url)


def alert_records(alert: Alert, delivered: bool, reason: str | None) -> list[tuple[str, dict]]:
    """(asset, record) for each observation the alert run leaves on a weekly asset: one per series that
    breached the rule, or one per missing asset. The dashboard reads these records (metadata key ``alert``):
    {rule, metric, segment, week, wow_growth, band, streak, condition, delivered, reason} and a few more."""
    common = {"kind": alert.kind, "rule": alert.rule, "week": alert.week, "condition": alert.condition}
    outcome = {"delivered": delivered, "reason": reason}
    if not alert.findings:
        empty = dict.fromkeys(("metric", "segment", "wow_growth", "band", "streak"))
        return [(asset, {**common, **empty, **outcome}) for asset in alert.assets]
    return [
        (
            alert.assets[0],
            {
                **common,
                "metric": f.key,  # a metric key, or a feature key when target is "feature"
                "target": alert.target,
                "segment": f.segment,
                "value": f.value,
                "wow_growth": f.wow_growth,
                "band": f.band,
                "streak": f.streak,
                "adoption_rate": f.adoption_rate,
                "detail": f.detail,
                **outcome,
            },
        )
        for f in alert.findings
    ]
