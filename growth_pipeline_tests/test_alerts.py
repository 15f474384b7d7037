"""growth_alert_sensor and growth_alert_job with a real Dagster instance and a real HTTP receiver on
127.0.0.1: the sensor is evaluated with Dagster's build_sensor_context, and the runs it requests are
executed as the daemon would launch them (with the request's config and tags).

Weekly rollups are reported as materializations with hand-made "growth" metadata (the shape weekly_growth
writes; test_alerts_pipeline.py checks the real asset's metadata end to end)."""

import json
import logging
import socket
from datetime import UTC, datetime

import dagster as dg
import pytest

from growth_pipeline.alerts.evaluate import MetadataError
from growth_pipeline.alerts.jobs import growth_alert_job
from growth_pipeline.alerts.resources import AlertSettings
from growth_pipeline.alerts.rules import AlertRulesError
from growth_pipeline.alerts.sensors import growth_alert_sensor

from .conftest import local_http_server

WEEKS = [f"2026-W{n}" for n in range(36, 49)]  # the 13 weeks up to 2026-W48 (Monday 2026-11-23)
W48, W47 = "2026-11-23", "2026-11-16"
NA, OKAY, GOOD = "not acceptable", "okay", "sustainable"
SECRET_PATH = "/services/T0TEAM/B0HOOK/s3cr3t-w3bh00k-t0k3n"
CONDITION = "band at or below 'not acceptable' for 2 consecutive weeks (every metric, segment all)"
BEFORE_DUE = datetime(2026, 11, 30, 5, 59, tzinfo=UTC)  # W48's rollup is due Monday 2026-11-30 06:00 UTC


class PinnedClock(AlertSettings):
    """The packaged rules (unless rules_path is given); the clock pinned, by default just before W48's
    rollup is due."""

    pinned_now: str = BEFORE_DUE.isoformat()

    def now(self) -> datetime:
        return datetime.fromisoformat(self.pinned_now)


def settings(now: datetime = BEFORE_DUE, **kwargs) -> AlertSettings:
    """Quick retries for tests (0.05 s, then 0.1 s, ...)."""
    return PinnedClock(pinned_now=now.isoformat(), retry_backoff_seconds=0.05, timeout_seconds=5, **kwargs)


class Receiver:
    """Collects every POST's path and JSON body; answers the scripted statuses, then 200."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.posts: list[tuple[str, dict]] = []

    def __call__(self, handler) -> None:
        body = handler.rfile.read(int(handler.headers["Content-Length"]))
        self.posts.append((handler.path, json.loads(body)))
        status = self.statuses.pop(0) if self.statuses else 200
        answer = b"ok" if status == 200 else b"server trouble"
        handler.send_response(status)
        handler.send_header("Content-Length", str(len(answer)))
        handler.end_headers()
        handler.wfile.write(answer)


@pytest.fixture
def webhook(monkeypatch):
    """A receiver on 127.0.0.1 behind GROWTH_ALERT_WEBHOOK_URL (with a secret-looking path)."""
    receiver = Receiver()
    with local_http_server(receiver) as base:
        url = base + SECRET_PATH
        monkeypatch.setenv("GROWTH_ALERT_WEBHOOK_URL", url)
        receiver.url = url
        yield receiver


@pytest.fixture
def instance():
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


def growth_entry(metric, bands, wows, values, streak, segment="all"):
    """weekly_growth's metadata entry for 2026-W48, the last weeks given oldest first."""

    def pad(items):
        return [None] * (13 - len(items)) + list(items)

    return {
        "metric": metric, "segment": segment, "week": WEEKS[-1], "value": values[-1], "wow_growth": wows[-1],
        "band": bands[-1], "streak": streak, "note": None, "cgr_4w": None, "cgr_13w": None,
        "recent": {"weeks": WEEKS, "value": pad(values), "wow_growth": pad(wows), "band": pad(bands)},
    }  # fmt: skip


