"""Alert rules: the file's checks (one error naming the file and line, the rule and the field), and rule
evaluation on hand-made weekly series, with no Dagster."""

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from growth_pipeline.alerts.evaluate import (
    Series,
    adoption_series,
    breaches,
    evaluate,
    growth_series,
    last_complete_week,
    missing_data_alert,
    rollup_deadline,
)
from growth_pipeline.alerts.messages import alert_records, json_body, slack_body
from growth_pipeline.alerts.rules import AlertRules, AlertRulesError, Condition, Destination, load_alert_rules
from growth_pipeline.catalog import load_catalog

from .conftest import validate_definitions
from .test_catalog import VALID as VALID_CATALOG

# The line numbers in the expected messages below refer to this file.
VALID = """\
destinations:
  team: {webhook_env: GROWTH_ALERT_WEBHOOK_URL, format: slack}
  audit: {webhook_env: AUDIT_HOOK, format: json}
missing_data: {enabled: true, grace_hours: 2, deliver_to: team}
rules:
  - name: teams_weak
    metric: teams
    condition: {band_at_or_below: okay, for_weeks: 3}
    deliver_to: team
  - name: broker_low
    feature: mqtt_broker
    segment: tier:team
    condition: {adoption_rate_below: 0.4}
    deliver_to: audit
    enabled: false
"""
TEAM = Destination("team", "GROWTH_ALERT_WEBHOOK_URL", "slack")


@pytest.fixture
def catalog(tmp_path):
    path = tmp_path / "catalog.yaml"
    path.write_text(VALID_CATALOG)
    return load_catalog(path)


def load(tmp_path, catalog, text: str) -> tuple[Path, AlertRules]:
    path = tmp_path / "alert_rules.yaml"
    path.write_text(text)
    return path, load_alert_rules(path, catalog)


def test_the_small_rules_file_loads(tmp_path, catalog):
    _, rules = load(tmp_path, catalog, VALID)
    teams, broker = rules.rules
    assert (teams.name, teams.target, teams.key, teams.segment, teams.asset) == (
        "teams_weak", "metric", "teams", "all", "weekly_growth"
    )  # fmt: skip
    assert teams.condition == Condition("band_at_or_below", "okay", 3)
    assert teams.destination == TEAM
    assert (broker.asset, broker.segment, broker.enabled) == ("weekly_adoption", "tier:team", False)
    assert broker.condition == Condition("adoption_rate_below", 0.4, 1)
    assert broker.destination == Destination("audit", "AUDIT_HOOK", "json")
    assert (rules.missing_data.enabled, rules.missing_data.grace_hours) == (True, 2.0)
    assert rules.enabled() == (teams,)
    assert teams.describe() == "band at or below 'okay' for 3 consecutive weeks (metric teams, segment all)"


def test_the_packaged_default_rules():
    rules = load_alert_rules(None, load_catalog())
    by_name = {r.name: r for r in rules.rules}
    assert set(by_name) == {"not_acceptable_2_weeks", "okay_4_weeks"}
    assert by_name["not_acceptable_2_weeks"].condition == Condition("band_at_or_below", "not acceptable", 2)
    assert by_name["okay_4_weeks"].condition == Condition("band_is", "okay", 4)
    assert all((r.key, r.segment, r.enabled) == ("*", "all", True) for r in rules.rules)
    assert rules.missing_data.destination == Destination("team", "GROWTH_ALERT_WEBHOOK_URL", "slack")


