"""``biasbench fetch`` / ``download_dataset`` against a local HTTP server serving archives built in the real
layouts of the public releases: verification (published digests, else recorded at the first download),
resume, safe extraction, layout conversion, and that a refused download leaves nothing in the layout."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tarfile

import pytest
from typer.testing import CliRunner

from biasbench.cli import app
from biasbench.core.downloads import Download, FetchError
from biasbench.data.catalogue.downloads import LOCK_FILE, MIRROR_ENV, download_dataset, mirrored
from biasbench.data.datasets import get_dataset_spec
from biasbench.data.labels.categories16 import CATEGORIES16
from biasbench.data.labels.imagenet import imagenet_wnids, subset_wnids
from tests.archive_server import archive_server, jpeg, tar_bytes, zip_bytes

runner = CliRunner()
A_WNIDS = sorted(subset_wnids("a"))[:2]


@pytest.fixture
def served(monkeypatch):
    with archive_server() as (base, served):
        monkeypatch.setenv(MIRROR_ENV, base)
        yield served


def publish(monkeypatch, name: str, body: bytes, **fields) -> Download:
    """Replace dataset ``name``'s single download by one with ``fields`` (e.g. a published digest of ``body``)."""
    spec = get_dataset_spec(name)
    download = dataclasses.replace(spec.downloads[0], **fields)
    monkeypatch.setattr(type(spec), "downloads", (download,))
    return download


def imagenet_a_tar(extra: dict[str, bytes] | None = None) -> bytes:
    members = {f"imagenet-a/{w}/{k:04d}.jpg": jpeg(k) for w in A_WNIDS for k in range(2)}
    return tar_bytes({**members, "imagenet-a/README.txt": b"release notes\n", **(extra or {})})


