"""The linear probe against scikit-learn (oracle) and a hand fixture with a known solution; the feature
extractor against timm's ``forward_head(pre_logits=True)``; the ``transfer`` probe end to end."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from biasbench.adaptation.linear import fit_ridge_path, select_and_fit


def _blobs(n: int, d: int, classes: int, seed: int = 0, spread: float = 1.0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (classes, d))
    y = np.arange(n) % classes
    x = centres[y] + rng.normal(0, spread, (n, d)) * rng.uniform(0.1, 10, d)  # unequal feature scales
    return x, y


@pytest.mark.parametrize("classes", [2, 5])
@pytest.mark.parametrize("alpha", [0.01, 3.0, 1e4])
def test_ridge_matches_sklearn_standard_scaler_ridge_classifier(classes, alpha):
    from sklearn.linear_model import RidgeClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = _blobs(120, 30, classes, spread=4.0)
    xt, _ = _blobs(200, 30, classes, seed=1, spread=4.0)
    (probe,), _ = fit_ridge_path(x, y, (alpha,))
    oracle = make_pipeline(StandardScaler(), RidgeClassifier(alpha=alpha, solver="svd")).fit(x, y)
    np.testing.assert_array_equal(probe.predict(xt), oracle.predict(xt))
    ours = probe.decision_function(xt)
    theirs = oracle.decision_function(xt)
    if classes == 2:  # sklearn keeps one column (score of class 1); ours is (-s, s)
        np.testing.assert_allclose(ours[:, 1], theirs, rtol=1e-7, atol=1e-9)
    else:
        np.testing.assert_allclose(ours, theirs, rtol=1e-7, atol=1e-9)


def test_closed_form_on_a_hand_fixture():
    # Two standardised features, three examples per class; with alpha=0 the ridge solution is least squares,
    # which here is exact: x1 alone separates the classes (targets -1, +1), x2 is orthogonal noise.
    x = np.array([[-1, -1], [-1, 1], [-1, 0], [1, -1], [1, 1], [1, 0]], dtype=float)
    y = np.array([0, 0, 0, 1, 1, 1])
    (probe,), _ = fit_ridge_path(x, y, (0.0,))
    # StandardScaler: x1 has std 1 (kept), x2 has std sqrt(2/3); the fit puts weight 1 on x1, 0 on x2.
    np.testing.assert_allclose(probe.coef[:, 1], [1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(probe.intercept, [0.0, 0.0], atol=1e-12)
    # alpha = 6 (= n * var(x1)): the weight shrinks to n / (n + alpha) = 1/2
    (shrunk,), _ = fit_ridge_path(x, y, (6.0,))
    np.testing.assert_allclose(shrunk.coef[:, 1], [0.5, 0.0], atol=1e-12)
    np.testing.assert_array_equal(probe.predict(np.array([[-0.1, 5.0], [0.1, -5.0]])), [0, 1])


def test_alpha_selection_prefers_the_stronger_regulariser_on_ties_and_refits_on_all():
    x, y = _blobs(100, 5, 3, spread=0.01)  # trivially separable: every alpha gets the held-out split right
    alphas = (0.1, 1.0, 10.0)
    probe, scores = select_and_fit(x, y, alphas=alphas, seed=0)
    assert set(scores.values()) == {1.0}
    assert probe.alpha == 10.0
    (refit,), _ = fit_ridge_path(x, y, (10.0,))
    np.testing.assert_array_equal(probe.coef, refit.coef)


def test_alpha_selection_uses_the_held_out_split():
    from sklearn.linear_model import RidgeClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = _blobs(150, 60, 4, spread=6.0)
    alphas = (1e-3, 1.0, 1e2, 1e4)
    _, scores = select_and_fit(x, y, alphas=alphas, val_fraction=0.2, seed=3)
    order = np.random.default_rng(3).permutation(150)
    val, train = order[:30], order[30:]
    for a in alphas:
        oracle = make_pipeline(StandardScaler(), RidgeClassifier(alpha=a, solver="svd")).fit(x[train], y[train])
        assert scores[a] == pytest.approx(np.mean(oracle.predict(x[val]) == y[val]))


def test_too_few_examples_or_one_class_are_named():
    from biasbench.core.errors import BiasbenchError

    with pytest.raises(BiasbenchError, match="two classes"):
        fit_ridge_path(np.ones((4, 2)), np.zeros(4), (1.0,))
    with pytest.raises(BiasbenchError, match="too few"):
        select_and_fit(np.ones((2, 2)), np.array([0, 1]))


def test_penultimate_features_equal_timm_pre_logits(tiny_model):
    from biasbench.adaptation.features import PenultimateFeatures

    x = torch.rand(3, 3, 32, 32)
    net = tiny_model.net
    expected = net.forward_head(net.forward_features((x - tiny_model.mean) / tiny_model.std), pre_logits=True)
    with torch.no_grad():
        got = PenultimateFeatures(tiny_model)(x)
    torch.testing.assert_close(got, expected.detach())
    assert not net._forward_hooks and all(not m._forward_hooks for m in net.modules())


def test_penultimate_features_of_a_torchvision_style_net():
    from biasbench.adaptation.features import PenultimateFeatures
    from biasbench.models.wrapper import Classifier

    body = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    net = torch.nn.Sequential(body, torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 10))
    model = Classifier(net, name="toy")
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        got = PenultimateFeatures(model)(x)
        expected = net[2](net[1](body((x - model.mean) / model.std)))
    torch.testing.assert_close(got, expected)


def test_a_model_without_linear_head_is_refused():
    from biasbench.adaptation.features import PenultimateFeatures
    from biasbench.core.errors import BiasbenchError
    from biasbench.models.wrapper import Classifier

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 10, 1), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    with pytest.raises(BiasbenchError, match="linear head"):
        PenultimateFeatures(Classifier(net, name="convhead"))(torch.rand(1, 3, 4, 4))
