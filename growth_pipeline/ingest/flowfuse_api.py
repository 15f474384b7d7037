"""An httpx client for the FlowFuse admin API, shared by the live source and the simulated demo.

It knows the API facts of DESIGN.md section 2: bearer tokens, cursor paging whose last page may be
empty, fields that come and go by version. It retries what is worth retrying (connection errors, 5xx,
429 with Retry-After) and turns everything else into a ``FlowFuseAPIError`` that says what went wrong
and what to do, naming the token's environment variable but never the token.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Iterator
from typing import Any

import httpx

RETRYABLE_STATUS = {429, 500, 502, 503, 504}
MAX_RETRY_AFTER_SECONDS = 60.0


class FlowFuseAPIError(RuntimeError):
    """A request to the FlowFuse API failed in a way a person has to act on."""


class FlowFuseClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        token_variable: str = "FLOWFUSE_TOKEN",
        transport: httpx.BaseTransport | None = None,
        timeout_seconds: float = 30.0,
        attempts: int = 4,
        backoff_seconds: float = 0.5,
        page_size: int = 100,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not token:
            raise FlowFuseAPIError(f"no FlowFuse token: set the environment variable {token_variable}")
        self.base_url = base_url.rstrip("/")
        self.token_variable = token_variable
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        self.page_size = page_size
        self._sleep = sleep
        self._token = token
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=timeout_seconds,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> FlowFuseClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --------------------------------------------------------------------------- endpoints

    def admin_stats(self) -> dict[str, Any]:
        """``GET /api/v1/admin/stats``: platform-wide counts (fields vary by version and license)."""
        body = self.get_json("/api/v1/admin/stats")
        if not isinstance(body, dict):
            raise FlowFuseAPIError(f"GET /api/v1/admin/stats on {self.base_url}: expected a JSON object")
        return body

    def teams(self) -> list[dict[str, Any]]:
        """Every team, walking ``GET /api/v1/teams`` by cursor until a page carries no ``next_cursor``."""
        return list(self._iter_teams())

    def _iter_teams(self) -> Iterator[dict[str, Any]]:
        seen_cursors: set[str] = set()
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": self.page_size}
            if cursor is not None:
                params["cursor"] = cursor
            page = self.get_json("/api/v1/teams", params=params)
            if not isinstance(page, dict) or not isinstance(page.get("teams"), list):
                raise FlowFuseAPIError(f"GET /api/v1/teams on {self.base_url}: expected an object with a 'teams' list")
            yield from page["teams"]
            cursor = (page.get("meta") or {}).get("next_cursor")
            if cursor is None:
                return
            if cursor in seen_cursors:
                raise FlowFuseAPIError(
                    f"GET /api/v1/teams on {self.base_url}: the cursor {cursor!r} came back a second time; "
                    "stopping instead of paging forever (is a proxy caching the team list?)"
                )
            seen_cursors.add(cursor)

    def team(self, team_id: str) -> dict[str, Any]:
        """``GET /api/v1/teams/:id``: one team, with counters the list lacks in some versions."""
        return self.get_json(f"/api/v1/teams/{team_id}")

    # --------------------------------------------------------------------------- transport

    def get_json(self, path: str, params: dict[str, Any] | None = None, *, none_for: Collection[int] = ()) -> Any:
        """GET ``path`` and decode JSON, retrying transient failures; None for a status in ``none_for``."""
        response = self._get_with_retries(path, params)
        if response.status_code in none_for:
            return None
        self._raise_for_status(path, response)
        content_type = response.headers.get("content-type", "")
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            snippet = self._scrub(response.text[:80]).replace("\n", " ")
            raise FlowFuseAPIError(
                f"GET {path} on {self.base_url} answered HTTP {response.status_code} with "
                f"{content_type or 'no content type'}, not JSON (it starts: {snippet!r}). "
                "Is the base URL the FlowFuse platform itself, not a login page or proxy?"
            ) from None

    def _get_with_retries(self, path: str, params: dict[str, Any] | None) -> httpx.Response:
        last_problem = ""
        for attempt in range(1, self.attempts + 1):
            try:
                response = self._http.get(path, params=params)
            except httpx.TransportError as exc:
                last_problem = f"{type(exc).__name__}: {self._scrub(str(exc)) or 'no detail'}"
                delay = self.backoff_seconds * 2 ** (attempt - 1)
            else:
                if response.status_code not in RETRYABLE_STATUS:
                    return response
                last_problem = f"HTTP {response.status_code}"
                delay = self._retry_after(response) or self.backoff_seconds * 2 ** (attempt - 1)
            if attempt < self.attempts:
                self._sleep(delay)
        raise FlowFuseAPIError(
            f"GET {path} on {self.base_url} failed {self.attempts} times; last problem: {last_problem}. "
            "Is the platform up and reachable from here?"
        )

    @staticmethod
    def _retry_after(response: httpx.Response) -> float | None:
        value = response.headers.get("retry-after")
        try:
            return min(float(value), MAX_RETRY_AFTER_SECONDS) if value is not None else None
        except ValueError:
            return None  # an HTTP date; fall back to exponential backoff

    def _raise_for_status(self, path: str, response: httpx.Response) -> None:
        status = response.status_code
        if status in (401, 403):
            what = "rejected" if status == 401 else "refused (the token lacks the rights for this endpoint)"
            raise FlowFuseAPIError(
                f"FlowFuse {what} the token in ${self.token_variable}: HTTP {status} on GET {path} "
                f"at {self.base_url}. The team list needs an admin user's personal access token "
                "(POST /api/v1/user/tokens as an admin); a stats-only token (ffu_...) reads only "
                "/api/v1/admin/stats."
            )
        if status >= 400:
            raise FlowFuseAPIError(
                f"GET {path} on {self.base_url} answered HTTP {status}: {self._scrub(response.text[:200])!r}"
            )

    def _scrub(self, text: str) -> str:
        """Never let the token reach an error message, whatever a server or proxy echoes back."""
        return text.replace(self._token, "***")