BAD = [
    ("metric: teams", "metric: teamz",
     "7: rule 'teams_weak', field 'metric': unknown metric 'teamz' (did you mean 'teams'? metrics: teams, "
     "device_adoption)"),
    ("band_at_or_below: okay,", "band_at_or_below: ok,",
     "8: rule 'teams_weak'.condition, field 'band_at_or_below': unknown band 'ok' (did you mean 'okay'? bands: "
     "exceptional, strong, sustainable, okay, not acceptable)"),
    ("for_weeks: 3}", "for_weeks: 20}",
     "8: rule 'teams_weak'.condition, field 'for_weeks': must be a whole number of weeks from 1 to 13, got 20"),
    ("{band_at_or_below: okay, for_weeks: 3}", "{drop_vs_4_week_average: 0.05, for_weeks: 10}",
     "8: rule 'teams_weak'.condition, field 'for_weeks': must be a whole number of weeks from 1 to 9, got 10"),
    ("{band_at_or_below: okay, for_weeks: 3}", "{wow_below: 1}",
     "8: rule 'teams_weak'.condition, field 'wow_below': must be a fraction between -1 and 1 (0.01 = 1%), got 1"),
    ("{band_at_or_below: okay, for_weeks: 3}", "{adoption_rate_below: 0.3}",
     "8: rule 'teams_weak'.condition, field 'adoption_rate_below': applies to a feature's adoption: give "
     "'feature' instead of 'metric'"),
    ("{band_at_or_below: okay, for_weeks: 3}", "{band_is: okay, wow_below: 0.01}",
     "8: rule 'teams_weak'.condition: give exactly one of band_at_or_below, band_is, wow_below, "
     "drop_vs_4_week_average, adoption_rate_below (and optionally for_weeks)"),
    ("webhook_env: GROWTH_ALERT_WEBHOOK_URL", 'webhook_env: "https://hooks.slack.com/services/T0/B0/xyz"',
     "2: destinations.team, field 'webhook_env': is the name of the environment variable that holds the webhook "
     "URL, not the URL itself (a secret: keep it out of this file), e.g. GROWTH_ALERT_WEBHOOK_URL"),
    ("format: json", "format: xml",
     "3: destinations.audit, field 'format': unknown format 'xml' (formats: slack, json)"),
    ("deliver_to: team\n  - name", "deliver_to: nowhere\n  - name",
     "9: rule 'teams_weak', field 'deliver_to': unknown destination 'nowhere' (destinations: team, audit)"),
    ("    deliver_to: team\n  - name", "  - name",
     "6: rule 'teams_weak', field 'deliver_to': is required when there are several destinations (team, audit)"),
    ("    metric: teams\n", "    metric: teams\n    feature: devices\n",
     "6: rule 'teams_weak': give exactly one of 'metric' (weekly_growth) or 'feature' (weekly_adoption)"),
    ("metric: teams", "metrc: teams",
     "7: rule 'teams_weak', field 'metrc': unknown field (did you mean 'metric'? allowed: condition, deliver_to, "
     "enabled, exclude, feature, metric, name, segment)"),
    ("metric: teams", "metric: teams\n    exclude: [device_adoption]",
     "8: rule 'teams_weak', field 'exclude': only applies to metric: '*'"),
    ("name: broker_low", "name: teams_weak",
     "10: rule 'teams_weak', field 'name': duplicate name: each rule has its own (alerts are keyed by rule and week)"),
    ("name: broker_low", "name: missing_data",
     "10: rule 'missing_data', field 'name': 'missing_data' is reserved for missing-data alerts; name the rule "
     "differently"),
    ("name: broker_low", "name: Broker Low",
     "10: rule 'Broker Low', field 'name': 'Broker Low' is not valid here: write it like 'teams_weak_growth'"),
    ("segment: tier:team", "segment: tier:teams",
     "12: rule 'broker_low', field 'segment': unknown segment 'tier:teams' (did you mean 'tier:team'? segments: "
     "all, tier:team, tier:enterprise)"),
    ("enabled: false", "enabled: maybe",
     "15: rule 'broker_low', field 'enabled': must be true or false, got 'maybe'"),
    ("grace_hours: 2", "grace_hours: -1",
     "4: missing_data, field 'grace_hours': must be 0 or more, got -1"),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "expected"), BAD, ids=[b[2].split(": ", 2)[1][:40] for b in BAD])
def test_a_mistake_names_the_file_line_rule_and_field(tmp_path, catalog, old, new, expected):
    assert old in VALID
    with pytest.raises(AlertRulesError) as error:
        load(tmp_path, catalog, VALID.replace(old, new, 1))
    assert str(error.value) == f"{tmp_path / 'alert_rules.yaml'}:{expected}"


def test_unreadable_and_invalid_files(tmp_path, catalog):
    missing = tmp_path / "nowhere.yaml"
    with pytest.raises(AlertRulesError) as error:
        load_alert_rules(missing, catalog)
    assert str(error.value) == f"{missing}: cannot read the alert rules: No such file or directory"
    with pytest.raises(AlertRulesError) as error:
        load(tmp_path, catalog, "rules: [\n")
    assert str(error.value).startswith(f"{tmp_path / 'alert_rules.yaml'}:2: not valid YAML: ")


def test_the_code_location_does_not_load_with_a_bad_rules_file(tmp_path):
    bad = tmp_path / "alert_rules.yaml"
    bad.write_text(
        "destinations:\n  team: {webhook_env: GROWTH_ALERT_WEBHOOK_URL}\nrules:\n"
        "  - {name: weak, metric: teams, condition: {band_is: fine}}\n"
    )
    returncode, output = validate_definitions(tmp_path, GROWTH_ALERT_RULES=str(bad))
    assert returncode == 1
    assert (
        f"AlertRulesError: {bad}:4: rule 'weak'.condition, field 'band_is': unknown band 'fine' "
        "(bands: exceptional, strong, sustainable, okay, not acceptable)"
    ) in output


