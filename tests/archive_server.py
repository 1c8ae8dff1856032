"""A local HTTP server for fetch tests: serves bytes by path with HTTP Range support, can cut a response short
once (an interrupted download), and builds archives in the real layouts of the public datasets. Tests point
``BIASBENCH_DOWNLOAD_MIRROR`` at it, so ``https://host/path`` is requested as ``/host/path``; nothing leaves
the machine."""

from __future__ import annotations

import io
import tarfile
import threading
import urllib.parse
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from PIL import Image


@dataclass
class Served:
    """What the server serves and what it was asked."""

    files: dict[str, bytes] = field(default_factory=dict)  # URL path → body
    cut_once: set[str] = field(default_factory=set)  # paths whose next full response stops half-way
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range header)
    base: str = ""  # the server's URL, once it runs

    def put(self, url: str, body: bytes) -> None:
        """Serve ``body`` for the original ``url`` (requested through the mirror as /host/path)."""
        parts = urllib.parse.urlsplit(url)
        self.files[f"/{parts.netloc}{parts.path}"] = body


def handler_for(served: Served) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output clean
            pass

        def do_GET(self):
            rng = self.headers.get("Range")
            path = self.path.split("?")[0]
            served.requests.append((path, rng))
            if path not in served.files:
                self.send_error(404)
                return
            body = served.files[path]
            start = int(rng.removeprefix("bytes=").split("-")[0]) if rng else 0
            if start >= len(body) and rng:
                self.send_response(416)
                self.end_headers()
                return
            self.send_response(206 if rng else 200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            if path in served.cut_once and not rng:
                served.cut_once.discard(path)
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body[start:])

    return Handler


@contextmanager
def archive_server() -> Iterator[tuple[str, Served]]:
    """(base URL, Served) of a running local server; shut down on exit."""
    served = Served()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(served))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    served.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield served.base, served
    finally:
        httpd.shutdown()
        httpd.server_close()


def jpeg(seed: int = 0, size: int = 8) -> bytes:
    """A tiny random JPEG."""
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


def tar_bytes(members: dict[str, bytes], *, gz: bool = False, extra: list[tarfile.TarInfo] = ()) -> bytes:
    """A tar archive of {member name: bytes} (and raw ``extra`` members, e.g. links)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for info in extra:
            tf.addfile(info)
    return buf.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()
