"""Driving the real Dagster UI in tests: a `dagster dev` on 127.0.0.1, its GraphQL API, and its pages in
headless Chromium (``browser.py``).

Also a script: ``python -m growth_pipeline_tests.dagster_ui docs/asset-lineage.png`` builds five weeks
of the simulated platform in a temporary instance, starts `dagster dev` and screenshots the lineage.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from growth_pipeline_tests.browser import Chromium, Page

PROJECT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PORTS = range(3160, 3170)  # this project's UI tests' ports


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
def lineage_page(url: str) -> Iterator[Page]:
    """The global asset lineage, every group expanded, zoomed in until each asset shows its checks."""
    graphql(url, "mutation { setNuxSeen }")  # no "join the community" dialog over the graph
    with Chromium() as browser:
        page = Page(browser, width=2000, height=1150, scale=1.5)
        page.open(f"{url}/asset-groups", offline=False)
        page.wait_until("document.body.innerText.includes('Hide navigation')")
        page.evaluate(HIDE_NAVIGATION)  # remembered: the graph gets the width when it loads again
        page.open(f"{url}/asset-groups", offline=False)
        page.wait_until("document.body.innerText.includes('Global asset lineage')")
        page.wait_until("document.body.innerText.includes('ingest')")
        page.evaluate(HIDE_SIDEBAR)
        if page.evaluate(ALL_SHOWN):  # groups expanded last time: collapse them, to lay out again
            page.evaluate(EXPAND_ALL_GROUPS)
            time.sleep(1)
        page.evaluate(EXPAND_ALL_GROUPS)  # laid out now, it fits the graph into the whole width
        page.wait_until(ALL_SHOWN)
        time.sleep(2)  # the graph animates into place
        for _ in range(6):  # zoom in step by step until the nodes are drawn in full, with their checks
            if page.evaluate(DETAILED):
                break
            page.evaluate(ZOOM_IN)
            time.sleep(1)
        page.wait_until(DETAILED)
        time.sleep(1)
        yield page


def main(target: Path) -> None:
    start = (datetime.now(UTC).date() - timedelta(weeks=5)).isoformat()
    with tempfile.TemporaryDirectory(prefix="growth-ui-") as tmp:
        env = pipeline_env(Path(tmp) / "home", start)
        build_demo(env, Path(tmp) / "demo.log")
        with dagster_dev(env, Path(tmp) / "dagster-dev.log") as url, lineage_page(url) as page:
            page.screenshot(target, height=1150)
    print(f"wrote {target}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else PROJECT / "docs" / "asset-lineage.png")
