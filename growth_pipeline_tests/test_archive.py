"""The snapshot archive: every snapshot taken is written there verbatim, and the `archive` source rebuilds
past days from it (a directory, a path template, or an HTTP URL template) after the DuckDB file is lost."""

import json
import os
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from growth_pipeline.ingest.archive import ArchiveError, ArchiveLocation, write_snapshot
from growth_pipeline.ingest.fetching import fetch_days
from growth_pipeline.ingest.sources import ArchiveSource
from growth_pipeline.resources import SnapshotSourceResource, resources_from_env
from growth_pipeline.simulator.platform import SimulatedPlatform

from .conftest import local_http_server, pipeline_resources, query, run_days

FIRST, LAST = date(2025, 11, 10), date(2025, 11, 14)
DAYS = [FIRST + timedelta(days=n) for n in range((LAST - FIRST).days + 1)]
TABLES = ("raw_snapshots", "team_usage", "platform_metrics", "feature_adoption")
PLATFORM = SimulatedPlatform()


def table_rows(database: Path, table: str) -> list[tuple]:
    return query(database, f"SELECT * FROM {table} ORDER BY ALL")


def failure_message(result) -> str:
    return next(e for e in result.all_events if e.is_step_failure).step_failure_data.error.message


def stored_days(database: Path) -> list[date]:
    return [d for (d,) in query(database, "SELECT snapshot_date FROM raw_snapshots ORDER BY 1")]


@pytest.fixture(scope="module")
def archived(tmp_path_factory):
    """Five demo days taken with archiving on: the DuckDB tables they built, and the archive directory."""
    root = tmp_path_factory.mktemp("archived")
    database, archive = root / "growth.duckdb", root / "archive"
    source = SnapshotSourceResource(kind="demo", archive_dir=str(archive), archive_demo=True)
    result = run_days(FIRST, LAST, pipeline_resources(database, source))
    assert result.success
    tables = {table: table_rows(database, table) for table in TABLES}
    return database, archive, tables, result


def archive_source(location: Path | str) -> SnapshotSourceResource:
    return SnapshotSourceResource(kind="archive", archive_from=str(location))


# ------------------------------------------------------------------------------------- writing


def test_every_snapshot_taken_is_archived_verbatim_one_file_per_day(archived):
    database, archive, _, result = archived
    assert sorted(p.name for p in archive.iterdir()) == [f"{d.isoformat()}.json" for d in DAYS]
    for day, document in query(database, "SELECT snapshot_date, CAST(document AS VARCHAR) FROM raw_snapshots"):
        on_disk = json.loads((archive / f"{day.isoformat()}.json").read_text())
        assert on_disk == json.loads(document)
        assert on_disk["stats"]["teamCount"] == PLATFORM.state_on(day).stats["teamCount"]
    metadata = result.asset_materializations_for_node("raw_snapshot")[-1].metadata
    assert metadata["archived_to"].value == str(archive)


def test_demo_snapshots_are_not_archived_unless_asked(tmp_path):
    archive = tmp_path / "archive"
    source = SnapshotSourceResource(kind="demo", archive_dir=str(archive))
    result = run_days(FIRST, FIRST, pipeline_resources(tmp_path / "growth.duckdb", source))
    assert not archive.exists()
    metadata = result.asset_materializations_for_node("raw_snapshot")[-1].metadata
    assert "demo snapshots are reproducible from the seed" in metadata["archived_to"].value


def test_writing_replaces_a_day_atomically_and_leaves_no_partial_file(tmp_path):
    first = write_snapshot(tmp_path, FIRST, '{"v": 1}')
    again = write_snapshot(tmp_path, FIRST, '{"v": 2}')
    assert first == again == tmp_path / "2025-11-10.json"
    assert again.read_text() == '{"v": 2}'
    assert [p.name for p in tmp_path.iterdir()] == ["2025-11-10.json"]