# Teams: 2026-W47 +0.65% and 2026-W48 +0.39%, both "not acceptable" (<= 1%), 3 weeks in that band.
TEAMS_WEAK = growth_entry("teams", [NA, NA, NA], [0.0078, 0.0065, 0.0039], [766, 772, 776, 779], streak=3)
USERS_FINE = growth_entry("users", [OKAY, GOOD], [0.012, 0.025], [2400, 2428.8, 2489.5], streak=1)
TEAMS_RECOVERED = growth_entry("teams", [NA, NA, GOOD], [0.0078, 0.0065, 0.0206], [766, 772, 776, 792], streak=1)


def report_rollup(instance, entries, partition=W48, asset="weekly_growth", key="growth"):
    instance.report_runless_asset_event(
        dg.AssetMaterialization(asset, partition=partition, metadata={key: dg.MetadataValue.json(entries)})
    )


def tick(instance, alerting, cursor=None) -> dg.SensorResult:
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"alerting": alerting})
    return growth_alert_sensor(context)


def launch(instance, alerting, result: dg.SensorResult) -> list[dg.ExecuteInProcessResult]:
    """Execute the requested runs as the daemon launches them: the request's run config and tags."""
    return [
        growth_alert_job.execute_in_process(
            run_config=request.run_config,
            tags={**request.tags, "dagster/run_key": request.run_key},
            instance=instance,
            resources={"alerting": alerting},
            raise_on_error=False,
        )
        for request in result.run_requests
    ]


def alert_observations(instance, asset="weekly_growth") -> list[dict]:
    records = instance.fetch_observations(dg.AssetKey(asset), limit=100).records
    return [r.asset_observation.metadata["alert"].value for r in reversed(records)]


def test_a_breached_rule_alerts_once_with_the_metric_segment_week_wow_band_streak_and_link(instance, webhook):
    alerting = settings()
    report_rollup(instance, [TEAMS_WEAK, USERS_FINE])
    result = tick(instance, alerting)
    (request,) = result.run_requests
    assert request.run_key == "not_acceptable_2_weeks:2026-W48"
    (run,) = launch(instance, alerting, result)
    assert run.success

    ((path, body),) = webhook.posts
    assert path == SECRET_PATH
    assert body == {
        "text": ":warning: *Growth alert not_acceptable_2_weeks, 2026-W48 (2026-11-23 to 2026-11-29)*\n"
        "Band at or below 'not acceptable' for 2 consecutive weeks (every metric, segment all):\n"
        "• Teams (all): WoW +0.39%, band not acceptable, streak 3 weeks, value 779 "
        "[2026-W47 +0.65% not acceptable; 2026-W48 +0.39% not acceptable]\n"
        "<http://127.0.0.1:3000/assets/weekly_growth?view=partitions&partition=2026-11-23|"
        "weekly_growth 2026-W48 in Dagster>"
    }
    (record,) = alert_observations(instance)
    assert {k: record[k] for k in ("rule", "metric", "segment", "week", "wow_growth", "band", "streak")} == {
        "rule": "not_acceptable_2_weeks", "metric": "teams", "segment": "all", "week": "2026-W48",
        "wow_growth": 0.0039, "band": NA, "streak": 3,
    }  # fmt: skip
    assert (record["delivered"], record["reason"]) == (True, None)
    assert record["condition"] == CONDITION
    (observation,) = instance.fetch_observations(dg.AssetKey("weekly_growth"), limit=1).records
    assert observation.partition_key == W48


def test_the_same_week_never_alerts_twice(instance, webhook):
    alerting = settings()
    report_rollup(instance, [TEAMS_WEAK])
    first = tick(instance, alerting)
    launch(instance, alerting, first)
    assert len(webhook.posts) == 1

    # The next tick sees nothing new; the week re-materialized is evaluated again but has its alert; so
    # does a sensor whose cursor was lost (a reset, a new daemon).
    second = tick(instance, alerting, first.cursor)
    assert second.run_requests == []
    assert "weekly_growth: no new materialization" in second.skip_reason.skip_message
    report_rollup(instance, [TEAMS_WEAK])
    third = tick(instance, alerting, second.cursor)
    assert third.run_requests == []
    assert "not_acceptable_2_weeks:2026-W48: already alerted (run " in third.skip_reason.skip_message
    assert tick(instance, alerting, None).run_requests == []
    assert len(webhook.posts) == 1


