"""A pretrained timm model's fingerprint is the hash of its cached weights file: planning never builds it."""

from __future__ import annotations

import pytest

from biasbench.core.fingerprint import digest, file_sha256
from biasbench.models.sources import MODEL_SOURCES, ModelSource, ModelSpec


@pytest.fixture
def weights(tmp_path, monkeypatch):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"weights v1")
    source = MODEL_SOURCES["timm"]
    monkeypatch.setattr(type(source), "weights_file", lambda self, spec: path)
    monkeypatch.setattr(type(source), "load", lambda self, spec: pytest.fail("fingerprinting must not load"))
    return path


def test_pretrained_fingerprint_hashes_the_file_without_loading(weights):
    source, spec = MODEL_SOURCES["timm"], ModelSpec.parse("timm:resnet18.a1_in1k")
    first = source.fingerprint(spec)
    assert first == digest(["timm-file", spec.text, file_sha256(weights)])
    assert source.cached(spec)
    weights.write_bytes(b"weights v2")  # other content, other fingerprint
    assert source.fingerprint(spec) != first


def test_without_a_cached_file_it_falls_back_to_the_loaded_state_dict(monkeypatch):
    source = MODEL_SOURCES["timm"]
    monkeypatch.setattr(type(source), "weights_file", lambda self, spec: None)
    calls = []
    monkeypatch.setattr(ModelSource, "fingerprint", lambda self, spec: calls.append(spec) or "sd")
    spec = ModelSpec.parse("timm:resnet18.a1_in1k")
    assert source.fingerprint(spec) == "sd" and calls == [spec]
    assert source.cached(spec) is False