# ------------------------------------------------------------------------------------ evaluation

WEEKS = tuple(f"2026-W{n}" for n in range(36, 49))  # 13 weeks up to 2026-W48 (starts Monday 2026-11-23)
W48 = date(2026, 11, 23)
NA, OKAY, GOOD = "not acceptable", "okay", "sustainable"


def series(key="teams", segment="all", bands=(), wows=(), values=(), rates=None, streak=None) -> Series:
    """A series whose last weeks are given (oldest first); earlier weeks have no data."""

    def pad(items):
        return (None,) * (13 - len(items)) + tuple(items)

    return Series(key, segment, WEEKS, pad(values), pad(wows), pad(bands), pad(rates) if rates else None, streak)


def rule_from(tmp_path, catalog, target_line: str, condition: str, segment: str = "all"):
    text = (
        "destinations:\n  team: {webhook_env: GROWTH_ALERT_WEBHOOK_URL}\nrules:\n"
        f"  - name: r\n    {target_line}\n    segment: '{segment}'\n    condition: {condition}\n"
    )
    return load(tmp_path, catalog, text)[1]


def test_band_at_or_below_for_consecutive_weeks(tmp_path, catalog):
    rules = rule_from(tmp_path, catalog, "metric: teams", f"{{band_at_or_below: '{NA}', for_weeks: 2}}")
    (rule,) = rules.rules
    weak = series(bands=(OKAY, NA, NA), wows=(0.015, 0.008, 0.004), values=(100, 101.5, 102.3, 102.7), streak=2)
    (finding,) = breaches(rule, [weak], {"teams": "Teams"}.get)
    assert (finding.name, finding.segment, finding.week, finding.value) == ("Teams", "all", "2026-W48", 102.7)
    assert (finding.wow_growth, finding.band, finding.streak) == (0.004, NA, 2)
    assert finding.detail == "2026-W47 +0.80% not acceptable; 2026-W48 +0.40% not acceptable"
    # A week that recovered, a single weak week, and a week without a band do not alert.
    assert breaches(rule, [series(bands=(NA, NA, OKAY), wows=(0.0, 0.0, 0.015))], str) == []
    assert breaches(rule, [series(bands=(GOOD, NA), wows=(0.03, 0.0))], str) == []
    assert breaches(rule, [series(bands=(NA, None), wows=(0.0, None))], str) == []
    assert breaches(rule, [series(bands=(NA,), wows=(0.0,))], str) == []  # no week before: not 2 weeks


def test_at_or_below_counts_worse_bands_and_band_is_counts_only_that_band(tmp_path, catalog):
    mixed = series(bands=(OKAY, NA, OKAY, OKAY), wows=(0.015, 0.005, 0.012, 0.019))
    four_okay = series(bands=(NA, OKAY, OKAY, OKAY, OKAY), wows=(0.0, 0.015, 0.012, 0.019, 0.011))
    at_or_below = rule_from(tmp_path, catalog, "metric: teams", "{band_at_or_below: okay, for_weeks: 4}").rules[0]
    exactly = rule_from(tmp_path, catalog, "metric: teams", "{band_is: okay, for_weeks: 4}").rules[0]
    assert len(breaches(at_or_below, [mixed], str)) == 1
    assert breaches(exactly, [mixed], str) == []
    assert len(breaches(exactly, [four_okay], str)) == 1


def test_wow_below_a_threshold_is_strict(tmp_path, catalog):
    rule = rule_from(tmp_path, catalog, "metric: teams", "{wow_below: 0.005, for_weeks: 2}").rules[0]
    assert len(breaches(rule, [series(bands=(NA, NA), wows=(0.0049, -0.02))], str)) == 1
    assert breaches(rule, [series(bands=(NA, NA), wows=(0.005, -0.02))], str) == []  # 0.5% is not below 0.5%
    assert rule.condition.describe() == "WoW growth below +0.50% for 2 consecutive weeks"


