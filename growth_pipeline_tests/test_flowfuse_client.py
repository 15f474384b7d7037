"""The FlowFuse client's failure handling: retries, auth errors, bodies that are not JSON, cursor loops."""

import logging

import httpx
import pytest

from growth_pipeline.ingest.flowfuse_api import FlowFuseAPIError, FlowFuseClient

from .conftest import local_http_server

SECRET = "ffpat_do_not_leak_me"


def client_for(handler, sleeps: list[float] | None = None, **kwargs) -> FlowFuseClient:
    recorded = sleeps if sleeps is not None else []
    return FlowFuseClient(
        "http://flowfuse.test", SECRET, transport=httpx.MockTransport(handler), sleep=recorded.append, **kwargs
    )


def test_retries_5xx_with_exponential_backoff_then_succeeds():
    answers = iter([503, 502, 200])
    sleeps = []

    def handler(request):
        status = next(answers)
        return httpx.Response(status, json={"teamCount": 3} if status == 200 else {"error": "busy"})

    assert client_for(handler, sleeps).admin_stats() == {"teamCount": 3}
    assert sleeps == [0.5, 1.0]


def test_429_honours_retry_after():
    answers = iter([httpx.Response(429, headers={"retry-after": "7"}), httpx.Response(200, json={"teamCount": 1})])
    sleeps = []
    assert client_for(lambda request: next(answers), sleeps).admin_stats() == {"teamCount": 1}
    assert sleeps == [7.0]


def test_gives_up_after_the_last_attempt_and_says_what_happened():
    sleeps = []
    with pytest.raises(FlowFuseAPIError, match=r"failed 4 times; last problem: HTTP 500"):
        client_for(lambda request: httpx.Response(500, text="boom"), sleeps).admin_stats()
    assert sleeps == [0.5, 1.0, 2.0]


def test_connection_errors_are_retried():
    calls = []

    def handler(request):
        calls.append(request)
        raise httpx.ConnectError("connection refused")

    with pytest.raises(FlowFuseAPIError, match="ConnectError: connection refused.*reachable"):
        client_for(handler).admin_stats()
    assert len(calls) == 4


def test_401_names_the_variable_and_never_the_token(caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(FlowFuseAPIError) as error:
        client_for(lambda r: httpx.Response(401, json={"error": "unauthorized"}), token_variable="FF_ADMIN").teams()
    assert "rejected the token in $FF_ADMIN: HTTP 401 on GET /api/v1/teams" in str(error.value)
    assert SECRET not in str(error.value)
    assert SECRET not in caplog.text


def test_a_server_echoing_the_token_does_not_leak_it():
    with pytest.raises(FlowFuseAPIError) as error:
        client_for(lambda r: httpx.Response(400, text=f"bad header Bearer {SECRET}")).admin_stats()
    assert SECRET not in str(error.value) and "***" in str(error.value)


def test_an_html_page_is_a_clear_error():
    html = "<!DOCTYPE html><html><body>Sign in</body></html>"
    with pytest.raises(FlowFuseAPIError, match=r"text/html, not JSON \(it starts: '<!DOCTYPE html>"):
        client_for(lambda r: httpx.Response(200, text=html, headers={"content-type": "text/html"})).admin_stats()


def test_a_repeating_cursor_stops_instead_of_paging_forever():
    page = {"meta": {"next_cursor": "abc"}, "count": 1, "teams": [{"id": "t1"}]}
    with pytest.raises(FlowFuseAPIError, match="cursor 'abc' came back a second time"):
        client_for(lambda r: httpx.Response(200, json=page)).teams()


def test_a_missing_token_says_which_variable_to_set():
    with pytest.raises(FlowFuseAPIError, match="set the environment variable FLOWFUSE_TOKEN"):
        FlowFuseClient("http://flowfuse.test", "")


def test_401_from_a_real_server_on_loopback(caplog):
    """The same over a real socket: the token goes out in the header and comes back in no message or log."""
    seen_headers = []

    def handle(request):
        seen_headers.append(request.headers.get("Authorization"))
        body = b'{"code":"unauthorized","error":"unauthorized"}'
        request.send_response(401)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    caplog.set_level(logging.DEBUG)
    with (
        local_http_server(handle) as url,
        FlowFuseClient(url, SECRET) as client,
        pytest.raises(FlowFuseAPIError) as error,
    ):
        client.admin_stats()
    assert seen_headers == [f"Bearer {SECRET}"]
    assert "$FLOWFUSE_TOKEN" in str(error.value) and SECRET not in str(error.value)
    assert SECRET not in caplog.text
