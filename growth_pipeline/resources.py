"""Dagster resources: the DuckDB warehouse, the snapshot source, and the catalog, built from the environment."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from growth_pipeline import settings
from growth_pipeline.catalog import Catalog, load_catalog
from growth_pipeline.ingest.sources import ArchiveSource, DemoSource, FlowFuseSource, SnapshotSource

SOURCE_KINDS = ("demo", "flowfuse", "archive")


class Warehouse(DuckDBResource):
    """The DuckDB file. dagster-duckdb 0.29.27 closes its connection only when the body succeeds; a failed
    asset would keep the file open (and its write lock held) in this process. This closes it either way."""

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        opened = super().get_connection()
        conn = opened.__enter__()
        try:
            yield conn
        finally:
            opened.__exit__(None, None, None)  # resumed normally, it closes the connection


class SnapshotSourceResource(dg.ConfigurableResource):
    """Which platform a day's snapshot is read from, and where the snapshots taken are archived.
    Holds no secret: only the token's variable name."""

    kind: str = "demo"
    demo_seed: int = 7
    flowfuse_url: str = ""
    token_variable: str = "FLOWFUSE_TOKEN"
    live_window_hours: float = 6.0
    serve_today: bool = False
    # Every snapshot taken from a live platform is also written here (default: data/archive).
    archive_dir: str = ""
    # Where the archive source reads: a directory, a path template or an http(s) URL template with {date}
    # (default: archive_dir).
    archive_from: str = ""
    # Demo snapshots are reproducible from the seed, so they are archived only when asked.
    archive_demo: bool = False

    def now(self) -> datetime:
        """The current time; tests subclass this to pin the clock."""
        return datetime.now(UTC)

    def source(self) -> SnapshotSource:
        if self.kind == "demo":
            return DemoSource(seed=self.demo_seed)
        if self.kind == "flowfuse":
            return FlowFuseSource(
                base_url=self.flowfuse_url,
                token_variable=self.token_variable,
                window=timedelta(hours=self.live_window_hours),
                serve_today=self.serve_today,
                now=self.now,
            )
        if self.kind == "archive":
            return ArchiveSource(location=self.archive_from or str(self.archive_directory()))
        raise ValueError(f"GROWTH_SOURCE={self.kind!r} is not a source; choose one of {', '.join(SOURCE_KINDS)}")

    def archive_directory(self) -> Path:
        return Path(self.archive_dir) if self.archive_dir else settings.archive_dir()

    def archives_snapshots(self) -> bool:
        """Live snapshots always (a past day cannot be taken again); demo ones on request; the archive
        source never re-writes what it reads."""
        return self.kind == "flowfuse" or (self.kind == "demo" and self.archive_demo)

    def describe(self) -> str:
        if self.kind == "demo":
            return "the simulated demo platform"
        if self.kind == "archive":
            return f"the snapshot archive ({self.archive_from or self.archive_directory()})"
        return f"{self.kind} ({self.flowfuse_url})"


class CatalogResource(dg.ConfigurableResource):
    """The catalog file (features, tracked metrics, bands). Read on each use: it is small, and a run
    must see the file as it is now, e.g. just after a feature was added."""

    path: str = ""

    def get(self) -> Catalog:
        return load_catalog(self.path or None)


def resources_from_env() -> dict[str, dg.ConfigurableResource]:
    database = settings.duckdb_path()
    database.parent.mkdir(parents=True, exist_ok=True)
    return {
        "warehouse": Warehouse(database=str(database)),
        "snapshot_source": SnapshotSourceResource(
            kind=os.getenv("GROWTH_SOURCE", "demo"),
            demo_seed=int(os.getenv("GROWTH_DEMO_SEED", "7")),
            flowfuse_url=os.getenv("FLOWFUSE_URL", ""),
            live_window_hours=float(os.getenv("FLOWFUSE_LIVE_WINDOW_HOURS", "6")),
            serve_today=os.getenv("FLOWFUSE_SERVE_TODAY", "") in ("1", "true", "yes"),
            archive_dir=str(settings.archive_dir()),
            archive_from=os.getenv("GROWTH_ARCHIVE_FROM", ""),
            archive_demo=os.getenv("GROWTH_ARCHIVE_DEMO", "") in ("1", "true", "yes"),
        ),
        "catalog": CatalogResource(path=os.getenv("GROWTH_CATALOG", "")),
    }
