"""The engine's memo of clean passes: probes of one model share one unperturbed forward pass, and a memo entry
is never used once the model, the images, the preprocessing or the engine configuration changed."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from biasbench.data.datasets import get_dataset_spec
from biasbench.data.labels.spaces import get_label_space
from biasbench.data.pixels.images import ImageTransform
from biasbench.data.pixels.transforms import image_transform
from biasbench.engine.inference import CLEAN, Engine, EngineConfig
from biasbench.models import load_model
from biasbench.probes.outputs import feed_of
from tests.conftest import TINY_MODEL


@pytest.fixture
def dataset(generated_root):
    return get_dataset_spec("imagenet-sample").load(generated_root).head(10)


@pytest.fixture
def model():
    return load_model(TINY_MODEL)


class Counter:
    """Counts forward passes (images) of a model."""

    def __init__(self, model):
        self.images = 0
        model.register_forward_pre_hook(self)

    def __call__(self, module, inputs):
        self.images += len(inputs[0])


IMAGENET = get_label_space("imagenet").reducer()


def _run(engine, model, dataset, reduce=IMAGENET, transform=None, **kwargs):
    """``engine`` over ``dataset`` streamed as its configuration asks (the probes' feed)."""
    feed = feed_of(engine, dataset, transform or image_transform(dataset, model.preprocess))
    return engine.run(model, feed, reduce, **kwargs)


def _fresh(model, dataset, config=None, **kwargs):
    """Outputs computed by a new engine (no memo entry possible)."""
    config = config or EngineConfig(progress=False, batch_size=4)
    return _run(Engine(config), model, dataset, **kwargs)


def _same(a, b) -> bool:
    return np.array_equal(a.indices, b.indices) and all(
        np.array_equal(a.outputs[c][k], b.outputs[c][k]) for c in a.outputs for k in a.outputs[c]
    )


def test_clean_only_run_replays_without_decoding_or_forward(model, dataset, monkeypatch):
    engine = Engine(EngineConfig(progress=False, batch_size=4))
    first = _run(engine, model, dataset)
    counter = Counter(model)  # a hook: the memo must not be used for a model with hooks added since
    again = _run(engine, model, dataset)
    assert counter.images == len(dataset) and _same(first, again)
    monkeypatch.setattr(engine, "batches", lambda *a, **k: pytest.fail("a replay must not decode images"))
    replay = _run(engine, model, dataset)
    assert counter.images == len(dataset) and _same(first, replay)
    # another reducer over the same stored logits: the argmax only
    argmax = _run(engine, model, dataset, lambda logits, batch: {"top1": logits.argmax(1)})
    assert np.array_equal(argmax.outputs[CLEAN]["top1"], first.outputs[CLEAN]["topk"][:, 0])


def test_mixed_conditions_reuse_the_clean_pass(model, dataset):
    counter = Counter(model)
    engine = Engine(EngineConfig(progress=False, batch_size=4))
    _run(engine, model, dataset)
    conditions = {CLEAN: None, "dark": lambda x, i: x * 0.5}
    mixed = _run(engine, model, dataset, conditions=conditions)
    assert counter.images == 2 * len(dataset)  # the clean pass, then only the perturbed condition
    assert _same(mixed, _fresh(model, dataset, conditions=conditions))


@pytest.mark.parametrize(
    "change",
    [
        "inplace_weights",
        "load_state_dict",
        "new_parameter",
        "train_mode",
        "other_images",
        "other_transform",
        "other_config",
        "other_model",
    ],
)
def test_any_change_misses(model, dataset, change):
    counter = Counter(model)
    engine = Engine(EngineConfig(progress=False, batch_size=4))
    _run(engine, model, dataset)
    counter.images = 0
    run_model, run_data, kwargs = model, dataset, {}
    if change == "inplace_weights":
        with torch.no_grad():
            next(model.parameters()).mul_(-1.0)
    elif change == "load_state_dict":
        model.load_state_dict({k: v.clone() for k, v in model.state_dict().items()})
    elif change == "new_parameter":
        layer = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
        layer.weight = torch.nn.Parameter(layer.weight.detach() * 2.0)
    elif change == "train_mode":
        model.train()  # prepare() puts it back into eval mode, so this alone must still hit
    elif change == "other_images":
        run_data = dataset.head(8)
    elif change == "other_transform":
        kwargs["transform"] = ImageTransform("model", replace(model.preprocess, crop_pct=0.5))
    elif change == "other_config":
        engine.config = engine.config.model_copy(update={"batch_size": 3})
    elif change == "other_model":
        run_model = load_model(TINY_MODEL + "&seed=1")
        counter = Counter(run_model)
    result = _run(engine, run_model, run_data, **kwargs)
    expected_forward = 0 if change == "train_mode" else len(run_data)
    assert counter.images == expected_forward
    assert _same(result, _fresh(run_model, run_data, engine.config, **kwargs))


def test_the_memo_holds_one_model_and_is_bounded(model, dataset):
    engine = Engine(EngineConfig(progress=False, batch_size=4))
    _run(engine, model, dataset)
    assert engine.memo._entries
    other = load_model(TINY_MODEL + "&seed=1")
    _run(engine, other, dataset)
    assert engine.memo._model is other and len(engine.memo._entries) == 1
    engine.memo.clear()
    engine.memo.max_bytes = 10  # too small for any pass: nothing is kept, results unchanged
    assert _same(_run(engine, model, dataset), _fresh(model, dataset))
    assert not engine.memo._entries