def test_a_day_that_cannot_be_archived_fails_the_run_and_says_so(tmp_path):
    not_a_directory = tmp_path / "archive"
    not_a_directory.write_text("a file where the archive directory should be")
    source = SnapshotSourceResource(kind="demo", archive_dir=str(not_a_directory), archive_demo=True)
    result = run_days(FIRST, FIRST, pipeline_resources(tmp_path / "growth.duckdb", source), raise_on_error=False)
    assert not result.success
    message = failure_message(result)
    assert "2025-11-10 failed: stored in raw_snapshots but NOT archived" in message
    assert str(not_a_directory) in message


# ------------------------------------------------------------------------------------- reading back


def test_backfill_from_the_archive_after_the_duckdb_file_is_lost_gives_identical_tables(archived, tmp_path):
    _, archive, tables, _ = archived
    mtimes = {p.name: p.stat().st_mtime_ns for p in archive.iterdir()}
    rebuilt = tmp_path / "rebuilt.duckdb"  # a fresh file: the original is "lost"
    result = run_days(FIRST, LAST, pipeline_resources(rebuilt, archive_source(archive)))
    assert result.success
    for table in TABLES:
        assert table_rows(rebuilt, table) == tables[table], table
    # The archive source read the files; it did not write them again.
    assert {p.name: p.stat().st_mtime_ns for p in archive.iterdir()} == mtimes


def test_deleting_the_duckdb_file_and_backfilling_from_the_default_archive(tmp_path, monkeypatch):
    """The configured path end to end: GROWTH_ARCHIVE_DIR is both where demo days are archived and where
    GROWTH_SOURCE=archive reads them back into the same (deleted and recreated) DuckDB file."""
    database = tmp_path / "growth.duckdb"
    monkeypatch.setenv("GROWTH_DUCKDB_PATH", str(database))
    monkeypatch.setenv("GROWTH_ARCHIVE_DIR", str(tmp_path / "archive"))
    monkeypatch.setenv("GROWTH_ARCHIVE_DEMO", "1")
    assert run_days(FIRST, FIRST + timedelta(days=2), resources_from_env()).success
    before = {table: table_rows(database, table) for table in TABLES}
    database.unlink()

    monkeypatch.setenv("GROWTH_SOURCE", "archive")
    resources = resources_from_env()
    assert isinstance(resources["snapshot_source"].source(), ArchiveSource)
    assert run_days(FIRST, FIRST + timedelta(days=2), resources).success
    assert {table: table_rows(database, table) for table in TABLES} == before


def test_a_corrupt_and_a_missing_day_each_fail_clearly_and_leave_the_other_days(archived, tmp_path):
    database, original, tables, _ = archived
    archive = tmp_path / "archive"
    archive.mkdir()
    for day in DAYS:
        (archive / f"{day}.json").write_bytes((original / f"{day}.json").read_bytes())
    corrupt, missing = DAYS[1], DAYS[3]
    (archive / f"{corrupt}.json").write_text('{"snapshot_date": "2025-11-11", "stats": {"teamCo')
    (archive / f"{missing}.json").unlink()

    # A DuckDB file that already holds the corrupt day: its good data must survive the failed backfill.
    restored = tmp_path / "restored.duckdb"
    assert run_days(corrupt, corrupt, pipeline_resources(restored, archive_source(original))).success
    kept = query(restored, "SELECT * FROM raw_snapshots WHERE snapshot_date = ?", [corrupt])

    result = run_days(FIRST, LAST, pipeline_resources(restored, archive_source(archive)), raise_on_error=False)

    assert not result.success
    message = failure_message(result)
    assert "raw_snapshot: 2 day(s) failed; the other 3 day(s) of this run were stored" in message
    assert f"2025-11-11 failed: the archived snapshot {archive / '2025-11-11.json'} is not valid JSON" in message
    assert f"2025-11-13 failed: no archived snapshot for 2025-11-13: {archive / '2025-11-13.json'} does not exist" in (
        message
    )
    assert stored_days(restored) == [DAYS[0], DAYS[1], DAYS[2], DAYS[4]]
    assert query(restored, "SELECT * FROM raw_snapshots WHERE snapshot_date = ?", [corrupt]) == kept
    good = [d for d in DAYS if d not in (corrupt, missing)]
    assert [r for r in table_rows(restored, "raw_snapshots") if r[0] in good] == [
        r for r in tables["raw_snapshots"] if r[0] in good
    ]


