"""The catalog: the packaged file loads, and every kind of mistake gives one error naming the file and
line, the entry and the field, also when Dagster loads the code location."""

from datetime import date
from pathlib import Path

import pytest

from growth_pipeline.catalog import CatalogError, load_catalog
from growth_pipeline.catalog.model import DEFAULT_CATALOG_PATH

from .conftest import validate_definitions

# A small valid catalog; the line numbers in the expected messages below refer to it.
VALID = """\
tiers: [starter, team, enterprise]
active_team:
  any_of: ["instanceCount > 0", "deviceCount > 0"]
growth_bands: {exceptional: 0.06, strong: 0.04, sustainable: 0.02, okay: 0.01}
weighted_customer_index:
  weights: {starter: 1, team: 4, enterprise: 8}
metrics:
  - {key: teams, name: Teams}
  - {key: device_adoption, name: Device adoption, adoption_of: devices}
features:
  - key: devices
    name: Edge devices
    description: Teams with an edge device.
    signal: deviceCount > 0
    tiers: [starter, team, enterprise]
    launched: null
    collected_from: 2023-09-01
  - key: mqtt_broker
    name: MQTT team broker
    description: Teams with a client of the MQTT team broker.
    signal: teamBrokerClientsCount > 0
    tiers: [team, enterprise]
    launched: 2024-10-24
    collected_from: 2024-10-24
"""

