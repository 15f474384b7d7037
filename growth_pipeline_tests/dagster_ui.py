"""Driving the real Dagster UI in tests: a `dagster dev` on 127.0.0.1, its GraphQL API, and headless
Chromium over the DevTools protocol (through a pipe: no extra port, no browser-automation package).

Also a script: ``python -m growth_pipeline_tests.dagster_ui docs/asset-lineage.png`` builds five weeks
of the simulated platform in a temporary instance, starts `dagster dev` and screenshots the lineage.
"""

import fcntl
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from base64 import b64decode
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

PROJECT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PORTS = range(3160, 3170)  # this project's UI tests' ports
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-pipe",
]


class UIError(RuntimeError):
    pass


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise UIError(f"no free port in {PORTS.start}-{PORTS.stop - 1} on 127.0.0.1")


def pipeline_env(home: Path, start: str) -> dict[str, str]:
    """A temporary instance (the repository's dagster.yaml) and DuckDB file, from ``start`` (GROWTH_START_DATE)."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PROJECT / "dagster.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GROWTH_", "FLOWFUSE_", "DAGSTER_"))}
    return env | {
        "DAGSTER_HOME": str(home),
        "GROWTH_START_DATE": start,
        "GROWTH_DUCKDB_PATH": str(home / "growth.duckdb"),
        "FRESHNESS_DAEMON_INTERVAL_SECONDS": "5",  # the daemon evaluates freshness policies every 5 s
    }


def build_demo(env: dict[str, str], log: Path) -> float:
    """`growth-pipeline demo` (what `make demo` runs) into the temporary instance; returns seconds taken."""
    started = time.monotonic()
    with log.open("w") as out:
        done = subprocess.run(
            [BIN / "growth-pipeline", "demo"], cwd=PROJECT, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=600
        )
    if done.returncode != 0:
        raise UIError(f"growth-pipeline demo failed ({done.returncode}); its output is in {log}")
    return time.monotonic() - started


def _default_signals() -> None:
    """In the child: Ctrl-C and SIGTERM back to their defaults. A shell's background job (CI, an agent) may
    ignore them, and an ignored SIGINT would leave `dagster dev` no way to shut down cleanly."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _kill_group(process: subprocess.Popen) -> None:
    """Stop a process started in its own session and everything in its process group: Ctrl-C (SIGINT, as
    a terminal sends it to the group), up to 30 s to shut down, then SIGKILL."""
    try:
        os.killpg(process.pid, signal.SIGINT)
    except ProcessLookupError:
        process.wait()
        return
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        process.poll()  # reap the leader
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return  # the whole group is gone
        time.sleep(0.2)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


@contextmanager
def dagster_dev(env: dict[str, str], log: Path) -> Iterator[str]:
    """The real `dagster dev` (webserver and daemon) over the project's workspace; yields its URL and stops
    it, with its code server and daemon, whatever happens."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("w") as out:
        process = subprocess.Popen(
            [BIN / "dagster", "dev", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"],
            cwd=PROJECT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_default_signals,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise UIError(f"dagster dev exited ({process.returncode}); its log is {log}")
            try:
                locations = graphql(url, LOCATIONS)["workspaceOrError"]["locationEntries"]
                if locations and all(e["loadStatus"] == "LOADED" for e in locations):
                    break
            except (httpx.HTTPError, KeyError, TypeError):
                pass
            if time.monotonic() > deadline:
                raise UIError(f"dagster dev did not load the code location within 120 s; its log is {log}")
            time.sleep(1)
        yield url
    finally:
        _kill_group(process)


LOCATIONS = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"


def graphql(url: str, query: str, variables: dict | None = None) -> dict:
    response = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables or {}}, timeout=60)
    response.raise_for_status()
    body = response.json()
    if body.get("errors"):
        raise UIError(f"GraphQL errors: {body['errors']}")
    return body["data"]


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    raise UIError("Chromium is not installed: `apt-get install -y chromium` (the UI tests drive it headless)")


class Chromium:
    """Headless Chromium spoken to over the DevTools protocol on a pipe (fds 3 and 4 in the browser)."""

    def __init__(self, profile: Path, width: int = 2000, height: int = 1150, scale: float = 1.5) -> None:
        to_browser, self._writer = os.pipe()
        self._reader, from_browser = os.pipe()

        def wire_fds():  # the browser reads commands on fd 3 and writes answers on fd 4
            commands, answers = fcntl.fcntl(to_browser, fcntl.F_DUPFD, 10), fcntl.fcntl(from_browser, fcntl.F_DUPFD, 10)
            os.dup2(commands, 3)
            os.dup2(answers, 4)
            _default_signals()

        self.process = subprocess.Popen(
            [chromium_binary(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"],
            preexec_fn=wire_fds,
            pass_fds=(3, 4),  # kept open after preexec_fn; everything else is closed
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        os.close(to_browser)
        os.close(from_browser)
        self._buffer = b""
        self._next_id = 0
        self.width, self.height, self.scale = width, height, scale

    def call(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._writer, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                answer = json.loads(raw)
                if answer.get("id") == self._next_id:
                    if "error" in answer:
                        raise UIError(f"{method}: {answer['error']}")
                    return answer["result"]
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self._reader], [], [], remaining)[0]:
                raise UIError(f"Chromium did not answer {method} within {timeout} s")
            chunk = os.read(self._reader, 1 << 20)
            if not chunk:
                raise UIError("Chromium closed its DevTools pipe")
            self._buffer += chunk

    def open(self, url: str) -> str:
        """A new page at ``url``; returns its session."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        metrics = {"width": self.width, "height": self.height, "deviceScaleFactor": self.scale, "mobile": False}
        self.call("Emulation.setDeviceMetricsOverride", metrics, session)
        self.call("Page.navigate", {"url": url}, session)
        return session

    def evaluate(self, session: str, expression: str):
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session)
        return result["result"].get("value")

    def wait_for(self, session: str, expression: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not self.evaluate(session, expression):
            if time.monotonic() > deadline:
                raise UIError(f"the page never satisfied {expression} within {timeout} s")
            time.sleep(0.5)

    def screenshot(self, session: str) -> bytes:
        return b64decode(self.call("Page.captureScreenshot", {"format": "png"}, session)["data"])

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=10)
        except UIError:
            pass
        finally:
            _kill_group(self.process)
            os.close(self._writer)
            os.close(self._reader)


