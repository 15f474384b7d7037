"""Posting an alert to a webhook with httpx, without ever showing its URL. No Dagster: the alert run
decides about retries (Dagster's RetryRequested); this says whether a failure is worth retrying.

A webhook URL is a secret (a Slack incoming webhook's path is its credential). It is read from the
environment by the caller, and it appears in no message, exception or log record from here: httpx logs
every request URL at INFO on the "httpx" logger, so that logger shows ``<GROWTH_ALERT_WEBHOOK_URL>``
instead while the request runs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import httpx

# The loggers httpx and httpcore write request details to. httpcore's DEBUG records show the host and
# port, not the path; they are filtered too, in case a version shows more.
_HTTP_LOGGERS = ("httpx", "httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy")


class WebhookError(Exception):
    """Delivery failed. The message names the environment variable, never the URL; ``retryable`` says
    whether another attempt may succeed (connection errors, timeouts, 5xx, 429) or not (4xx, a bad URL)."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class _HideURL(logging.Filter):
    """Rewrites log records that contain the URL (or its host) to show a label instead."""

    def __init__(self, secrets: list[str], label: str) -> None:
        super().__init__()
        self.secrets, self.label = secrets, label

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(secret in message for secret in self.secrets):
            for secret in self.secrets:
                message = message.replace(secret, self.label)
            record.msg, record.args = message, ()
        return True


@contextmanager
def _hidden_from_logs(url: str, label: str) -> Iterator[None]:
    parts = urlsplit(url)
    # The whole URL first, then the parts a log line might show on their own.
    secrets = [s for s in (url, url.split("?")[0], parts.netloc + parts.path) if s]
    hide = _HideURL(secrets, label)
    loggers = [logging.getLogger(name) for name in _HTTP_LOGGERS]
    for logger in loggers:
        logger.addFilter(hide)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(hide)


def post_json(url: str, body: dict, *, variable: str, timeout: float) -> int:
    """POST ``body`` as JSON to ``url`` (held in the environment variable ``variable``); returns the
    HTTP status. Raises WebhookError, whose message names ``variable`` and never contains the URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookError(f"{variable} is not an http(s) URL", retryable=False)
    label = f"<{variable}>"
    with _hidden_from_logs(url, label):
        try:
            with httpx.Client(timeout=timeout) as client:
                response = client.post(url, json=body)
        except httpx.TimeoutException:
            raise WebhookError(
                f"the webhook in {variable} did not answer within {timeout:g} s", retryable=True
            ) from None
        except httpx.HTTPError as exc:  # connection refused, DNS, TLS, protocol errors
            detail = str(exc).replace(url, label) or type(exc).__name__
            raise WebhookError(f"could not reach the webhook in {variable}: {detail}", retryable=True) from None
        except httpx.InvalidURL:
            raise WebhookError(f"{variable} is not a valid URL", retryable=False) from None
    if response.is_success:
        return response.status_code
    answer = f"the webhook in {variable} answered HTTP {response.status_code} {response.reason_phrase}"
    text = response.text.strip().replace(url, label)[:200]
    if text:
        answer += f": {text}"
    retryable = response.status_code >= 500 or response.status_code == 429
    raise WebhookError(answer if retryable else f"{answer} (check the URL in {variable})", retryable=retryable)