COUNTERS = "brokerCount, deviceCount, instanceCount, memberCount, pipelineCount, tablesCount, teamBrokerClientsCount"
FEATURE_FIELDS = "collected_from, description, key, launched, name, signal, tiers"
METRICS = (
    "active_teams, admins, devices, instances, invites, mqtt_clients, teams, trials, users, weighted_customer_index"
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(text)
    return path


def test_the_small_catalog_loads(tmp_path):
    catalog = load_catalog(write(tmp_path, VALID))
    assert [f.key for f in catalog.features] == ["devices", "mqtt_broker"]
    broker = catalog.feature("mqtt_broker")
    assert (str(broker.signal), broker.tiers) == ("teamBrokerClientsCount > 0", ("team", "enterprise"))
    assert (broker.launched, broker.collected_from) == (date(2024, 10, 24), date(2024, 10, 24))
    assert catalog.feature("devices").launched is None
    assert [(m.key, m.adoption_of) for m in catalog.metrics] == [("teams", None), ("device_adoption", "devices")]
    assert catalog.wci_weights == {"starter": 1.0, "team": 4.0, "enterprise": 8.0}


def test_the_packaged_catalog_declares_features_and_handbook_metrics():
    catalog = load_catalog()
    assert catalog.path == DEFAULT_CATALOG_PATH
    assert {f.key: f.launched for f in catalog.features} == {
        "hosted_instances": None,
        "devices": None,
        "devops_pipelines": date(2023, 9, 28),
        "mqtt_broker": date(2024, 10, 24),
        "tables": date(2025, 7, 31),
    }
    assert {m.key: m.adoption_of for m in catalog.adoption_metrics()} == {
        "device_adoption": "devices",
        "pipeline_adoption": "devops_pipelines",
    }
    assert "weighted_customer_index" in [m.key for m in catalog.metrics]
    assert catalog.wci_weights == {"starter": 1.0, "team": 4.0, "enterprise": 8.0}


# (what the mistake is, text replaced in VALID, its replacement, the message after "<path>:")
MISTAKES = [
    (
        "unknown counter",
        "signal: teamBrokerClientsCount > 0", "signal: teamBrokerClientCount > 0",
        "21: feature 'mqtt_broker', field 'signal': unknown counter 'teamBrokerClientCount' "
        f"(did you mean 'teamBrokerClientsCount'? known: {COUNTERS})",
    ),
    (
        "signal that is not a comparison",
        "signal: teamBrokerClientsCount > 0", "signal: teamBrokerClientsCount = 1",
        "21: feature 'mqtt_broker', field 'signal': 'teamBrokerClientsCount = 1' is not a signal; "
        "write '<counter> > <number>', e.g. 'deviceCount > 0'",
    ),
    (
        "unknown counter in the active-team rule",
        '"deviceCount > 0"]', '"devicesCount > 0"]',
        "3: active_team, field 'any_of': unknown counter 'devicesCount' "
        f"(did you mean 'deviceCount'? known: {COUNTERS})",
    ),
    (
        "impossible date",
        "launched: 2024-10-24", "launched: 2024-13-24",
        "23: feature 'mqtt_broker', field 'launched': '2024-13-24' is not a date (write it as YYYY-MM-DD)",
    ),
    (
        "date in another format",
        "collected_from: 2024-10-24", "collected_from: 24/10/2024",
        "24: feature 'mqtt_broker', field 'collected_from': '24/10/2024' is not a date (write it as YYYY-MM-DD)",
    ),
    (
        "a date and time",
        "collected_from: 2024-10-24", "collected_from: 2024-10-24 06:00:00",
        "24: feature 'mqtt_broker', field 'collected_from': '2024-10-24 06:00:00' is not a date "
        "(write it as YYYY-MM-DD)",
    ),
    (
        "collection before launch",
        "collected_from: 2024-10-24", "collected_from: 2024-10-01",
        "24: feature 'mqtt_broker', field 'collected_from': 2024-10-01 is before the launch on 2024-10-24",
    ),
    (
        "duplicate feature key",
        "key: mqtt_broker", "key: devices",
        "18: feature 'devices', field 'key': duplicate key: each feature appears once",
    ),
    (
        "typo in a field name",
        "collected_from: 2024-10-24", "colected_from: 2024-10-24",
        "24: feature 'mqtt_broker', field 'colected_from': unknown field (did you mean 'collected_from'? "
        f"allowed: {FEATURE_FIELDS})",
    ),
    (
        "a field given twice",
        "    tiers: [team, enterprise]\n", "    signal: brokerCount > 0\n    tiers: [team, enterprise]\n",
        "22: feature 'mqtt_broker', field 'signal': is given twice (lines 21 and 22); keep one",
    ),
    (
        "a required field left out",
        "    description: Teams with a client of the MQTT team broker.\n", "",
        "18: feature 'mqtt_broker', field 'description': is required",
    ),
    (
        "text where a list belongs",
        "tiers: [team, enterprise]", "tiers: team",
        "22: feature 'mqtt_broker', field 'tiers': must be a list of tiers, e.g. [team, enterprise], got 'team'",
    ),
    (
        "a list where text belongs",
        "name: MQTT team broker", "name: [MQTT]",
        "19: feature 'mqtt_broker', field 'name': must be non-empty text, got ['MQTT']",
    ),
    (
        "unknown tier",
        "tiers: [team, enterprise]", "tiers: [team, enterprize]",
        "22: feature 'mqtt_broker', field 'tiers': unknown tier 'enterprize' (tiers: starter, team, enterprise)",
    ),
    (
        "a tier listed twice",
        "tiers: [team, enterprise]", "tiers: [team, team]",
        "22: feature 'mqtt_broker', field 'tiers': tier 'team' is listed twice",
    ),
    (
        "a key that is not lower_snake_case",
        "key: mqtt_broker", "key: MQTT-broker",
        "18: feature 'MQTT-broker', field 'key': 'MQTT-broker' is not a key: use lower_snake_case, e.g. 'mqtt_broker'",
    ),
    (
        "unknown metric",
        "{key: teams, name: Teams}", "{key: teems, name: Teams}",
        f"8: metric 'teems', field 'key': unknown metric (known: {METRICS}; "
        "or give 'adoption_of: <feature>' to track a feature's adoption rate)",
    ),
    (
        "duplicate metric",
        "{key: device_adoption, name: Device adoption, adoption_of: devices}", "{key: teams, name: Teams again}",
        "9: metric 'teams', field 'key': duplicate key: each metric appears once",
    ),
    (
        "adoption metric of an unknown feature",
        "adoption_of: devices}", "adoption_of: device}",
        "9: metric 'device_adoption', field 'adoption_of': unknown feature 'device' (features: devices, mqtt_broker)",
    ),
    (
        "a WCI weight missing",
        "weights: {starter: 1, team: 4, enterprise: 8}", "weights: {starter: 1, team: 4}",
        "6: weighted_customer_index.weights: no weight for tier 'enterprise': give one for each of "
        "starter, team, enterprise",
    ),
    (
        "a WCI weight that is not a number",
        "enterprise: 8}", "enterprise: eight}",
        "6: weighted_customer_index.weights, field 'enterprise': must be a number, got 'eight'",
    ),
    (
        "bands out of order",
        "strong: 0.04", "strong: 0.07",
        "4: growth_bands: growth bands must be strictly decreasing: exceptional > strong > sustainable > okay, "
        "got 0.06, 0.07, 0.02, 0.01",
    ),
    (
        "a list where a mapping belongs",
        "weighted_customer_index:\n  weights: {starter: 1, team: 4, enterprise: 8}\n",
        "weighted_customer_index: [1, 4, 8]\n",
        "5: weighted_customer_index: expected a mapping of fields, got a list",
    ),
    (
        "a tier named like the total",
        "tiers: [starter, team, enterprise]", "tiers: [starter, team, all]",
        "1: top level, field 'tiers': 'all' is reserved for the all-tiers total; name the tier differently",
    ),
    (
        "typo in a top-level field",
        "features:\n", "feature:\n",
        "10: top level, field 'feature': unknown field (did you mean 'features'? allowed: active_team, "
        "features, growth_bands, metrics, tiers, weighted_customer_index)",
    ),
    (
        "broken YAML",
        "tiers: [team, enterprise]", "tiers: [team, enterprise",
        "23: not valid YAML: expected ',' or ']', but got ':' (while parsing a flow sequence that starts on line 22)",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "message"), [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES])
def test_a_mistake_gives_one_error_naming_file_entry_and_field(tmp_path, old, new, message):
    assert old in VALID
    path = write(tmp_path, VALID.replace(old, new, 1))
    with pytest.raises(CatalogError) as error:
        load_catalog(path)
    assert str(error.value) == f"{path}:{message}"


def test_an_empty_or_missing_file(tmp_path):
    empty = write(tmp_path, "# nothing yet\n")
    with pytest.raises(CatalogError) as error:
        load_catalog(empty)
    assert str(error.value) == f"{empty}:1: top level: expected a mapping of fields, got nothing"
    missing = tmp_path / "nowhere.yaml"
    with pytest.raises(CatalogError) as error:
        load_catalog(missing)
    assert str(error.value) == f"{missing}: cannot read the catalog: No such file or directory"


def test_dagster_shows_the_error_when_the_code_location_loads(tmp_path):
    """`dagster definitions validate` loads the code location as `dagster dev` does."""
    bad = write(tmp_path, VALID.replace("tiers: [team, enterprise]", "tiers: [team, enterprize]"))
    returncode, output = validate_definitions(tmp_path, GROWTH_CATALOG=str(bad))
    assert returncode == 1
    assert "Validation failed for code location growth_pipeline.definitions" in output
    assert (
        f"CatalogError: {bad}:22: feature 'mqtt_broker', field 'tiers': unknown tier 'enterprize' "
        "(tiers: starter, team, enterprise)"
    ) in output

    good = write(tmp_path, VALID)
    returncode, output = validate_definitions(tmp_path, GROWTH_CATALOG=str(good))
    assert returncode == 0, output
