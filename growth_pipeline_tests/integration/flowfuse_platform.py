"""A real FlowFuse platform on 127.0.0.1 for the live integration test: installed from npm, started with SQLite
and the in-memory ``stub`` driver, set up and seeded through FlowFuse's own HTTP API.

The install (``@flowfuse/flowfuse``, pinned with its lock file in ``flowfuse_npm/``) takes minutes because
sqlite3 and bcrypt compile from source, so it is cached outside the repository, in
``${XDG_CACHE_HOME:-~/.cache}/growth_pipeline/flowfuse-<version>-<lock hash>``, and reused by every later run.
Nothing here talks to anything but the npm registry (through npm) and 127.0.0.1.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

PACKAGE_DIR = Path(__file__).parent / "flowfuse_npm"
FLOWFUSE_VERSION = json.loads((PACKAGE_DIR / "package.json").read_text())["dependencies"]["@flowfuse/flowfuse"]
NATIVE_MODULES = ("sqlite3", "bcrypt")  # the only install scripts FlowFuse needs; both compile from source
INSTALL_TIMEOUT_SECONDS = 30 * 60
START_TIMEOUT_SECONDS = 120
INSTALL_HINT = (
    "Install Node.js 18 or newer with npm (Debian/Ubuntu: `apt-get install nodejs npm`; or https://nodejs.org), "
    "then run `make test` again"
)


class PlatformUnavailable(RuntimeError):
    """The live FlowFuse platform cannot be installed or started here; the message says what to install or fix."""


# ------------------------------------------------------------------------------------- install


@dataclass(frozen=True)
class NodeTools:
    node: str
    npm: str
    version: tuple[int, ...]

    @property
    def headers_dir(self) -> Path:
        """Where Node's C headers are (node-gyp needs them to compile; without them it would download them)."""
        return Path(self.node).resolve().parent.parent


def node_tools(search_path: str | None = None) -> NodeTools:
    """Node.js and npm from PATH, or PlatformUnavailable naming what is missing."""
    node, npm = shutil.which("node", path=search_path), shutil.which("npm", path=search_path)
    missing = [name for name, found in (("node", node), ("npm", npm)) if not found]
    if missing:
        raise PlatformUnavailable(
            f"the live FlowFuse integration test needs {' and '.join(missing)}, not found on PATH. {INSTALL_HINT}."
        )
    output = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    version = tuple(int(part) for part in re.findall(r"\d+", output)[:3])
    if version < (18,):
        raise PlatformUnavailable(
            f"FlowFuse {FLOWFUSE_VERSION} needs Node.js 18 or newer; {node} is {output}. {INSTALL_HINT}."
        )
    return NodeTools(node=node, npm=npm, version=version)


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "growth_pipeline"


def install_dir() -> Path:
    """The cached install for this exact lock file: a changed lock gets a fresh install."""
    lock_hash = hashlib.sha256((PACKAGE_DIR / "package-lock.json").read_bytes()).hexdigest()[:12]
    return cache_root() / f"flowfuse-{FLOWFUSE_VERSION}-{lock_hash}"


def install_flowfuse(tools: NodeTools) -> Path:
    """FlowFuse's package directory, installing it into the cache first if it is not there yet.

    ``npm ci`` installs exactly the locked tree with install scripts off (some would download binaries from
    hosts other than the registry); then only sqlite3 and bcrypt are rebuilt, from source, against the local
    Node headers. The install is built in a staging directory and renamed into place when complete, under a
    file lock, so an interrupted or concurrent install never leaves a half-installed cache behind."""
    target = install_dir()
    if (target / ".complete").exists():
        return target / "node_modules" / "@flowfuse" / "flowfuse"
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target.parent / f"{target.name}.lock"):
        if not (target / ".complete").exists():
            _install_into(target, tools)
    return target / "node_modules" / "@flowfuse" / "flowfuse"