ASSETS = [
    "raw_snapshot",
    "team_usage",
    "platform_metrics",
    "feature_adoption",
    "weekly_growth",
    "weekly_adoption",
    "team_growth_accounting",
    "product_metrics_dashboard",
]
ALL_SHOWN = " && ".join(f"document.body.innerText.includes('{name}')" for name in ASSETS)
BUTTONS = "(label) => [...document.querySelectorAll('button')].filter(b => b.querySelector(`[aria-label='${label}']`))"
HIDE_NAVIGATION = f"({BUTTONS})('panel_show_right').filter(b => b.innerText.includes('Hide navigation'))[0].click()"
HIDE_SIDEBAR = f"({BUTTONS})('panel_show_right').filter(b => !b.innerText)[0].click()"
EXPAND_ALL_GROUPS = (  # the lineage view's own shortcut, Alt+E
    "document.dispatchEvent(new KeyboardEvent('keydown', {altKey: true, code: 'KeyE', key: 'e', bubbles: true}))"
)
ZOOM_IN = f"({BUTTONS})('zoom_in')[0].click()"
DETAILED = f"document.body.innerText.split('Asset checks').length > {len(ASSETS)}"


@contextmanager
def lineage_page(url: str, profile: Path) -> Iterator[tuple[Chromium, str]]:
    """The global asset lineage, every group expanded, zoomed in until each asset shows its checks."""
    graphql(url, "mutation { setNuxSeen }")  # no "join the community" dialog over the graph
    browser = Chromium(profile)
    try:
        session = browser.open(f"{url}/asset-groups")
        browser.wait_for(session, "document.body.innerText.includes('Hide navigation')")
        browser.evaluate(session, HIDE_NAVIGATION)  # remembered: the graph gets the width when it loads again
        browser.call("Page.navigate", {"url": f"{url}/asset-groups"}, session)
        browser.wait_for(session, "document.body.innerText.includes('Global asset lineage')")
        browser.wait_for(session, "document.body.innerText.includes('ingest')")
        browser.evaluate(session, HIDE_SIDEBAR)
        if browser.evaluate(session, ALL_SHOWN):  # groups expanded last time: collapse them, to lay out again
            browser.evaluate(session, EXPAND_ALL_GROUPS)
            time.sleep(1)
        browser.evaluate(session, EXPAND_ALL_GROUPS)  # laid out now, it fits the graph into the whole width
        browser.wait_for(session, ALL_SHOWN)
        time.sleep(2)  # the graph animates into place
        for _ in range(6):  # zoom in step by step until the nodes are drawn in full, with their checks
            if browser.evaluate(session, DETAILED):
                break
            browser.evaluate(session, ZOOM_IN)
            time.sleep(1)
        browser.wait_for(session, DETAILED)
        time.sleep(1)
        yield browser, session
    finally:
        browser.close()


def main(target: Path) -> None:
    start = (datetime.now(UTC).date() - timedelta(weeks=5)).isoformat()
    with tempfile.TemporaryDirectory(prefix="growth-ui-") as tmp:
        env = pipeline_env(Path(tmp) / "home", start)
        build_demo(env, Path(tmp) / "demo.log")
        with dagster_dev(env, Path(tmp) / "dagster-dev.log") as url, lineage_page(url, Path(tmp) / "chromium") as page:
            browser, session = page
            target.write_bytes(browser.screenshot(session))
    print(f"wrote {target}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else PROJECT / "docs" / "asset-lineage.png")
