"""The snapshot archive: one JSON document per day, kept outside DuckDB so any day can be rebuilt.

Every live snapshot the pipeline takes is written here verbatim, as ``<directory>/YYYY-MM-DD.json``. The
``archive`` source reads days back from a location, which is one of

- a directory of ``YYYY-MM-DD.json`` files (what the pipeline writes);
- a path template with the date, for another tool's layout: ``/exports/{date:%Y/%m/%d}/snapshot.json``;
- an http(s) URL template with the date: ``https://files.example.com/snapshots/{date}.json``.

``{date}`` is the ISO date; ``{date:<strftime format>}`` formats it any other way. Reading a day either
returns the parsed document or raises an ``ArchiveError`` naming the file or URL and what is wrong with it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx

ARCHIVE_FILE = "{date}.json"
HTTP_ATTEMPTS = 3  # httpx's transport retries failed connections; an HTTP answer is final
HTTP_TIMEOUT_SECONDS = 30.0


class ArchiveError(RuntimeError):
    """An archived day cannot be read; the message names the file or URL and the problem."""


def write_snapshot(directory: Path, day: date, document_json: str) -> Path:
    """Write one day's document as ``<directory>/YYYY-MM-DD.json``, replacing an older copy atomically
    (a reader never sees half a file) and durably (fsync before the rename: a live day cannot be re-taken)."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / ARCHIVE_FILE.format(date=day)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        with partial.open("w", encoding="utf-8") as handle:
            handle.write(document_json)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


@dataclass(frozen=True)
class ArchiveLocation:
    """Where the archived documents are: a path or URL template with ``{date}``."""

    template: str

    @classmethod
    def parse(cls, location: str) -> ArchiveLocation:
        """A directory, a path template or an http(s) URL template (see the module docstring)."""
        if not location:
            raise ArchiveError("no archive location: set GROWTH_ARCHIVE_FROM (or GROWTH_ARCHIVE_DIR)")
        is_url = location.startswith(("http://", "https://"))
        if "{date" in location:
            template = location
        elif is_url:
            raise ArchiveError(
                f"the archive URL {location!r} has no {{date}} placeholder, so every day would read the same "
                "document; write it like https://host/snapshots/{date}.json"
            )
        else:
            template = str(Path(location) / ARCHIVE_FILE)
        try:
            template.format(date=date(2000, 1, 31))
        except (KeyError, IndexError, ValueError) as exc:
            raise ArchiveError(
                f"the archive location {location!r} is not a valid template ({type(exc).__name__}: {exc}); "
                "the only placeholder is {date}, optionally with a strftime format such as {date:%Y%m%d}"
            ) from None
        return cls(template)

    @property
    def is_http(self) -> bool:
        return self.template.startswith(("http://", "https://"))

    def where(self, day: date) -> str:
        """The file or URL holding ``day``'s document."""
        return self.template.format(date=day)

    def read(self, day: date) -> Any:
        """``day``'s document, parsed; ArchiveError if it is missing, unreadable or not JSON."""
        where = self.where(day)
        raw = self._get(where, day) if self.is_http else self._open(where, day)
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ArchiveError(f"the archived snapshot {where} is not valid JSON: {exc}") from None

    @staticmethod
    def _open(path: str, day: date) -> bytes:
        try:
            return Path(path).read_bytes()
        except FileNotFoundError:
            raise ArchiveError(f"no archived snapshot for {day.isoformat()}: {path} does not exist") from None
        except OSError as exc:
            raise ArchiveError(f"cannot read the archived snapshot {path}: {exc.strerror or exc}") from None

    @staticmethod
    def _get(url: str, day: date) -> bytes:
        transport = httpx.HTTPTransport(retries=HTTP_ATTEMPTS)
        try:
            with httpx.Client(transport=transport, timeout=HTTP_TIMEOUT_SECONDS, follow_redirects=True) as client:
                response = client.get(url)
        except httpx.HTTPError as exc:
            raise ArchiveError(
                f"could not fetch the archived snapshot {url}: {type(exc).__name__}: {exc or 'no detail'}"
            ) from None
        if response.status_code in (404, 410):
            raise ArchiveError(
                f"no archived snapshot for {day.isoformat()}: GET {url} answered HTTP {response.status_code}"
            )
        if response.status_code >= 400:
            raise ArchiveError(f"GET {url} answered HTTP {response.status_code}: {response.text[:200]!r}")
        return response.content