def _install_into(target: Path, tools: NodeTools) -> None:
    missing = [tool for tool in ("make", "g++", "python3") if not shutil.which(tool)]
    if missing:
        raise PlatformUnavailable(
            f"installing FlowFuse compiles sqlite3 and bcrypt, which needs {', '.join(missing)} "
            "(Debian/Ubuntu: `apt-get install build-essential python3`)"
        )
    if not (tools.headers_dir / "include" / "node" / "node.h").exists():
        raise PlatformUnavailable(
            f"installing FlowFuse compiles native modules against Node's headers, which are not in "
            f"{tools.headers_dir / 'include' / 'node'} (Debian/Ubuntu: `apt-get install libnode-dev`)"
        )
    staging = target.with_name(f"{target.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(PACKAGE_DIR / name, staging / name)
    env = {
        **os.environ,
        "npm_config_nodedir": str(tools.headers_dir),
        "npm_config_build_from_source": "true",
        "npm_config_update_notifier": "false",
        "npm_config_fund": "false",
        "npm_config_audit": "false",
    }
    log = staging / "npm-install.log"
    steps = [
        [tools.npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
        [tools.npm, "rebuild", *NATIVE_MODULES],
        [tools.node, "-e", "".join(f"require('{module}');" for module in NATIVE_MODULES)],
    ]
    with log.open("wb") as output:
        for step in steps:
            output.write(f"$ {' '.join(step)}\n".encode())
            output.flush()
            try:
                done = subprocess.run(
                    step, cwd=staging, env=env, stdout=output, stderr=subprocess.STDOUT, timeout=INSTALL_TIMEOUT_SECONDS
                )
            except subprocess.TimeoutExpired:
                raise PlatformUnavailable(
                    f"`{' '.join(step[1:3])}` took over {INSTALL_TIMEOUT_SECONDS}s; see {log}"
                ) from None
            if done.returncode != 0:
                raise PlatformUnavailable(
                    f"installing FlowFuse {FLOWFUSE_VERSION} failed at `{' '.join(step[1:3])}` "
                    f"(exit {done.returncode}); the end of {log}:\n{_tail(log)}"
                )
    (staging / ".complete").write_text(f"@flowfuse/flowfuse {FLOWFUSE_VERSION}\n")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# ------------------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class FlowFuseServer:
    """One FlowFuse process: SQLite in ``home/var``, the stub driver, bound to 127.0.0.1 on a free port."""

    package: Path
    home: Path
    node: str
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.home / "forge.log"

    def start(self) -> None:
        (self.home / "etc").mkdir(parents=True, exist_ok=True)
        (self.home / "var").mkdir(exist_ok=True)
        (self.home / "etc" / "flowforge.yml").write_text(
            "\n".join(
                [
                    "host: 127.0.0.1",
                    f"port: {self.port}",
                    f"base_url: {self.base_url}",
                    "db: {type: sqlite, storage: forge.db}",
                    "driver: {type: stub}",
                    "telemetry: {enabled: false}",
                    "email: {enabled: false}",
                    "rate_limits: {enabled: false}",
                    "logging: {level: info}",
                ]
            )
            + "\n"
        )
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                [self.node, str(self.package / "forge" / "app.js")],
                cwd=self.home,
                env={**os.environ, "FLOWFORGE_HOME": str(self.home)},
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while "Server listening at" not in self.log.read_text(errors="replace"):
            if self.process.poll() is not None:
                raise PlatformUnavailable(
                    f"FlowFuse exited with code {self.process.returncode} while starting; the end of {self.log}:\n"
                    f"{_tail(self.log)}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise PlatformUnavailable(f"FlowFuse did not start within {START_TIMEOUT_SECONDS}s; see {self.log}")
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL after 15 s); safe to call more than once."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# ------------------------------------------------------------------------------------- the API


class FlowFuseHTTP:
    """A thin httpx client for setting up and seeding the platform; any refusal fails loudly with the body."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=30)

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        response = self.http.request(method, path, json=body, headers=headers)
        if response.status_code >= 400:
            raise RuntimeError(f"FlowFuse answered {method} {path} with HTTP {response.status_code}: {response.text}")
        return response.json() if response.content else None

    def close(self) -> None:
        self.http.close()


def first_run_setup(base_url: str, username: str, password: str) -> None:
    """What the /setup page does: create the admin user, apply settings, finish (each with the CSRF token)."""
    setup = FlowFuseHTTP(base_url)
    try:
        page = setup.http.get("/setup")
        found = re.search(r'SETUP_CSRF_TOKEN\s*=\s*"([^"]+)"', page.text)
        if page.status_code != 200 or not found:
            raise RuntimeError(f"GET /setup answered HTTP {page.status_code} without a SETUP_CSRF_TOKEN")
        csrf = {"x-csrf-token": found.group(1)}
        setup.call(
            "POST",
            "/setup/create-user",
            {"name": "Platform Admin", "username": username, "password": password, "email": f"{username}@example.com"},
            csrf,
        )
        setup.call("POST", "/setup/settings", {"telemetry": False}, csrf)
        setup.call("POST", "/setup/finish", {}, csrf)
    finally:
        setup.close()


@contextmanager
def logged_in(base_url: str, username: str, password: str) -> Iterator[FlowFuseHTTP]:
    """A session as ``username`` (the ``sid`` cookie), as the browser UI would have."""
    session = FlowFuseHTTP(base_url)
    try:
        session.call("POST", "/account/login", {"username": username, "password": password})
        yield session
    finally:
        session.close()


def create_admin_token(session: FlowFuseHTTP, name: str) -> str:
    """An admin's personal access token (``ffpat_...``), with admin rights opted in: reads the team list."""
    return session.call("POST", "/api/v1/user/tokens", {"name": name, "scope": "", "adminOptIn": True})["token"]


def create_stats_token(session: FlowFuseHTTP) -> str:
    """The platform's stats-only token (``ffu_...``, scope platform:stats): reads /api/v1/admin/stats only."""
    return session.call("POST", "/api/v1/admin/stats-token", {})["token"]


class PlatformAdmin(FlowFuseHTTP):
    """Seeding and changing the platform through its REST API, as the admin (with the admin token)."""

    def team_type(self, name: str) -> dict[str, Any]:
        types = self.call("GET", "/api/v1/team-types")["types"]
        return next(t for t in types if t["name"] == name)

    def create_team_type(self, name: str, like: dict[str, Any]) -> dict[str, Any]:
        """A team type with the same allowances (instance types, devices) as ``like``."""
        body = {"name": name, "description": f"{name} tier", "active": True, "properties": like["properties"]}
        return self.call("POST", "/api/v1/team-types", body)

    def create_user(self, username: str, name: str, password: str) -> dict[str, Any]:
        body = {"username": username, "name": name, "password": password, "email": f"{username}@example.com"}
        return self.call("POST", "/api/v1/users", body)

    def create_team(self, name: str, team_type: dict[str, Any]) -> dict[str, Any]:
        return self.call("POST", "/api/v1/teams", {"name": name, "slug": name.lower(), "type": team_type["id"]})

    def delete_team(self, team_id: str) -> None:
        self.call("DELETE", f"/api/v1/teams/{team_id}")

    def invite(self, team_id: str, username: str) -> None:
        self.call("POST", f"/api/v1/teams/{team_id}/invitations", {"user": username})

    def create_instance(self, team_id: str, name: str) -> dict[str, Any]:
        """A hosted Node-RED instance (in a new application) of the first instance type, stack and template."""
        application = self.call("POST", "/api/v1/applications", {"name": f"{name}-app", "teamId": team_id})
        body = {
            "name": name,
            "applicationId": application["id"],
            "projectType": self.call("GET", "/api/v1/project-types")["types"][0]["id"],
            "stack": self.call("GET", "/api/v1/stacks")["stacks"][0]["id"],
            "template": self.call("GET", "/api/v1/templates")["templates"][0]["id"],
        }
        return self.call("POST", "/api/v1/projects", body)

    def suspend_instance(self, instance_id: str) -> None:
        self.call("POST", f"/api/v1/projects/{instance_id}/actions/suspend", {})

    def create_device(self, team_id: str, name: str) -> dict[str, Any]:
        """An edge device; the answer carries its own credentials (``credentials.token``)."""
        return self.call("POST", "/api/v1/devices", {"name": name, "type": "gateway", "team": team_id})

    def device_checks_in(self, device: dict[str, Any]) -> None:
        """What the device agent does every few seconds: report its state with its own token."""
        agent = FlowFuseHTTP(str(self.http.base_url), device["credentials"]["token"])
        try:
            agent.call("POST", f"/api/v1/devices/{device['id']}/live/state", {"state": "running", "snapshot": None})
        finally:
            agent.close()


def accept_invitations(base_url: str, username: str, password: str) -> None:
    """Log in as ``username`` and accept every pending team invitation."""
    with logged_in(base_url, username, password) as session:
        for invitation in session.call("GET", "/api/v1/user/invitations")["invitations"]:
            session.call("PATCH", f"/api/v1/user/invitations/{invitation['id']}", {})