def test_an_unsound_archived_document_names_the_file_and_the_field(archived, tmp_path):
    _, original, _, _ = archived
    document = json.loads((original / f"{FIRST}.json").read_text())
    document["snapshot_date"] = "2025-11-09"  # a file copied under the wrong name
    del document["stats"]["teamCount"]
    (tmp_path / f"{FIRST}.json").write_text(json.dumps(document))

    result = run_days(
        FIRST, FIRST, pipeline_resources(tmp_path / "growth.duckdb", archive_source(tmp_path)), raise_on_error=False
    )

    message = failure_message(result)
    assert f"the snapshot for 2025-11-10 from {tmp_path / '2025-11-10.json'} is unsound (2 problems)" in message
    assert "snapshot_date is 2025-11-09 but the partition is 2025-11-10" in message
    assert "stats.teamCount is missing" in message
    assert "nothing was stored" in message


def test_an_archive_over_http(archived, tmp_path):
    """A real HTTP server on 127.0.0.1 serving the archive, read with a URL template; a day it does not
    have and a day it fails on are each reported with the URL."""
    _, archive, tables, _ = archived
    requests: list[str] = []

    def serve(handler):
        requests.append(handler.path)
        name = handler.path.removeprefix("/snapshots/")
        if name == f"{DAYS[4]}.json":
            status, body = 500, b"disk on fire"
        elif (archive / name).is_file() and name != f"{DAYS[3]}.json":
            status, body = 200, (archive / name).read_bytes()
        else:
            status, body = 404, b"not found"
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    database = tmp_path / "growth.duckdb"
    with local_http_server(serve) as base_url:
        template = f"{base_url}/snapshots/{{date}}.json"
        good = run_days(DAYS[0], DAYS[2], pipeline_resources(database, archive_source(template)))
        bad = run_days(DAYS[3], DAYS[4], pipeline_resources(database, archive_source(template)), raise_on_error=False)

    assert good.success
    for table in TABLES:
        expected = [r for r in tables[table] if r[0] <= DAYS[2]]
        assert table_rows(database, table) == expected, table
    assert sorted(requests) == [f"/snapshots/{d}.json" for d in DAYS]
    message = failure_message(bad)
    url = f"{base_url}/snapshots/"
    assert f"2025-11-13 failed: no archived snapshot for 2025-11-13: GET {url}2025-11-13.json answered HTTP 404" in (
        message
    )
    assert f"2025-11-14 failed: GET {url}2025-11-14.json answered HTTP 500: 'disk on fire'" in message
    assert stored_days(database) == DAYS[:3]


def test_an_unreachable_http_archive_names_the_url():
    location = ArchiveLocation.parse("http://127.0.0.1:9/snapshots/{date}.json")  # the discard port: refused
    with pytest.raises(ArchiveError, match=r"could not fetch the archived snapshot http://127.0.0.1:9/snapshots/"):
        location.read(FIRST)


# ------------------------------------------------------------------------------------- importing


def exported_document(day: date, teams: list[tuple[str, str]]) -> dict:
    """The minimum another tool must export: snapshot_date, stats.teamCount, teams with id/type.name/createdAt."""
    return {
        "snapshot_date": day.isoformat(),
        "stats": {"teamCount": len(teams), "userCount": 7},
        "teams": [
            {"id": team_id, "type": {"name": tier}, "createdAt": "2025-01-02T03:04:05.000Z"} for team_id, tier in teams
        ],
    }


