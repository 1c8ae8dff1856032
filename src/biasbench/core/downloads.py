"""Downloads and archives: resumable, checksum-verified, cached, and safe to extract.

- ``Download`` declares one public file of a dataset (URL, published digests, where and how it is laid out).
- ``fetch(url, dest, sha256, md5=...)`` downloads into ``dest`` via ``dest.part`` (resumed with an HTTP Range
  request after an interruption), verifies the sha256 (a full digest, or the >= 8-hex prefix that
  torch.hub-style file names carry) and/or the md5, and renames atomically. A file already at ``dest`` that
  verifies is never re-downloaded, so checkpoints can be placed there by hand.
- A web page where weights were expected (Google Drive's quota / virus-scan page) is detected and refused.
- ``safe_extract`` unpacks tar/zip archives, refusing absolute paths, ``..`` and links that leave the target.
- ``BIASBENCH_OFFLINE=1`` forbids network access; every failure says where to place the file by hand.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import stat
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from biasbench.core.errors import BiasbenchError
from biasbench.core.paths import ENV_VAR as DATA_ENV_VAR
from biasbench.core.paths import resolve_data_root, user_cache_dir

OFFLINE_ENV = "BIASBENCH_OFFLINE"
CHUNK = 1 << 20
HTML_MARKERS = (b"<!doctype html", b"<html", b"<head", b"<?xml")


class FetchError(BiasbenchError):
    """A download or extraction that failed; the message says how to fix it or place the file by hand."""


@dataclass(frozen=True)
class Download:
    """One public file of a dataset: its URL, how it is verified and where it goes under the data root.

    ``sha256`` / ``md5`` are digests published for exactly this URL (the declaration says where they come
    from); where none is published both stay empty and the digest of the first download is recorded in the
    data root's lock file and checked on every later fetch. ``into`` is the folder under the data root that
    receives the contents; ``layout`` names how an archive's contents become the expected layout (a converter
    registered in ``biasbench.data.catalogue.downloads``; ``"as-is"`` moves them unchanged, ``"file"`` places a
    non-archive file); ``keep`` lists the archive paths kept (empty: all); ``part`` names the file for fetching
    only some of a dataset's archives (ImageNet-C's ``noise``, ``blur``, ...)."""

    url: str
    into: str = "."
    sha256: str = ""
    md5: str = ""
    layout: str = "as-is"
    keep: tuple[str, ...] = ()
    part: str = ""

    @property
    def filename(self) -> str:
        """The file name the URL ends in (query string dropped)."""
        return PurePosixPath(urllib.parse.urlsplit(self.url).path).name


def checkpoint_dir() -> Path:
    """Where downloaded checkpoints live: ``<cache>/checkpoints`` (``BIASBENCH_CACHE`` overrides the cache)."""
    return user_cache_dir() / "checkpoints"


def expand_path(text: str) -> Path:
    """Expand ``${BIASBENCH_DATA}`` (resolved like every data root, also when the variable is unset),
    other environment variables and ``~`` in a path."""
    root = str(resolve_data_root())
    for token in ("${" + DATA_ENV_VAR + "}", "$" + DATA_ENV_VAR):
        text = text.replace(token, root)
    return Path(os.path.expanduser(os.path.expandvars(text)))


def gdrive_url(file_id: str) -> str:
    """Direct-download URL of a public Google-Drive file (``confirm=t`` skips the large-file scan page)."""
    return f"https://drive.usercontent.google.com/download?id={file_id}&export=download&confirm=t"


def is_offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").lower() in {"1", "true", "yes", "on"}


def file_digests(path: Path, algorithms: tuple[str, ...] = ("sha256", "md5")) -> dict[str, str]:
    """Hex digests of a file in one pass over it (a 20 GB archive is read once for both)."""
    hashes = {name: hashlib.new(name) for name in algorithms}
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            for h in hashes.values():
                h.update(block)
    return {name: h.hexdigest() for name, h in hashes.items()}


def digest_mismatch(path: Path, sha256: str = "", md5: str = "") -> str:
    """ "" when the file matches the expected digests (a sha256 prefix is enough), else what differs."""
    wanted = {k: v.lower() for k, v in (("sha256", sha256), ("md5", md5)) if v}
    if not wanted:
        return ""
    actual = file_digests(path, tuple(wanted))
    return "; ".join(f"expected {k} {v}, got {actual[k]}" for k, v in wanted.items() if not actual[k].startswith(v))


def sha256_matches(path: Path, expected: str) -> tuple[bool, str]:
    """Whether the file's sha256 equals ``expected`` (or starts with it, for prefixes); also the digest."""
    actual = file_digests(path, ("sha256",))["sha256"]
    return (not expected or actual.startswith(expected.lower())), actual


def looks_like_html(head: bytes) -> bool:
    """True when the first bytes of a download are a web page rather than binary weights."""
    return head.lstrip()[:64].lower().startswith(HTML_MARKERS)


def _by_hand(url: str, dest: Path) -> str:
    return f"Download {url} by hand (a browser works) and place it at {dest}"


def _html_error(url: str, dest: Path) -> FetchError:
    who = "Google Drive" if "google" in url else "The server"
    return FetchError(
        f"{who} returned a web page instead of the file (quota exceeded, a virus-scan or login page, or a "
        f"moved file): {url}. {_by_hand(url, dest)}; biasbench will verify and use it."
    )