def test_a_week_that_recovered_does_not_alert(instance, webhook):
    alerting = settings()
    report_rollup(instance, [TEAMS_RECOVERED, USERS_FINE])
    result = tick(instance, alerting)
    assert result.run_requests == []
    assert result.skip_reason.skip_message.startswith(
        "No alert. weekly_growth 2026-W48: 2 enabled rule(s) on 2 series; none breached"
    )
    assert webhook.posts == []


def test_an_earlier_week_materialized_again_is_history_not_news(instance, webhook):
    alerting = settings()
    report_rollup(instance, [TEAMS_RECOVERED])
    first = tick(instance, alerting)
    weak_earlier = {**TEAMS_WEAK, "week": "2026-W47", "recent": {**TEAMS_WEAK["recent"], "weeks": WEEKS}}
    report_rollup(instance, [weak_earlier], partition=W47)
    second = tick(instance, alerting, first.cursor)
    assert second.run_requests == []
    assert (
        "weekly_growth: only weeks before 2026-W48 were re-materialized (not alerted on)"
        in second.skip_reason.skip_message
    )


def test_a_range_backfill_is_evaluated_once_for_its_last_week(instance, webhook):
    # In a single-run backfill every week's materialization carries the metadata of the range's last week.
    alerting = settings()
    for partition in ("2026-11-02", "2026-11-09", W47, W48):
        report_rollup(instance, [TEAMS_WEAK], partition=partition)
    result = tick(instance, alerting)
    assert [r.run_key for r in result.run_requests] == ["not_acceptable_2_weeks:2026-W48"]


def test_missing_data_alerts_once(instance, webhook):
    late = settings(datetime(2026, 11, 30, 6, 0, tzinfo=UTC))
    assert tick(instance, settings()).run_requests == []  # 05:59: not due yet
    report_rollup(instance, [TEAMS_RECOVERED])  # weekly_growth is there; weekly_adoption is not
    result = tick(instance, late)
    (request,) = result.run_requests
    assert request.run_key == "missing_data:2026-W48"
    (run,) = launch(instance, late, result)
    assert run.success
    ((_, body),) = webhook.posts
    assert body["text"].splitlines()[:2] == [
        ":warning: *Growth alert missing_data, 2026-W48 (2026-11-23 to 2026-11-29)*",
        "No weekly rollup: weekly_adoption not materialized for 2026-W48; the weekly rollup of 2026-W48 was due "
        "by 2026-11-30 06:00 UTC. The alert rules cannot be checked for this week until it is.",
    ]
    (record,) = alert_observations(instance, "weekly_adoption")
    assert (record["rule"], record["week"], record["metric"], record["delivered"]) == (
        "missing_data", "2026-W48", None, True
    )  # fmt: skip
    assert tick(instance, late, result.cursor).run_requests == []
    assert len(webhook.posts) == 1


def test_grace_hours_move_the_deadline(instance, webhook, tmp_path):
    rules = tmp_path / "alert_rules.yaml"
    rules.write_text(
        "destinations:\n  team: {webhook_env: GROWTH_ALERT_WEBHOOK_URL}\nmissing_data: {grace_hours: 3}\nrules: []\n"
    )
    at = {hour: settings(datetime(2026, 11, 30, hour, tzinfo=UTC), rules_path=str(rules)) for hour in (8, 9)}
    assert tick(instance, at[8]).skip_reason.skip_message.endswith(
        "missing-data check: 2026-W48 is due by 2026-11-30 09:00 UTC"
    )
    assert [r.run_key for r in tick(instance, at[9]).run_requests] == ["missing_data:2026-W48"]


