"""Headless Chromium (Debian's ``chromium``) driven over the Chrome DevTools Protocol, to check pages as a
person would see them: what loads, what the console says, what a typed input shows, and screenshots.

The protocol runs over a pipe (``--remote-debugging-pipe``: file descriptors 3 and 4 of the browser,
messages separated by NUL bytes), so there is no port to bind and no websocket library to add.

    python -m growth_pipeline_tests.browser screenshot data/product_metrics_dashboard.html docs/dashboard.png
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

INSTALL_HINT = "headless Chromium is needed to check pages as a person would: apt-get install chromium"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
)


class BrowserError(RuntimeError):
    """Chromium is missing, did not answer, or a protocol command failed."""


def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        raise BrowserError(f"chromium is not installed; {INSTALL_HINT}")
    return path


class Chromium:
    """One headless Chromium with a fresh profile; a context manager that always ends the browser."""

    def __init__(self, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self.events: list[dict] = []
        self._next_id = 0
        self._buffer = b""
        self._profile = tempfile.mkdtemp(prefix="growth-chromium-")
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()
        # The browser reads commands on fd 3 and writes answers on fd 4: bash maps our pipe ends there (dash
        # cannot: it takes single-digit descriptors only).
        mapping = f'exec "$0" "$@" 3<&{to_browser_read} 4>&{from_browser_write}'
        self.process = subprocess.Popen(
            ["/bin/bash", "-c", mapping, chromium_path(), *FLAGS, f"--user-data-dir={self._profile}", "about:blank"],
            pass_fds=(to_browser_read, from_browser_write),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_read)
        os.close(from_browser_write)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *_) -> None:
        self.close()

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(BrowserError):
                self.send("Browser.close", timeout=5)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for fd in (self._to_browser, self._from_browser):
            with contextlib.suppress(OSError):
                os.close(fd)
        shutil.rmtree(self._profile, ignore_errors=True)

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout=None) -> dict:
        """Run one protocol command and return its result; events that arrive meanwhile go to ``events``."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        try:
            os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        except BrokenPipeError:
            raise BrowserError(f"chromium exited (status {self.process.poll()}) before {method}") from None
        answer = self._read_until(lambda m: m.get("id") == self._next_id, timeout or self.timeout, method)
        if "error" in answer:
            raise BrowserError(f"{method} failed: {answer['error'].get('message')}")
        return answer.get("result", {})

    def wait_for(self, event: str, session: str | None = None, timeout: float | None = None) -> dict:
        """The next (or an already received) ``event`` of ``session``."""
        for i, message in enumerate(self.events):
            if message.get("method") == event and message.get("sessionId") == session:
                return self.events.pop(i)["params"]
        found = self._read_until(
            lambda m: m.get("method") == event and m.get("sessionId") == session, timeout or self.timeout, event
        )
        self.events.remove(found)
        return found["params"]

    def _read_until(self, wanted, timeout: float, what: str) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "id" not in message:
                    self.events.append(message)
                if wanted(message):
                    return message
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrowserError(f"chromium did not answer {what} within {timeout:g} s")
            readable, _, _ = select.select([self._from_browser], [], [], remaining)
            if readable:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise BrowserError(f"chromium exited (status {self.process.poll()}) while waiting for {what}")
                self._buffer += chunk


