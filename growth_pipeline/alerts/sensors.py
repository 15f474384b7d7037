"""growth_alert_sensor: evaluates the alert rules on each new weekly rollup, from its materialization
metadata (never DuckDB, which a backfill may be writing), and raises a missing-data alert when the last
complete week's rollup is late. Each alert is one run of growth_alert_job, keyed by rule and ISO week.

How new rollups are found: the cursor keeps, per weekly asset, the storage id of the newest materialization
seen. When there is a newer one, the sensor evaluates the newest materialization of the *latest* week
materialized. In a single-run backfill every week's materialization carries the metadata of the range's
last week, which is that latest week, with its recent weeks for consecutive-week conditions. A
re-materialized earlier week (a backfill of history) is not alerted on.
"""

import json
from datetime import date

import dagster as dg

from growth_pipeline.alerts.evaluate import (
    Alert,
    MetadataError,
    adoption_series,
    evaluate,
    growth_series,
    last_complete_week,
    missing_data_alert,
    rollup_deadline,
)
from growth_pipeline.alerts.jobs import AlertConfig, growth_alert_job
from growth_pipeline.alerts.resources import AlertSettings
from growth_pipeline.alerts.rules import AlertRules
from growth_pipeline.catalog import Catalog
from growth_pipeline.growth.assets import WEEKLY
from growth_pipeline.growth.rollup import iso_week_label

# The weekly rollups the rules read: asset -> (its metadata key, how to read it).
ROLLUPS = {"weekly_growth": ("growth", growth_series), "weekly_adoption": ("adoption", adoption_series)}
ALERT_TAG = "growth/alert"  # on every alert run: "<rule>:<ISO week>", the run key


def _names(catalog: Catalog, asset: str):
    if asset == "weekly_growth":
        return catalog.metric_name
    features = {f.key: f.name for f in catalog.features}
    return lambda key: features.get(key, key)


def _new_rollup(
    context: dg.SensorEvaluationContext, rules: AlertRules, catalog: Catalog, asset: str, seen: int | None
) -> tuple[list[Alert], int | None, str]:
    """Alerts from the latest week of ``asset`` if it was materialized since storage id ``seen``; the new
    storage id to remember; and a line for the tick's log."""
    instance, key = context.instance, dg.AssetKey(asset)
    newest = instance.fetch_materializations(dg.AssetRecordsFilter(key, after_storage_id=seen), limit=1).records
    if not newest:
        return [], seen, f"{asset}: no new materialization"
    latest_week = max(instance.get_materialized_partitions(key))
    record = instance.fetch_materializations(dg.AssetRecordsFilter(key, asset_partitions=[latest_week]), limit=1)
    record = record.records[0]
    week_start = date.fromisoformat(latest_week)
    label = iso_week_label(week_start)
    if seen is not None and record.storage_id <= seen:
        return [], newest[0].storage_id, f"{asset}: only weeks before {label} were re-materialized (not alerted on)"

    metadata_key, read = ROLLUPS[asset]
    where = f"{asset} {label}" + (f" (run {record.run_id})" if record.run_id else "")
    entries = record.asset_materialization.metadata.get(metadata_key)
    try:
        if entries is None:
            raise MetadataError(f"no '{metadata_key}' metadata: re-materialize the week (weekly_growth_job)")
        series = read(entries.value)
        weeks = {s.week for s in series}
        if weeks - {label}:
            raise MetadataError(f"the metadata describes {', '.join(sorted(weeks))}, not {label}")
    except MetadataError as exc:
        raise MetadataError(f"{where}: {exc}") from None
    evaluation = evaluate(rules, asset, week_start, series, _names(catalog, asset))
    note = f"{where}: {evaluation.rules} enabled rule(s) on {evaluation.series} series; " + (
        ", ".join(f"{a.rule} breached by {len(a.findings)}" for a in evaluation.alerts) or "none breached"
    )
    if evaluation.unmatched_rules:
        unmatched = ", ".join(evaluation.unmatched_rules)
        note += f"; rules that matched no series (check their metric or feature and segment): {unmatched}"
    return evaluation.alerts, newest[0].storage_id, note


def _missing_rollup(instance: dg.DagsterInstance, rules: AlertRules, now) -> tuple[Alert | None, str]:
    """A missing-data alert when the last complete week's rollups are not materialized by their deadline."""
    if not rules.missing_data.enabled:
        return None, "missing-data check: off"
    week_start = last_complete_week(now)
    label = iso_week_label(week_start)
    if week_start < WEEKLY.start.date():
        return None, f"missing-data check: {label} is before the first weekly partition"
    deadline = rollup_deadline(week_start, rules.missing_data.grace_hours)
    if now < deadline:
        return None, f"missing-data check: {label} is due by {deadline:%Y-%m-%d %H:%M} UTC"
    missing = [
        asset
        for asset in ROLLUPS
        if not instance.fetch_materializations(
            dg.AssetRecordsFilter(dg.AssetKey(asset), asset_partitions=[week_start.isoformat()]), limit=1
        ).records
    ]
    if not missing:
        return None, f"missing-data check: {label} is materialized"
    return missing_data_alert(rules, week_start, missing), f"missing-data check: {label} missing: {', '.join(missing)}"


def _already_requested(instance: dg.DagsterInstance, alert: Alert) -> dg.RunRecord | None:
    """The alert's run, if there is one: a rule alerts once per week, whatever happened to that run (a
    failed delivery is re-executed from the UI). Dagster's run keys do the same for the daemon; this also
    covers evaluations outside it and says so in the tick's log."""
    runs = instance.get_run_records(
        dg.RunsFilter(job_name=growth_alert_job.name, tags={ALERT_TAG: alert.run_key}), limit=1
    )
    return runs[0] if runs else None


@dg.sensor(
    job=growth_alert_job,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Evaluates the alert rules (alerts/alert_rules.yaml, or GROWTH_ALERT_RULES) on each new "
    "weekly rollup's metadata and launches growth_alert_job once per rule and ISO week; alerts when the "
    "last complete week's rollup is missing by Monday 06:00 UTC plus the rules' grace_hours.",
)
def growth_alert_sensor(context: dg.SensorEvaluationContext, alerting: AlertSettings) -> dg.SensorResult:
    catalog, rules = alerting.load()
    cursor = json.loads(context.cursor) if context.cursor else {}
    alerts, notes = [], []
    for asset in ROLLUPS:
        found, cursor[asset], note = _new_rollup(context, rules, catalog, asset, cursor.get(asset))
        alerts += found
        notes.append(note)
    missing, note = _missing_rollup(context.instance, rules, alerting.now())
    notes.append(note)
    if missing:
        alerts.append(missing)

    requests = []
    for alert in alerts:
        earlier = _already_requested(context.instance, alert)
        if earlier:
            notes.append(f"{alert.run_key}: already alerted (run {earlier.dagster_run.run_id})")
            continue
        requests.append(
            dg.RunRequest(
                run_key=alert.run_key,
                run_config=dg.RunConfig(ops={"deliver_alert": AlertConfig.from_alert(alert)}),
                tags={ALERT_TAG: alert.run_key, "growth/rule": alert.rule, "growth/week": alert.week},
            )
        )
    for note in notes:
        context.log.info(note)
    return dg.SensorResult(
        run_requests=requests,
        cursor=json.dumps(cursor, sort_keys=True),
        skip_reason=None if requests else "No alert. " + " | ".join(notes),
    )