def test_a_500_from_the_receiver_is_retried(instance, webhook):
    webhook.statuses = [500]
    alerting = settings()
    report_rollup(instance, [TEAMS_WEAK])
    (run,) = launch(instance, alerting, tick(instance, alerting))
    assert run.success
    assert len(webhook.posts) == 2 and webhook.posts[0] == webhook.posts[1]
    events = [e.event_type_value for e in run.all_events]
    assert events.count("STEP_UP_FOR_RETRY") == 1 and events.count("STEP_RESTARTED") == 1
    (record,) = alert_observations(instance)
    assert record["delivered"] is True


def test_the_webhook_url_never_reaches_logs_config_tags_or_errors(instance, webhook, caplog):
    caplog.set_level(logging.DEBUG)
    webhook.statuses = [503]
    alerting = settings()
    report_rollup(instance, [TEAMS_WEAK])
    (run,) = launch(instance, alerting, tick(instance, alerting))
    assert run.success and len(webhook.posts) == 2

    secret = SECRET_PATH.rsplit("/", 1)[1]
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    # httpx logged both requests (the receiver speaks HTTP/1.0), with the variable's name in place of the URL.
    requests = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert requests == [
        'HTTP Request: POST <GROWTH_ALERT_WEBHOOK_URL> "HTTP/1.0 503 Service Unavailable"',
        'HTTP Request: POST <GROWTH_ALERT_WEBHOOK_URL> "HTTP/1.0 200 OK"',
    ]
    dagster_run = instance.get_run_by_id(run.run_id)
    stored = [dg.serialize_value(e) for e in instance.all_logs(run.run_id)]
    stored += [json.dumps(dagster_run.run_config), json.dumps(dagster_run.tags)]
    for text in [logged, *stored]:
        assert webhook.url not in text and secret not in text
    assert any("answered HTTP 503 Service Unavailable" in s for s in stored)  # the retry is in the event log


def test_no_webhook_configured_records_the_alert_and_says_nothing_was_sent(instance, monkeypatch):
    monkeypatch.delenv("GROWTH_ALERT_WEBHOOK_URL", raising=False)
    alerting = settings()
    report_rollup(instance, [TEAMS_WEAK])
    (run,) = launch(instance, alerting, tick(instance, alerting))
    assert run.success
    messages = [e.user_message for e in instance.all_logs(run.run_id) if not e.dagster_event]
    assert messages[0].startswith("Growth alert not_acceptable_2_weeks, 2026-W48 (2026-11-23 to 2026-11-29)\n")
    assert "• " not in messages[0] and "Teams (all): WoW +0.39%, band not acceptable, streak 3 weeks" in messages[0]
    assert messages[1] == (
        "Nothing was sent: no webhook configured (GROWTH_ALERT_WEBHOOK_URL is not set). The alert is recorded "
        "as an observation on weekly_growth (2026-11-23)."
    )
    (record,) = alert_observations(instance)
    assert (record["delivered"], record["reason"], record["metric"]) == (False, "no webhook configured", "teams")
    (observation,) = instance.fetch_observations(dg.AssetKey("weekly_growth"), limit=1).records
    shown = observation.asset_observation.metadata
    assert (shown["delivered"].value, shown["reason"].value) == (False, "no webhook configured")
    assert (shown["metric"].value, shown["band"].value, shown["streak"].value) == ("teams", NA, 3)


