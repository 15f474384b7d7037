"""The raw snapshot store: a day's document is kept verbatim in pieces, read whole through the
raw_snapshots view, replaced atomically, and a warehouse from before the pieces is moved over intact.
Beside it, raw_snapshot_days keeps a copy of the document's stats, which platform_metrics reads."""

import json
from datetime import UTC, date, datetime

import duckdb

from growth_pipeline.storage.warehouse import DOCUMENT_PIECE_CHARS, ensure_tables, store_snapshot

DAY = date(2026, 11, 16)
TAKEN = datetime(2026, 11, 17, 0, 5, tzinfo=UTC)


def document(teams: int, name: str = "Équipe ☃") -> str:
    """A document long enough for several pieces, with multi-byte characters (pieces count characters)."""
    return json.dumps(
        {
            "snapshot_date": str(DAY),
            "stats": {"teamCount": teams},
            "teams": [{"id": f"t{n}", "name": name} for n in range(teams)],
        },
        ensure_ascii=False,
    )


def test_a_document_is_stored_in_pieces_and_read_back_verbatim(tmp_path):
    text = document(500)
    assert len(text) > 5 * DOCUMENT_PIECE_CHARS
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        ensure_tables(conn)
        store_snapshot(conn, DAY, TAKEN, "demo", True, text)
        pieces = conn.execute("SELECT count(*), max(length(text)) FROM raw_snapshot_pieces").fetchone()
        row = conn.execute(
            "SELECT snapshot_date, taken_at, source, simulated, CAST(document AS VARCHAR) FROM raw_snapshots"
        ).fetchall()
    # ceil(characters / piece size) pieces, none longer than a piece
    assert pieces == (-(-len(text) // DOCUMENT_PIECE_CHARS), DOCUMENT_PIECE_CHARS)
    assert row == [(DAY, TAKEN, "demo", True, text)]


def test_storing_a_day_again_replaces_it_whole(tmp_path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        ensure_tables(conn)
        store_snapshot(conn, DAY, TAKEN, "demo", True, document(500))
        store_snapshot(conn, DAY, TAKEN, "flowfuse", False, document(3, name="short"))
        rows = conn.execute("SELECT source, CAST(document AS VARCHAR) FROM raw_snapshots").fetchall()
        stats = conn.execute("SELECT CAST(stats AS VARCHAR) FROM raw_snapshot_days").fetchall()
        (pieces,) = conn.execute("SELECT count(*) FROM raw_snapshot_pieces").fetchone()
    assert rows == [("flowfuse", document(3, name="short"))]
    assert stats == [('{"teamCount":3}',)]
    assert pieces == 1


def test_a_warehouse_with_whole_documents_is_moved_into_pieces(tmp_path):
    path, text = tmp_path / "old.duckdb", document(500)
    with duckdb.connect(str(path)) as conn:  # the layout before pieces: one JSON value per day
        conn.execute(
            "CREATE TABLE raw_snapshots (snapshot_date DATE NOT NULL, taken_at TIMESTAMPTZ NOT NULL, "
            "source VARCHAR NOT NULL, simulated BOOLEAN NOT NULL, document JSON NOT NULL)"
        )
        conn.execute("INSERT INTO raw_snapshots VALUES (?, ?, 'archive', false, ?)", [DAY, TAKEN, text])
    with duckdb.connect(str(path)) as conn:
        ensure_tables(conn)
        ensure_tables(conn)  # and again: nothing left to move
        kind = conn.execute(
            "SELECT table_type FROM information_schema.tables WHERE table_name = 'raw_snapshots'"
        ).fetchall()
        rows = conn.execute(
            "SELECT snapshot_date, taken_at, source, simulated, CAST(document AS VARCHAR) FROM raw_snapshots"
        ).fetchall()
        stats = conn.execute("SELECT CAST(stats AS VARCHAR) FROM raw_snapshot_days").fetchall()
    assert kind == [("VIEW",)]
    assert rows == [(DAY, TAKEN, "archive", False, text)]
    assert stats == [('{"teamCount":500}',)]


def test_a_day_stored_before_the_stats_column_gets_its_stats_from_its_document(tmp_path):
    path = tmp_path / "pieces.duckdb"
    with duckdb.connect(str(path)) as conn:
        ensure_tables(conn)
        store_snapshot(conn, DAY, TAKEN, "demo", True, document(7))
        conn.execute("ALTER TABLE raw_snapshot_days DROP COLUMN stats")  # the layout of the first pieces
    with duckdb.connect(str(path)) as conn:
        ensure_tables(conn)
        stats = conn.execute("SELECT snapshot_date, CAST(stats AS VARCHAR) FROM raw_snapshot_days").fetchall()
    assert stats == [(DAY, '{"teamCount":7}')]
