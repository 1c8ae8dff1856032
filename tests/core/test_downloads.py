"""Downloads (Range resume, sha256, web-page detection, offline) against a local HTTP server, and safe
archive extraction against generated malicious archives."""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from biasbench.core.downloads import FetchError, expand_path, fetch, safe_extract

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB of binary "weights"
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class Handler(BaseHTTPRequestHandler):
    """/weights.bin with Range support; /flaky.bin dies half-way on the first plain request; /page.html."""

    requests: list[tuple[str, str | None]] = []
    flaky_failed = False

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        rng = self.headers.get("Range")
        Handler.requests.append((self.path, rng))
        if self.path.startswith("/page"):
            body = b"<!DOCTYPE html><html><body>Google Drive can't scan this file for viruses.</body></html>"
            ctype = "text/html; charset=utf-8" if self.path == "/page.html" else "application/octet-stream"
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        start = int(rng.removeprefix("bytes=").split("-")[0]) if rng else 0
        body = PAYLOAD[start:]
        self.send_response(206 if rng else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path == "/flaky.bin" and not rng and not Handler.flaky_failed:
            Handler.flaky_failed = True
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.close()
            return
        self.wfile.write(body)


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_download_verifies_and_caches(server, tmp_path):
    dest = tmp_path / "c" / "weights.bin"
    assert fetch(f"{server}/weights.bin", dest, SHA).read_bytes() == PAYLOAD
    Handler.requests.clear()
    assert fetch(f"{server}/weights.bin", dest, SHA[:8]) == dest  # verified copy: no request at all
    assert Handler.requests == []


def test_interrupted_download_resumes_with_range(server, tmp_path):
    dest = tmp_path / "flaky.bin"
    Handler.requests.clear()
    fetch(f"{server}/flaky.bin", dest, SHA)
    assert dest.read_bytes() == PAYLOAD
    assert Handler.requests == [("/flaky.bin", None), ("/flaky.bin", f"bytes={len(PAYLOAD) // 2}-")]
    assert not (tmp_path / "flaky.bin.part").exists()


def test_partial_file_is_continued(server, tmp_path):
    dest = tmp_path / "weights.bin"
    (tmp_path / "weights.bin.part").write_bytes(PAYLOAD[:1000])
    Handler.requests.clear()
    fetch(f"{server}/weights.bin", dest, SHA)
    assert dest.read_bytes() == PAYLOAD and Handler.requests == [("/weights.bin", "bytes=1000-")]


def test_wrong_checksum_is_refused_and_removed(server, tmp_path):
    dest = tmp_path / "weights.bin"
    with pytest.raises(FetchError, match=f"expected sha256 {'0' * 64}, got {SHA}"):
        fetch(f"{server}/weights.bin", dest, "0" * 64)
    assert not dest.exists() and not (tmp_path / "weights.bin.part").exists()


@pytest.mark.parametrize("path", ["/page.html", "/page-as-binary"])
def test_web_page_is_never_saved_as_weights(server, tmp_path, path):
    dest = tmp_path / "weights.pth"
    with pytest.raises(FetchError, match=r"returned a web page instead of the file.*place it at .*weights\.pth"):
        fetch(f"{server}{path}", dest)
    assert not dest.exists() and not (tmp_path / "weights.pth.part").exists()


def test_offline_and_unreachable_say_where_to_place_the_file(tmp_path, monkeypatch):
    dest = tmp_path / "x.pth"
    monkeypatch.setenv("BIASBENCH_OFFLINE", "1")
    with pytest.raises(FetchError, match=f"place it at {dest}"):
        fetch("https://example.invalid/x.pth", dest)
    monkeypatch.delenv("BIASBENCH_OFFLINE")
    with pytest.raises(FetchError, match=f"failed.*place it at {dest}"):
        fetch("http://127.0.0.1:9/x.pth", dest, retries=1, timeout=2)


def test_file_url_and_hand_placed_file(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(PAYLOAD)
    assert fetch(src.as_uri(), tmp_path / "out" / "w.bin", SHA).read_bytes() == PAYLOAD
    wrong = tmp_path / "placed.bin"
    wrong.write_bytes(b"not it")
    with pytest.raises(FetchError, match="does not match"):
        fetch("https://example.invalid/w.bin", wrong, SHA)


def test_expand_path_resolves_the_data_root(monkeypatch, tmp_path):
    monkeypatch.setenv("BIASBENCH_DATA", str(tmp_path))
    assert expand_path("${BIASBENCH_DATA}/coral/m.tflite") == tmp_path.resolve() / "coral" / "m.tflite"


def _tar(tmp_path, build) -> object:
    path = tmp_path / "a.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        build(tf)
    return path


def _add(tf, name, data=b"x", **attrs):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in attrs.items():
        setattr(info, key, value)
    tf.addfile(info, io.BytesIO(data) if info.isfile() else None)


def test_safe_extract_good_tar_and_zip(tmp_path):
    archive = _tar(
        tmp_path,
        lambda tf: (_add(tf, "d/a.txt", b"hello"), _add(tf, "d/link", type=tarfile.SYMTYPE, linkname="a.txt", size=0)),
    )
    files = safe_extract(archive, tmp_path / "out")
    assert (tmp_path / "out" / "d" / "a.txt").read_bytes() == b"hello" and len(files) == 1
    zpath = tmp_path / "a.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("sub/b.txt", b"zip")
    safe_extract(zpath, tmp_path / "zout")
    assert (tmp_path / "zout" / "sub" / "b.txt").read_bytes() == b"zip"


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (dict(name="../evil.txt"), "outside the target"),
        (dict(name="/etc/evil.txt"), "absolute path"),
        (dict(name="ok/../../evil.txt"), "outside the target"),
        (dict(name="link", type=tarfile.SYMTYPE, linkname="../../etc/passwd"), "escapes"),
        (dict(name="hard", type=tarfile.LNKTYPE, linkname="../outside"), "escapes"),
        (dict(name="dev", type=tarfile.CHRTYPE), "device or fifo"),
    ],
)
def test_safe_extract_refuses_malicious_tar(tmp_path, member, message):
    member = dict(member)
    name = member.pop("name")
    data = b"" if "type" in member else b"pwned"
    archive = _tar(tmp_path, lambda tf: _add(tf, name, data, **member))
    with pytest.raises(FetchError, match=message):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()
    assert not any((tmp_path / "out").iterdir())


def test_safe_extract_refuses_malicious_zip(tmp_path):
    zpath = tmp_path / "evil.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("../../evil.txt", b"pwned")
    with pytest.raises(FetchError, match="outside the target"):
        safe_extract(zpath, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()