def fetch(url: str, dest: Path, sha256: str = "", *, md5: str = "", retries: int = 3, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` unless a verified copy is already there; return ``dest``.

    Interrupted downloads resume from ``dest.part`` with an HTTP Range request (a server that ignores Range
    makes it start over). ``sha256`` may be empty (no check), a full digest or a prefix of at least 8 hex;
    ``md5`` (a full digest) is checked as well when given. A file that fails the check is removed.
    """
    dest = Path(dest)
    if sha256 and len(sha256) < 8:
        raise FetchError(f"sha256 {sha256!r} for {url} is too short to verify (need >= 8 hex digits)")
    if dest.is_file():
        mismatch = digest_mismatch(dest, sha256, md5)
        if not mismatch:
            return dest
        raise FetchError(f"{dest} exists but does not match its expected digest ({mismatch}); delete or replace it")
    if is_offline():
        raise FetchError(f"{dest} is missing and {OFFLINE_ENV} forbids downloads. {_by_hand(url, dest)}.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    for attempt in range(retries):
        try:
            _download(url, part, timeout)
            break
        except (urllib.error.URLError, OSError, http.client.HTTPException) as e:  # network errors, truncated bodies
            if isinstance(e, urllib.error.HTTPError) and e.code not in (408, 429, 500, 502, 503, 504):
                raise FetchError(f"download of {url} failed: HTTP {e.code}. {_by_hand(url, dest)}.") from e
            if attempt == retries - 1:
                raise FetchError(f"download of {url} failed: {e}. {_by_hand(url, dest)}.") from e
            time.sleep(min(2**attempt, 10) * 0.1)
    mismatch = digest_mismatch(part, sha256, md5)
    if mismatch:
        part.unlink()
        raise FetchError(
            f"checksum mismatch for {url}: {mismatch}. The file changed upstream or the download is corrupt; "
            f"the downloaded file was removed. {_by_hand(url, dest)} if you trust it."
        )
    part.replace(dest)
    return dest


def _download(url: str, part: Path, timeout: float) -> None:
    """Fetch ``url`` into ``part``, continuing an existing partial file when the server honours Range."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "biasbench"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (http(s)/file URLs only)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # nothing left to fetch: the partial file is complete
            return
        raise
    with response:
        resumed = have and getattr(response, "status", 200) == 206
        if "text/html" in (response.headers.get("Content-Type") or ""):
            raise _html_error(url, part.with_name(part.name.removesuffix(".part")))
        total = response.headers.get("Content-Length")
        from tqdm import tqdm

        with (
            open(part, "ab" if resumed else "wb") as out,
            tqdm(
                total=int(total) + (have if resumed else 0) if total else None,
                initial=have if resumed else 0,
                unit="B",
                unit_scale=True,
                desc=part.name.removesuffix(".part"),
                disable=None,
                leave=False,
            ) as bar,
        ):
            first = True
            for block in iter(lambda: response.read(CHUNK), b""):
                if first and not resumed and looks_like_html(block):
                    out.close()
                    part.unlink()
                    raise _html_error(url, part.with_name(part.name.removesuffix(".part")))
                first = False
                out.write(block)
                bar.update(len(block))
        if total is not None and part.stat().st_size < int(total) + (have if resumed else 0):
            raise OSError(f"connection closed after {part.stat().st_size} bytes")


# ---- archives ---------------------------------------------------------------------------------------------


def _inside(target: Path, name: str) -> Path:
    """The extraction path of archive member ``name``, refusing absolute paths and ``..`` escapes."""
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise FetchError(f"archive member {name!r} has an absolute path; refusing to extract")
    if ".." in pure.parts:
        raise FetchError(f"archive member {name!r} points outside the target directory; refusing to extract")
    path = (target / pure).resolve()
    if path != target and target not in path.parents:
        raise FetchError(f"archive member {name!r} resolves outside {target}; refusing to extract")
    return path


def _check_tar_member(target: Path, member: tarfile.TarInfo) -> None:
    path = _inside(target, member.name)
    if member.issym() or member.islnk():
        # a symlink target is relative to the link's directory; a hard link's to the archive root
        base = path.parent if member.issym() else target
        link = PurePosixPath(member.linkname)
        resolved = (base / link).resolve() if not link.is_absolute() else Path(link)
        if resolved != target and target not in resolved.parents:
            raise FetchError(f"archive link {member.name!r} -> {member.linkname!r} escapes {target}; refusing")
    elif not (member.isfile() or member.isdir()):
        raise FetchError(f"archive member {member.name!r} is a device or fifo; refusing to extract")


def safe_extract(archive: Path, target: Path, *, progress: bool = False) -> list[Path]:
    """Extract a tar (any compression) or zip archive into ``target`` after checking every member: nothing is
    written when one member is unsafe. ``progress`` shows a bar over the members."""
    from tqdm import tqdm

    archive, target = Path(archive), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    target = target.resolve()
    bar = {"desc": f"extracting {archive.name}", "unit": " files", "disable": not progress or None, "leave": False}
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            for info in infos:
                _inside(target, info.filename)
                if stat.S_ISLNK(info.external_attr >> 16):
                    raise FetchError(f"zip member {info.filename!r} is a symbolic link; refusing to extract")
            for info in tqdm(infos, **bar):
                zf.extract(info, target)
            return [target / i.filename for i in infos if not i.is_dir()]
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            members = tf.getmembers()
            for member in members:
                _check_tar_member(target, member)
            # the stdlib "data" filter (3.11.4+) repeats these checks and drops unsafe permission bits
            kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            for member in tqdm(members, **bar):
                tf.extract(member, target, **kwargs)
            return [target / m.name for m in members if m.isfile()]
    raise FetchError(f"{archive} is neither a tar nor a zip archive (the download may be a web page or truncated)")


def is_archive(path: Path) -> bool:
    """Whether ``path`` is a tar (any compression) or zip archive."""
    return zipfile.is_zipfile(path) or tarfile.is_tarfile(path)