def test_drop_against_the_4_week_average(tmp_path, catalog):
    rule = rule_from(tmp_path, catalog, "metric: teams", "{drop_vs_4_week_average: 0.05}").rules[0]
    # The 4 weeks before average (100 + 104 + 96 + 100) / 4 = 100; 94.9 is more than 5% below it.
    (finding,) = breaches(rule, [series(values=(100, 104, 96, 100, 94.9), wows=(0,) * 5, bands=(NA,) * 5)], str)
    assert finding.detail == "2026-W48 94.9 vs 4-week average 100 (-5.1%)"
    assert breaches(rule, [series(values=(100, 104, 96, 100, 95))], str) == []  # exactly 5% below
    assert breaches(rule, [series(values=(100, None, 96, 100, 80))], str) == []  # a week without a value
    assert breaches(rule, [series(values=(104, 96, 100, 80))], str) == []  # only 3 weeks before


def test_adoption_rate_below_a_target_per_tier(tmp_path, catalog):
    rules = rule_from(
        tmp_path, catalog, "feature: mqtt_broker", "{adoption_rate_below: 0.4, for_weeks: 2}", segment="tier:team"
    )
    entries = [
        adoption_entry("mqtt_broker", "team", rates=(0.41, 0.39, 0.38), adopting=(41, 39, 40), bands=(GOOD, NA, OKAY)),
        adoption_entry("mqtt_broker", "enterprise", rates=(0.3, 0.3, 0.3), adopting=(9, 9, 9), bands=(NA, NA, NA)),
        adoption_entry("mqtt_broker", "all", rates=(0.35, 0.36, 0.3), adopting=(50, 48, 49), bands=(NA, NA, NA)),
    ]
    names = {"mqtt_broker": "MQTT team broker"}.get
    evaluation = evaluate(rules, "weekly_adoption", W48, adoption_series(entries), names)
    (alert,) = evaluation.alerts
    (finding,) = alert.findings
    assert (alert.run_key, alert.assets, alert.target) == ("r:2026-W48", ("weekly_adoption",), "feature")
    assert (finding.key, finding.segment) == ("mqtt_broker", "tier:team")
    assert (finding.adoption_rate, finding.value) == (0.38, 40)
    assert (finding.band, finding.streak) == (OKAY, 1)  # the streak is counted from the recent bands
    assert finding.detail == "2026-W47 39.0%; 2026-W48 38.0%"
    # Metric rules do not look at weekly_adoption.
    assert evaluate(rules, "weekly_growth", W48, [], str).alerts == []


def adoption_entry(feature, tier, rates, adopting, bands):
    pad = (None,) * (13 - len(rates))
    return {
        "feature": feature, "tier": tier, "week": WEEKS[-1], "adopting_teams": adopting[-1],
        "adoption_rate": rates[-1], "wow_growth": 0.0, "band": bands[-1],
        "recent": {"weeks": list(WEEKS), "adopting_teams": [*pad, *adopting], "adoption_rate": [*pad, *rates],
                   "wow_growth": [*pad, *(0.0,) * len(rates)], "band": [*pad, *bands]},
    }  # fmt: skip


def test_every_metric_except_and_every_segment(tmp_path, catalog):
    text = (
        "destinations:\n  team: {webhook_env: GROWTH_ALERT_WEBHOOK_URL}\nrules:\n"
        "  - {name: any_metric, metric: '*', exclude: [device_adoption], condition: {band_is: 'not acceptable'}}\n"
        "  - {name: any_segment, metric: teams, segment: '*', condition: {band_is: 'not acceptable'}}\n"
        "  - {name: switched_off, metric: '*', condition: {band_is: 'not acceptable'}, enabled: false}\n"
        "  - {name: no_such_segment, metric: teams, segment: 'tier:gold', condition: {band_is: okay}}\n"
    )
    rules = load(tmp_path, catalog, text)[1]
    weak = [
        series("teams", "all", bands=(NA,), wows=(0.0,)),
        series("teams", "tier:team", bands=(NA,), wows=(0.0,)),
        series("device_adoption", "all", bands=(NA,), wows=(0.0,)),
    ]
    evaluation = evaluate(rules, "weekly_growth", W48, weak, str)
    found = {a.rule: [(f.key, f.segment) for f in a.findings] for a in evaluation.alerts}
    assert found == {"any_metric": [("teams", "all")], "any_segment": [("teams", "all"), ("teams", "tier:team")]}
    assert (evaluation.rules, evaluation.series, evaluation.unmatched_rules) == (3, 3, ["no_such_segment"])


def test_metadata_without_recent_weeks_says_how_to_fix_it():
    from growth_pipeline.alerts.evaluate import MetadataError

    entry = {"metric": "teams", "segment": "all", "week": "2026-W48", "band": NA, "wow_growth": 0.0}
    with pytest.raises(MetadataError) as error:
        growth_series([entry])
    assert str(error.value) == (
        "the entry for metric 'teams', segment 'all' has no 'recent' weeks: it was written before alerting was "
        "added; re-materialize the latest week of the weekly rollups (weekly_growth_job)"
    )


