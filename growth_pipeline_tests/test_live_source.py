"""A live platform only knows now: it serves the day that just ended, within a window, and never a past day."""

from datetime import date, datetime, timedelta, timezone

import dagster as dg
import pytest

from growth_pipeline.ingest.sources import SourceRefused, check_live_day
from growth_pipeline.resources import SnapshotSourceResource

from .conftest import pipeline_resources, query, run_days

NOW = datetime(2026, 12, 3, 3, 30, tzinfo=timezone.utc)
WINDOW = timedelta(hours=6)


def test_serves_the_day_that_just_ended_within_the_window():
    check_live_day(date(2026, 12, 2), NOW, WINDOW, serve_today=False)


def test_refuses_a_past_day_and_says_to_use_the_archive():
    with pytest.raises(SourceRefused) as refused:
        check_live_day(date(2026, 11, 20), NOW, WINDOW, serve_today=False)
    message = str(refused.value)
    assert "2026-11-20 is in the past" in message
    assert "never be filled with today's numbers" in message
    assert "GROWTH_SOURCE=archive" in message


def test_refuses_yesterday_once_the_window_has_closed():
    late = NOW.replace(hour=9)
    with pytest.raises(SourceRefused, match="window for snapshotting 2026-12-02 closed 6h after midnight UTC"):
        check_live_day(date(2026, 12, 2), late, WINDOW, serve_today=False)


def test_today_only_when_configured():
    with pytest.raises(SourceRefused, match="has not ended yet.*FLOWFUSE_SERVE_TODAY"):
        check_live_day(date(2026, 12, 3), NOW, WINDOW, serve_today=False)
    check_live_day(date(2026, 12, 3), NOW, WINDOW, serve_today=True)
    with pytest.raises(SourceRefused, match="has not ended yet"):
        check_live_day(date(2026, 12, 4), NOW, WINDOW, serve_today=True)


class PinnedClock(SnapshotSourceResource):
    def now(self) -> datetime:
        return NOW


def test_the_pipeline_refuses_a_past_day_and_writes_nothing(warehouse, monkeypatch):
    monkeypatch.setenv("FLOWFUSE_TOKEN", "never-used")
    source = PinnedClock(kind="flowfuse", flowfuse_url="http://127.0.0.1:9")
    result = run_days(
        date(2026, 11, 20), date(2026, 11, 20), pipeline_resources(warehouse, source), raise_on_error=False
    )
    assert not result.success
    message = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error.message
    assert "2026-11-20 failed: the flowfuse source cannot snapshot 2026-11-20" in message
    assert "nothing was stored" in message
    assert query(warehouse, "SELECT count(*) FROM raw_snapshots") == [(0,)]


def test_an_unknown_source_kind_is_named():
    with pytest.raises(ValueError, match="GROWTH_SOURCE='flowfuze' is not a source; choose one of demo, flowfuse"):
        SnapshotSourceResource(kind="flowfuze").source()


def test_resource_config_holds_no_secret(monkeypatch):
    monkeypatch.setenv("FLOWFUSE_TOKEN", "ffpat_secret_value")
    from growth_pipeline.resources import resources_from_env

    config = dg.ConfigurableResource.model_dump(resources_from_env()["snapshot_source"])
    assert "ffpat_secret_value" not in repr(config)
    assert config["token_variable"] == "FLOWFUSE_TOKEN"
