"""The alerts shown on the dashboard. No Dagster: the asset reads the observations from the instance and
passes their metadata here.

The alert sensors record each alert as an observation of the weekly asset it is about (weekly_growth,
weekly_adoption), with metadata ``alert``: JSON {rule, metric, segment, week, wow_growth, band, streak,
condition, delivered, reason}. A field the sensor did not send is None; an alert whose metadata cannot be
read is still shown, saying so, rather than dropped.
"""

from __future__ import annotations

import contextlib
import json
import re
from datetime import date, datetime, timedelta

ALERT_FIELDS = ("rule", "metric", "segment", "week", "wow_growth", "band", "streak", "condition", "delivered", "reason")
ALERT_WEEKS = 8  # the dashboard shows the alerts of its week and the 7 before
_ISO_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


def parse_alert(value: object, asset: str, observed_at: datetime) -> dict:
    """An alert from an observation's ``alert`` metadata (a JSON object, or its text), with the asset it
    was recorded on and when."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = json.loads(value)
    if not isinstance(value, dict):
        alert = dict.fromkeys(ALERT_FIELDS)
        alert["reason"] = f"unreadable alert metadata: {str(value)[:200]}"
    else:
        alert = {field: value.get(field) for field in ALERT_FIELDS}
    return {**alert, "asset": asset, "observed_at": observed_at}


def alert_week(alert: dict) -> date | None:
    """The Monday of the alert's week: '2026-W48' or a date in the week; None when it has neither."""
    week = alert.get("week")
    if not isinstance(week, str):
        return None
    if match := _ISO_WEEK.match(week):
        try:
            return date.fromisocalendar(int(match[1]), int(match[2]), 1)
        except ValueError:
            return None
    try:
        day = date.fromisoformat(week)
    except ValueError:
        return None
    return day - timedelta(days=day.weekday())


def recent_alerts(alerts: list[dict], week_start: date, weeks: int = ALERT_WEEKS) -> list[dict]:
    """The alerts about the ``weeks`` ISO weeks ending with ``week_start``'s (an alert without a readable
    week counts by the day it was observed), newest first; an alert recorded again (same asset, rule, metric,
    segment and week) counts once, as last recorded."""
    first = week_start - timedelta(weeks=weeks - 1)
    after = week_start + timedelta(days=7)
    latest: dict[tuple, dict] = {}
    for alert in sorted(alerts, key=lambda a: a["observed_at"]):
        monday = alert_week(alert)
        day = monday or alert["observed_at"].date()
        if not first <= day < (after if monday else after + timedelta(days=7)):
            continue
        key = (
            alert["asset"],
            alert["rule"],
            alert["metric"],
            alert["segment"],
            alert["week"] if monday else alert["observed_at"],
        )
        latest[key] = alert
    return sorted(
        latest.values(), key=lambda a: (alert_week(a) or a["observed_at"].date(), a["observed_at"]), reverse=True
    )