def test_importing_minimal_documents_exported_by_another_tool(tmp_path):
    teams = [("t1", "starter"), ("t2", "team"), ("t3", "team")]
    for day in DAYS[:2]:
        folder = tmp_path / "export" / day.strftime("%Y/%m/%d")
        folder.mkdir(parents=True)
        (folder / "usage.json").write_text(json.dumps(exported_document(day, teams[: 2 + (day == DAYS[1])])))
    template = str(tmp_path / "export" / "{date:%Y/%m/%d}" / "usage.json")
    database = tmp_path / "growth.duckdb"

    assert run_days(DAYS[0], DAYS[1], pipeline_resources(database, archive_source(template))).success

    assert query(database, "SELECT snapshot_date, taken_at, source, simulated FROM raw_snapshots ORDER BY 1") == [
        (day, datetime.combine(day + timedelta(days=1), datetime.min.time(), timezone.utc), "archive", False)
        for day in DAYS[:2]
    ]
    assert query(
        database,
        "SELECT snapshot_date, metric, value FROM platform_metrics WHERE metric IN ('teams', 'users', "
        "'weighted_customer_index') AND segment = 'all' ORDER BY 1, 2",
    ) == [
        (DAYS[0], "teams", 2.0),
        (DAYS[0], "users", 7.0),
        (DAYS[0], "weighted_customer_index", 5.0),  # starter 1 + team 4
        (DAYS[1], "teams", 3.0),
        (DAYS[1], "users", 7.0),
        (DAYS[1], "weighted_customer_index", 9.0),
    ]
    # Counters the export does not carry are unknown (NULL), never 0.
    assert query(
        database,
        "SELECT team_id, tier, member_count, instance_count, device_count FROM team_usage "
        "WHERE snapshot_date = ? ORDER BY 1",
        [DAYS[1]],
    ) == [("t1", "starter", None, None, None), ("t2", "team", None, None, None), ("t3", "team", None, None, None)]


# ------------------------------------------------------------------------------------- locations


def test_a_directory_location_reads_one_iso_dated_file_per_day(tmp_path):
    assert ArchiveLocation.parse(str(tmp_path)).where(FIRST) == str(tmp_path / "2025-11-10.json")


def test_a_template_location_formats_the_date(tmp_path):
    location = ArchiveLocation.parse("https://files.example.com/usage/{date:%Y%m%d}.json")
    assert location.where(FIRST) == "https://files.example.com/usage/20251110.json"
    assert location.is_http


def test_a_url_without_the_date_is_refused():
    with pytest.raises(ArchiveError, match=r"has no \{date\} placeholder"):
        ArchiveLocation.parse("https://files.example.com/latest.json")


def test_an_unknown_placeholder_is_refused():
    with pytest.raises(ArchiveError, match=r"is not a valid template \(KeyError: 'day'\)"):
        ArchiveLocation.parse("/exports/{day}/{date}.json")


def test_an_unreadable_file_names_the_file(tmp_path):
    (tmp_path / f"{FIRST}.json").mkdir()  # a directory where the day's file should be
    with pytest.raises(ArchiveError, match=f"cannot read the archived snapshot {tmp_path / '2025-11-10.json'}"):
        ArchiveLocation.parse(str(tmp_path)).read(FIRST)


def test_archive_settings_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("GROWTH_SOURCE", "archive")
    monkeypatch.setenv("GROWTH_ARCHIVE_DIR", str(tmp_path / "kept"))
    monkeypatch.setenv("GROWTH_ARCHIVE_FROM", "https://files.example.com/{date}.json")
    source = resources_from_env()["snapshot_source"]
    assert source.source() == ArchiveSource(location="https://files.example.com/{date}.json")
    assert source.archive_directory() == tmp_path / "kept"
    assert not source.archives_snapshots()
    assert source.describe() == "the snapshot archive (https://files.example.com/{date}.json)"
    monkeypatch.delenv("GROWTH_ARCHIVE_FROM")
    assert resources_from_env()["snapshot_source"].source() == ArchiveSource(location=str(tmp_path / "kept"))


def test_live_snapshots_are_always_archived_demo_ones_on_request():
    assert SnapshotSourceResource(kind="flowfuse").archives_snapshots()
    assert not SnapshotSourceResource(kind="demo").archives_snapshots()
    assert SnapshotSourceResource(kind="demo", archive_demo=True).archives_snapshots()
    assert os.fspath(SnapshotSourceResource().archive_directory()).endswith(os.path.join("data", "archive"))


def test_an_unexpected_error_is_reported_with_its_type():
    class Broken:
        kind, reproducible = "broken", False

        def snapshot(self, day, counter_tiers):
            return {}["teams"]

    [failed] = list(fetch_days(Broken(), [FIRST], plan=lambda day: {}, origin="a broken source"))
    assert str(failed) == "2025-11-10 failed: KeyError: 'teams'"