def test_an_unreachable_webhook_fails_the_alert_run_and_names_the_cause(instance, monkeypatch):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("GROWTH_ALERT_WEBHOOK_URL", f"http://127.0.0.1:{port}{SECRET_PATH}")
    alerting = settings(delivery_attempts=3)
    report_rollup(instance, [TEAMS_WEAK])
    (run,) = launch(instance, alerting, tick(instance, alerting))
    assert not run.success
    (failure,) = [e for e in run.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.message
    assert message.startswith(
        "dagster._core.definitions.events.Failure: Alert not_acceptable_2_weeks:2026-W48 not delivered: could not "
        "reach the webhook in GROWTH_ALERT_WEBHOOK_URL: "
    )
    assert message.rstrip().endswith("(attempt 3 of 3)")
    assert SECRET_PATH not in dg.serialize_value(failure) and str(port) not in message
    (record,) = alert_observations(instance)
    assert record["delivered"] is False and record["reason"].startswith("could not reach the webhook in ")


def test_a_rejected_post_is_not_retried(instance, webhook):
    webhook.statuses = [404]
    alerting = settings()
    report_rollup(instance, [TEAMS_WEAK])
    (run,) = launch(instance, alerting, tick(instance, alerting))
    assert not run.success and len(webhook.posts) == 1
    (failure,) = [e for e in run.all_events if e.is_step_failure]
    assert failure.step_failure_data.error.message.strip() == (
        "dagster._core.definitions.events.Failure: Alert not_acceptable_2_weeks:2026-W48 not delivered: the webhook "
        "in GROWTH_ALERT_WEBHOOK_URL answered HTTP 404 Not Found: server trouble (check the URL in "
        "GROWTH_ALERT_WEBHOOK_URL) (attempt 1 of 4)"
    )


def test_the_json_format_posts_the_structured_alert(instance, webhook, tmp_path):
    rules = tmp_path / "alert_rules.yaml"
    rules.write_text(
        "destinations:\n  ops: {webhook_env: GROWTH_ALERT_WEBHOOK_URL, format: json}\n"
        "rules:\n  - {name: teams_slow, metric: teams, condition: {wow_below: 0.005}}\n"
    )
    alerting = settings(rules_path=str(rules), dagster_ui_url="http://dagster.internal:3000")
    report_rollup(instance, [TEAMS_WEAK, USERS_FINE])
    launch(instance, alerting, tick(instance, alerting))
    ((_, body),) = webhook.posts
    assert {k: body[k] for k in ("kind", "rule", "condition", "week", "week_start", "assets", "link")} == {
        "kind": "rule", "rule": "teams_slow", "condition": "WoW growth below +0.50% (metric teams, segment all)",
        "week": "2026-W48", "week_start": "2026-11-23", "assets": ["weekly_growth"],
        "link": "http://dagster.internal:3000/assets/weekly_growth?view=partitions&partition=2026-11-23",
    }  # fmt: skip
    assert body["findings"] == [
        {"metric": "teams", "name": "Teams", "segment": "all", "value": 779, "wow_growth": 0.0039, "band": NA,
         "streak": 3, "detail": "2026-W48 +0.39% not acceptable"}
    ]  # fmt: skip


def test_a_bad_rules_file_fails_the_tick_naming_the_cause(instance, tmp_path):
    rules = tmp_path / "alert_rules.yaml"
    rules.write_text(
        "destinations:\n  team: {webhook_env: GROWTH_ALERT_WEBHOOK_URL}\n"
        "rules:\n  - {name: weak, metric: teams, segment: all, condition: {wow_below: 2}}\n"
    )
    with pytest.raises(AlertRulesError) as error:
        tick(instance, settings(rules_path=str(rules)))
    assert str(error.value) == (
        f"{rules}:4: rule 'weak'.condition, field 'wow_below': must be a fraction between -1 and 1 (0.01 = 1%), got 2"
    )


def test_metadata_from_before_alerting_fails_the_tick_naming_the_fix(instance):
    old = {k: v for k, v in TEAMS_WEAK.items() if k != "recent"}
    report_rollup(instance, [old])
    with pytest.raises(MetadataError) as error:
        tick(instance, settings())
    assert str(error.value) == (
        "weekly_growth 2026-W48: the entry for metric 'teams', segment 'all' has no 'recent' weeks: it was written "
        "before alerting was added; re-materialize the latest week of the weekly rollups (weekly_growth_job)"
    )


def test_the_sensor_is_in_the_code_location_and_stopped_by_default():
    from growth_pipeline.definitions import defs

    repository = defs.get_repository_def()
    sensor = repository.get_sensor_def("growth_alert_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    assert sensor.job_name == "growth_alert_job"
    assert repository.get_job("growth_alert_job").name == "growth_alert_job"
