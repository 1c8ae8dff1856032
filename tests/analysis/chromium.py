"""Open an HTML file in headless Chromium and measure it as a reader sees it, through the DevTools protocol
over a pipe (``--remote-debugging-pipe``: JSON messages ending in NUL on file descriptors 3 and 4), so no
driver, port or extra package is needed.

``inspect(path)`` returns the page's width against the window's, every console message and uncaught
exception, the images that did not load, the table-of-contents links whose target is missing, and
optionally a full-page screenshot.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
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

# Evaluated in the page after its load event: the numbers the report's browser checks assert.
CHECK = """(() => {
  const doc = document.documentElement;
  const images = [...document.images];
  const toc = [...document.querySelectorAll('nav a[href^="#"]')];
  return {
    page_width: Math.max(doc.scrollWidth, document.body.scrollWidth),
    window_width: window.innerWidth,
    page_height: doc.scrollHeight,
    images: images.length,
    broken_images: images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt),
    toc_links: toc.length,
    dangling_links: toc.map(a => a.getAttribute('href')).filter(h => !document.getElementById(h.slice(1))),
    headings: [...document.querySelectorAll('h2')].map(h => h.textContent.trim()),
    first_table_top: (document.querySelector('table') || {getBoundingClientRect: () => ({top: -1})})
      .getBoundingClientRect().top + window.scrollY,
    summary_top: (document.getElementById('summary') || {getBoundingClientRect: () => ({top: -1})})
      .getBoundingClientRect().top + window.scrollY,
    summary_text: (document.getElementById('summary') || {innerText: ''}).innerText,
  };
})()"""


@dataclass
class PageCheck:
    """What ``CHECK`` measured, plus the console messages (level: text) Chromium reported."""

    measured: dict
    console: list[str] = field(default_factory=list)


class _Pipe:
    def __init__(self, width: int, height: int, profile: str):
        to_chrome_r, self._write = os.pipe()  # os.pipe() ends are close-on-exec: only fds 3 and 4 reach chromium
        self._read, from_chrome_w = os.pipe()

        def as_fds_3_and_4() -> None:  # in the child: chromium reads commands on fd 3 and writes replies on 4
            r, w = os.dup(to_chrome_r), os.dup(from_chrome_w)  # copies first, so neither target clobbers a source
            os.dup2(r, 3)
            os.dup2(w, 4)
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)

        self.proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--window-size={width},{height}", f"--user-data-dir={profile}", "about:blank"],
            close_fds=False,
            preexec_fn=as_fds_3_and_4,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._id = 0
        self.events: list[dict] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._id += 1
        message = {"id": self._id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._next()
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i, event in enumerate(self.events):
                if event.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self._next())
        raise TimeoutError(f"no {method} within {timeout} s")

    def _next(self) -> dict:
        while b"\0" not in self._buffer:
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, OSError):
            self.send("Browser.close")
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self._write)
        os.close(self._read)


def _console(events: list[dict]) -> list[str]:
    out = []
    for event in events:
        params = event.get("params", {})
        if event.get("method") == "Runtime.consoleAPICalled":
            out.append(
                f"{params['type']}: " + " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
            )
        elif event.get("method") == "Runtime.exceptionThrown":
            out.append(f"exception: {params['exceptionDetails'].get('text')}")
        elif event.get("method") == "Log.entryAdded":
            out.append(f"{params['entry']['level']}: {params['entry']['text']}")
    return out


def inspect(
    path: str | Path,
    *,
    width: int = 1440,
    height: int = 900,
    screenshot: str | Path | None = None,
    timeout: float = 60.0,
) -> PageCheck:
    """Load ``path`` at ``width`` x ``height`` CSS pixels, run ``CHECK`` after the load event, collect every
    console message; with ``screenshot``, save a full-page PNG there."""
    if CHROMIUM is None:
        raise RuntimeError("chromium is not installed")
    with tempfile.TemporaryDirectory() as profile:
        pipe = _Pipe(width, height, profile)
        try:
            targets = pipe.send("Target.getTargets")["targetInfos"]
            page = next(t["targetId"] for t in targets if t["type"] == "page")
            session = pipe.send("Target.attachToTarget", {"targetId": page, "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Log"):
                pipe.send(f"{domain}.enable", session=session)
            pipe.send(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                session,
            )
            pipe.events.clear()  # messages of about:blank are not the report's
            pipe.send("Page.navigate", {"url": Path(path).resolve().as_uri()}, session)
            pipe.wait_for("Page.loadEventFired", timeout)
            result = pipe.send("Runtime.evaluate", {"expression": CHECK, "returnByValue": True}, session)
            measured = result["result"]["value"]
            if screenshot is not None:
                shot = pipe.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session)
                Path(screenshot).write_bytes(base64.b64decode(shot["data"]))
            pipe.send("Runtime.evaluate", {"expression": "0"}, session)  # flush events queued before this point
            return PageCheck(measured, _console(pipe.events))
        finally:
            pipe.close()