def leftovers(root) -> list[str]:
    """Everything under ``root`` except the lock file (a refused fetch must leave nothing else)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.name != LOCK_FILE)


def test_mirror_rewrites_host_and_path():
    url = "https://zenodo.org/records/2235448/files/noise.tar?download=1"
    assert (
        mirrored(url, "http://m.example/data/")
        == "http://m.example/data/zenodo.org/records/2235448/files/noise.tar?download=1"
    )
    assert mirrored(url, None) == url


def test_published_digest_good_fetch_and_lock(served, monkeypatch, tmp_path):
    body = imagenet_a_tar()
    d = publish(
        monkeypatch, "imagenet-a", body, sha256=hashlib.sha256(body).hexdigest(), md5=hashlib.md5(body).hexdigest()
    )
    served.put(d.url, body)
    report = download_dataset("imagenet-a", tmp_path, progress=False)
    assert report.placed == {d.url: 5} and report.recorded == []
    ds = get_dataset_spec("imagenet-a").load(tmp_path, check_count=False)
    assert [s.path.relative_to(tmp_path).as_posix() for s in ds.samples] == [
        f"imagenet-a/{w}/{k:04d}.jpg" for w in A_WNIDS for k in range(2)
    ]
    assert (tmp_path / "imagenet-a" / "README.txt").is_file()
    lock = json.loads((tmp_path / LOCK_FILE).read_text())["files"][d.url]
    assert lock == {"digest": "published", "placed": True}
    assert not (tmp_path / ".downloads").exists() or not any((tmp_path / ".downloads").iterdir())  # archive removed
    served.requests.clear()
    assert download_dataset("imagenet-a", tmp_path, progress=False).skipped == [d.url]
    assert served.requests == []  # already placed: no request


def test_wrong_digest_is_refused_and_nothing_is_extracted(served, monkeypatch, tmp_path):
    body = imagenet_a_tar()
    d = publish(monkeypatch, "imagenet-a", body, sha256="0" * 64, md5="")
    served.put(d.url, body)
    with pytest.raises(FetchError, match=f"expected sha256 {'0' * 64}, got {hashlib.sha256(body).hexdigest()}"):
        download_dataset("imagenet-a", tmp_path, progress=False)
    assert leftovers(tmp_path) == [] and not (tmp_path / "imagenet-a").exists()
    assert not (tmp_path / LOCK_FILE).exists()


def test_truncated_download_resumes_with_range(served, monkeypatch, tmp_path):
    body = imagenet_a_tar()
    d = publish(monkeypatch, "imagenet-a", body, sha256=hashlib.sha256(body).hexdigest(), md5="")
    path = "/people.eecs.berkeley.edu/~hendrycks/imagenet-a.tar"
    served.put(d.url, body)
    served.cut_once.add(path)
    download_dataset("imagenet-a", tmp_path, progress=False)
    assert served.requests == [(path, None), (path, f"bytes={len(body) // 2}-")]
    assert len(get_dataset_spec("imagenet-a").load(tmp_path, check_count=False)) == 4


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"imagenet-a/../../evil.txt": b"pwned"}, "outside the target"),
        ({"/tmp/evil.txt": b"pwned"}, "absolute path"),
        (None, "escapes"),  # a symbolic link out of the folder
    ],
)
def test_unsafe_member_is_refused_and_nothing_is_extracted(served, monkeypatch, tmp_path, extra, message):
    if extra is None:
        link = tarfile.TarInfo("imagenet-a/n01498041/link.jpg")
        link.type, link.linkname = tarfile.SYMTYPE, "../../../../etc/passwd"
        body = tar_bytes({f"imagenet-a/{A_WNIDS[0]}/0000.jpg": jpeg()}, extra=[link])
    else:
        body = imagenet_a_tar(extra)
    d = publish(monkeypatch, "imagenet-a", body, sha256=hashlib.sha256(body).hexdigest(), md5="")
    served.put(d.url, body)
    with pytest.raises(FetchError, match=message):
        download_dataset("imagenet-a", tmp_path / "root", progress=False)
    root = tmp_path / "root"
    assert not (root / "imagenet-a").exists() and not (tmp_path / "evil.txt").exists()
    assert [p for p in leftovers(root) if "staging" in p] == []


def test_recorded_digest_guards_later_downloads(served, tmp_path):
    """No digest is published for the imagenet-sample archive: the first complete download is recorded in the
    lock file, and a changed file upstream is refused afterwards, leaving the placed dataset as it was."""
    spec = get_dataset_spec("imagenet-sample")
    top = "imagenet-sample-images-bc69043e2862758a1906c6a24a792bb28c6bb2ff"
    members = {f"{top}/{w}_{i}.JPEG": jpeg(i, 4) for i, w in enumerate(imagenet_wnids())}
    body = tar_bytes({**members, f"{top}/README.md": b"# sample\n"}, gz=True)
    served.put(spec.downloads[0].url, body)
    report = download_dataset("imagenet-sample", tmp_path, progress=False)
    assert report.recorded == [spec.downloads[0].url]
    ds = spec.load(tmp_path)  # the full 1000, complete: images/ and the labels.csv written from the WNIDs
    assert [s.label for s in ds.samples] == list(range(1000))
    assert (tmp_path / "imagenet-sample-images" / "labels.csv").read_text().splitlines()[:2] == [
        "filename,wnid,class_index",
        f"{imagenet_wnids()[0]}_0.JPEG,{imagenet_wnids()[0]},0",
    ]
    entry = json.loads((tmp_path / LOCK_FILE).read_text())["files"][spec.downloads[0].url]
    assert entry["sha256"] == hashlib.sha256(body).hexdigest() and entry["digest"] == "recorded at first download"
    before = {p: p.read_bytes() for p in (tmp_path / "imagenet-sample-images").rglob("*") if p.is_file()}
    served.put(spec.downloads[0].url, body + b"\0" * 512)  # the file changes upstream
    with pytest.raises(FetchError, match=f"checksum mismatch.*{LOCK_FILE}.*delete its entry"):
        download_dataset("imagenet-sample", tmp_path, force=True, progress=False)
    after = {p: p.read_bytes() for p in (tmp_path / "imagenet-sample-images").rglob("*") if p.is_file()}
    assert after == before


def test_imagenet_c_part_lands_in_its_layout_and_is_partial(served, monkeypatch, tmp_path):
    wnids = imagenet_wnids()[:2]
    members = {
        f"{c}/{s}/{w}/ILSVRC2012_val_{i:08d}.JPEG": jpeg(i)
        for c in ("gaussian_noise", "shot_noise", "impulse_noise")
        for s in range(1, 6)
        for i, w in enumerate(wnids, start=1)
    }
    body = tar_bytes(members)
    spec = get_dataset_spec("imagenet-c")
    noise = dataclasses.replace(spec.downloads[0], md5=hashlib.md5(body).hexdigest())
    monkeypatch.setattr(type(spec), "downloads", (noise, *spec.downloads[1:]))
    served.put(noise.url, body)
    download_dataset("imagenet-c", tmp_path, parts=["noise"], progress=False)
    assert served.requests == [("/zenodo.org/records/2235448/files/noise.tar", None)]  # only the part asked for
    assert sorted(p.name for p in (tmp_path / "imagenet-c").iterdir()) == [
        "gaussian_noise",
        "impulse_noise",
        "shot_noise",
    ]
    with pytest.raises(Exception, match="missing corruptions: defocus_blur.*--partial"):
        spec.load(tmp_path)
    ds = spec.load(tmp_path, check_count=False)
    assert len(ds) == 30 and "missing corruptions" in ds.partial


def test_cbar_nested_folder_is_converted(served, monkeypatch, tmp_path):
    members = {f"ImageNet-C-Bar/sparkles/{s}/{imagenet_wnids()[0]}/x.JPEG": jpeg(s) for s in range(1, 6)}
    body = tar_bytes(members, gz=True)
    d = publish(monkeypatch, "imagenet-cbar", body)
    served.put(d.url, body)
    download_dataset("imagenet-cbar", tmp_path, progress=False)
    ds = get_dataset_spec("imagenet-cbar").load(tmp_path, check_count=False)
    assert [(s.meta["corruption"], s.meta["severity"]) for s in ds.samples] == [("sparkles", s) for s in range(1, 6)]


def test_texture_vs_shape_archive_serves_three_datasets(served, tmp_path):
    top = "texture-vs-shape-ccd0c01d42c0a8a834e90ec141e7f24fa915dc23"
    members = {f"{top}/stimuli/edges/{c}/{c}1.png": b"png" for c in CATEGORIES16}
    members |= {f"{top}/stimuli/filled-silhouettes/{c}/{c}1.png": b"png" for c in CATEGORIES16}
    members |= {f"{top}/stimuli/style-transfer-preprocessed-512/{c}/{c}1-{c}2.png": b"png" for c in CATEGORIES16}
    members |= {f"{top}/DATASET_LICENSE": b"CC BY 4.0", f"{top}/code/train.py": b"...", f"{top}/README.md": b"#"}
    body = tar_bytes(members, gz=True)
    served.put(get_dataset_spec("cue-conflict").downloads[0].url, body)
    download_dataset("cue-conflict", tmp_path, progress=False)
    assert sorted(p.name for p in (tmp_path / "texture-vs-shape").iterdir()) == ["DATASET_LICENSE", "stimuli"]
    for name in ("cue-conflict", "edge", "silhouette"):
        assert len(get_dataset_spec(name).load(tmp_path, check_count=False)) == 16
    served.requests.clear()
    assert download_dataset("edge", tmp_path, progress=False).skipped  # same archive, already placed
    assert served.requests == []


def test_zip_archive_and_a_web_page_instead_of_it(served, monkeypatch, tmp_path):
    d = get_dataset_spec("imagenet-sketch").downloads[0]
    served.put(d.url, b"<!DOCTYPE html><html><body>Sign in to continue</body></html>")
    with pytest.raises(FetchError, match="web page"):
        download_dataset("imagenet-sketch", tmp_path, progress=False)
    assert leftovers(tmp_path) == []
    served.put(d.url, zip_bytes({f"sketch/{w}/1.JPEG": jpeg() for w in imagenet_wnids()[:3]}))
    download_dataset("imagenet-sketch", tmp_path, progress=False)
    assert len(get_dataset_spec("imagenet-sketch").load(tmp_path, check_count=False)) == 3


def test_damaged_archive_is_removed_and_not_recorded(served, tmp_path):
    d = get_dataset_spec("stylized").downloads[0]
    body = tar_bytes(
        {f"stylized/dnn/session-1/{i:04d}_sty_dnn_0_cat_{i:02d}_x.png": jpeg(i) for i in range(20)}, gz=True
    )
    served.put(d.url, body[: len(body) // 2])  # served whole, but the archive itself is cut
    with pytest.raises(FetchError, match="damaged"):
        download_dataset("stylized", tmp_path, progress=False)
    assert leftovers(tmp_path) == [] and not (tmp_path / LOCK_FILE).exists()


def test_cli_fetch_and_datasets(served, monkeypatch, tmp_path):
    body = imagenet_a_tar()
    d = publish(monkeypatch, "imagenet-a", body, sha256=hashlib.sha256(body).hexdigest(), md5="")
    served.put(d.url, body)
    listing = runner.invoke(app, ["datasets", "--data-root", str(tmp_path)])
    assert listing.exit_code == 0 and "biasbench fetch imagenet-a" in listing.output
    assert "biasbench fetch imagenet-val" not in listing.output  # not downloadable
    result = runner.invoke(app, ["fetch", "imagenet-a", "--data-root", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "incomplete" in result.output and "--partial" in " ".join(result.output.split())
    assert len(get_dataset_spec("imagenet-a").load(tmp_path, check_count=False)) == 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fetch", "imagenet-sampel"], "Did you mean 'imagenet-sample'"),
        (["fetch", "imagenet-val"], "has no public download: ImageNet is not freely redistributable"),
        (["fetch", "imagenet-c", "--part", "nois"], "Did you mean 'noise'"),
        (["fetch", "imagenet-a", "imagenet-r", "--part", "noise"], "name exactly one dataset"),
    ],
)
def test_cli_fetch_refuses_before_downloading(served, tmp_path, args, message):
    result = runner.invoke(app, [*args, "--data-root", str(tmp_path)])
    assert result.exit_code == 2 and message in " ".join(result.output.split())
    assert "Traceback" not in result.output and served.requests == [] and leftovers(tmp_path) == []