def test_when_a_weekly_rollup_is_due():
    # The last complete ISO week: Monday 2026-11-23 to Sunday 2026-11-29 (2026-W48).
    assert last_complete_week(datetime(2026, 11, 30, 0, 0, tzinfo=UTC)) == date(2026, 11, 23)
    assert last_complete_week(datetime(2026, 12, 6, 23, 59, tzinfo=UTC)) == date(2026, 11, 23)
    assert last_complete_week(datetime(2026, 11, 29, 23, 59, tzinfo=UTC)) == date(2026, 11, 16)
    assert rollup_deadline(W48, 0) == datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
    assert rollup_deadline(W48, 2.5) == datetime(2026, 11, 30, 8, 30, tzinfo=UTC)


# ------------------------------------------------------------------------------------ messages


def test_slack_text_json_body_and_the_observation_record(tmp_path, catalog):
    rules = rule_from(tmp_path, catalog, "metric: teams", f"{{band_at_or_below: '{NA}', for_weeks: 2}}")
    weak = series(bands=(OKAY, NA, NA), wows=(0.015, 0.008, 0.004), values=(100, 101.5, 102.3, 1027), streak=3)
    (alert,) = evaluate(rules, "weekly_growth", W48, [weak], {"teams": "Teams"}.get).alerts
    assert slack_body(alert, "http://dagster.example:3000/") == {
        "text": ":warning: *Growth alert r, 2026-W48 (2026-11-23 to 2026-11-29)*\n"
        "Band at or below 'not acceptable' for 2 consecutive weeks (metric teams, segment all):\n"
        "• Teams (all): WoW +0.40%, band not acceptable, streak 3 weeks, value 1,027 "
        "[2026-W47 +0.80% not acceptable; 2026-W48 +0.40% not acceptable]\n"
        "<http://dagster.example:3000/assets/weekly_growth?view=partitions&partition=2026-11-23|"
        "weekly_growth 2026-W48 in Dagster>"
    }
    body = json_body(alert, "http://127.0.0.1:3000")
    assert body["link"] == "http://127.0.0.1:3000/assets/weekly_growth?view=partitions&partition=2026-11-23"
    assert (body["kind"], body["rule"], body["week"], body["week_start"]) == ("rule", "r", "2026-W48", "2026-11-23")
    assert body["findings"] == [
        {"metric": "teams", "name": "Teams", "segment": "all", "value": 1027, "wow_growth": 0.004, "band": NA,
         "streak": 3, "detail": "2026-W47 +0.80% not acceptable; 2026-W48 +0.40% not acceptable"}
    ]  # fmt: skip
    ((asset, record),) = alert_records(alert, delivered=False, reason="no webhook configured")
    assert asset == "weekly_growth"
    assert {k: record[k] for k in ("rule", "metric", "segment", "week", "wow_growth", "band", "streak")} == {
        "rule": "r", "metric": "teams", "segment": "all", "week": "2026-W48", "wow_growth": 0.004, "band": NA,
        "streak": 3,
    }  # fmt: skip
    assert (record["delivered"], record["reason"]) == (False, "no webhook configured")
    assert record["condition"] == rules.rules[0].describe()
    assert (
        rules.rules[0].describe()
        == "band at or below 'not acceptable' for 2 consecutive weeks (metric teams, segment all)"
    )


def test_a_missing_rollup_message(tmp_path, catalog):
    _, rules = load(tmp_path, catalog, VALID)
    alert = missing_data_alert(rules, W48, ["weekly_growth", "weekly_adoption"])
    assert alert.run_key == "missing_data:2026-W48"
    assert slack_body(alert, "http://127.0.0.1:3000")["text"] == (
        ":warning: *Growth alert missing_data, 2026-W48 (2026-11-23 to 2026-11-29)*\n"
        "No weekly rollup: weekly_growth, weekly_adoption not materialized for 2026-W48; the weekly rollup of "
        "2026-W48 was due by 2026-11-30 08:00 UTC. The alert rules cannot be checked for this week until it is.\n"
        "<http://127.0.0.1:3000/assets/weekly_growth?view=partitions&partition=2026-11-23|weekly_growth 2026-W48 "
        "in Dagster>"
    )
    records = alert_records(alert, delivered=True, reason=None)
    assert [asset for asset, _ in records] == ["weekly_growth", "weekly_adoption"]
    assert records[0][1]["metric"] is None and records[0][1]["rule"] == "missing_data"