class Page:
    """A tab, with everything it logged, threw or requested recorded."""

    def __init__(self, browser: Chromium, width: int = 1280, height: int = 900, scale: float = 1) -> None:
        self.browser = browser
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.command(f"{domain}.enable")
        self.command(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": scale, "mobile": False},
        )

    def command(self, method: str, params: dict | None = None) -> dict:
        return self.browser.send(method, params, session=self.session)

    def open(self, url: str, offline: bool = True) -> None:
        """Load ``url`` and wait for its load event; ``offline``: as with no network at all."""
        if offline:
            self.command(
                "Network.emulateNetworkConditions",
                {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
            )
        self.command("Page.navigate", {"url": url})
        self.browser.wait_for("Page.loadEventFired", self.session)

    def _mine(self, method: str) -> list[dict]:
        return [
            e["params"] for e in self.browser.events if e.get("sessionId") == self.session and e["method"] == method
        ]

    def console_problems(self) -> list[str]:
        """Console errors and warnings, uncaught exceptions and browser log errors (a blocked request, a
        refused resource), as text."""
        problems = [
            f"console.{c['type']}: " + " ".join(str(a.get("value", a.get("description"))) for a in c["args"])
            for c in self._mine("Runtime.consoleAPICalled")
            if c["type"] in ("error", "assert", "warning")
        ]
        for thrown in self._mine("Runtime.exceptionThrown"):
            details = thrown["exceptionDetails"]
            problems.append(f"uncaught: {details.get('exception', {}).get('description') or details['text']}")
        problems += [
            f"log {e['entry']['level']}: {e['entry']['text']} {e['entry'].get('url', '')}".strip()
            for e in self._mine("Log.entryAdded")
            if e["entry"]["level"] in ("error", "warning")
        ]
        return problems

    def requested_urls(self) -> list[str]:
        return [e["request"]["url"] for e in self._mine("Network.requestWillBeSent")]

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page; a thrown error raises BrowserError."""
        result = self.command("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise BrowserError(f"{expression!r} threw: {details.get('exception', {}).get('description', details)}")
        return result["result"].get("value")

    def wait_until(self, expression: str, timeout: float = 60) -> None:
        """Poll a JavaScript expression until it is truthy: for pages that keep rendering after their load
        event (the Dagster UI is a single-page app)."""
        deadline = time.monotonic() + timeout
        while not self.evaluate(expression):
            if time.monotonic() > deadline:
                raise BrowserError(f"the page never satisfied {expression} within {timeout:g} s")
            time.sleep(0.5)

    def text(self, selector: str) -> str:
        return self.evaluate(f"document.querySelector({json.dumps(selector)}).textContent.trim()")

    def type(self, selector: str, text: str) -> None:
        """Focus the field, clear it, and type ``text`` as a person would (input events fire)."""
        self.evaluate(f"(e => {{ e.focus(); e.select(); }})(document.querySelector({json.dumps(selector)}))")
        self.command("Input.dispatchKeyEvent", {"type": "keyDown", "key": "Backspace", "code": "Backspace"})
        self.command("Input.dispatchKeyEvent", {"type": "keyUp", "key": "Backspace", "code": "Backspace"})
        for character in text:
            self.command("Input.insertText", {"text": character})

    def click(self, selector: str) -> None:
        """A real mouse click in the middle of the element (scrolled into view)."""
        box = self.evaluate(
            f"(e => {{ e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect();"
            f" return [r.x + r.width / 2, r.y + r.height / 2]; }})(document.querySelector({json.dumps(selector)}))"
        )
        for kind in ("mousePressed", "mouseReleased"):
            self.command(
                "Input.dispatchMouseEvent", {"type": kind, "x": box[0], "y": box[1], "button": "left", "clickCount": 1}
            )

    def screenshot(self, path: Path | None = None, height: int | None = None) -> bytes:
        """A PNG of the page from the top: ``height`` CSS pixels of it, or all of it; written to ``path`` if given."""
        content = self.command("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": content["width"], "height": height or content["height"], "scale": 1}
        shot = self.command("Page.captureScreenshot", {"format": "png", "clip": clip, "captureBeyondViewport": True})
        png = base64.b64decode(shot["data"])
        if path is not None:
            Path(path).write_bytes(png)
        return png


def main() -> None:
    parser = argparse.ArgumentParser(description="Screenshot a local HTML file in headless Chromium.")
    commands = parser.add_subparsers(dest="command", required=True)
    shot = commands.add_parser("screenshot")
    shot.add_argument("html", type=Path)
    shot.add_argument("png", type=Path)
    shot.add_argument("--width", type=int, default=1280)
    shot.add_argument("--height", type=int, help="CSS pixels from the top (default: the whole page)")
    args = parser.parse_args()
    with Chromium() as browser:
        page = Page(browser, width=args.width)
        page.open(args.html.resolve().as_uri())
        page.screenshot(args.png, args.height)
        if problems := page.console_problems():
            raise SystemExit("the page logged problems:\n" + "\n".join(problems))
    print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
