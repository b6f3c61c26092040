"""The IsolationForest detector's contract (pyod style) and its store."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import sklearn.exceptions
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from detection.model import IsolationForestDetector, ModelError, ModelStore, NotFittedError


def _data(seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    normal = rng.normal(0, 1, size=(950, 6))
    odd = rng.normal(6, 1, size=(50, 6))
    frame = pd.DataFrame(np.vstack([normal, odd]), columns=[f"f{i}" for i in range(6)])
    return frame, np.r_[np.zeros(950), np.ones(50)]


@pytest.mark.parametrize("bad", [0, 0.7, -0.1, 1])
def test_contamination_is_checked_in_the_constructor(bad):
    with pytest.raises(ValueError, match=rf"contamination must be in \(0, 0.5\], got: {bad}"):
        IsolationForestDetector(contamination=bad)


@pytest.mark.parametrize(
    ("param", "value"),
    [("n_estimators", 0), ("max_samples", 1), ("max_samples", 1.5), ("max_features", 0)],
)
def test_other_parameters_are_checked(param, value):
    with pytest.raises(ValueError, match=param):
        IsolationForestDetector(**{param: value})


def test_scoring_an_unfitted_model_is_a_clear_error():
    frame, _ = _data()
    with pytest.raises(NotFittedError, match="not fitted"):
        IsolationForestDetector().decision_function(frame)


def test_parameters_cloning_and_the_fitted_check_are_scikit_learns():
    model = IsolationForestDetector(contamination=0.05, max_features=1, random_state=3)
    copy = clone(model)
    assert copy is not model and copy.get_params() == model.get_params()
    assert model.get_params()["contamination"] == 0.05
    with pytest.raises(sklearn.exceptions.NotFittedError, match="call fit"):
        copy.percentile(np.zeros(3))
    frame, _ = _data()
    fitted = copy.fit(frame)
    assert fitted.forest_.max_features == 1.0  # a fraction: every feature, not one
    assert clone(fitted).get_params() == model.get_params()
    with pytest.raises(NotFittedError, match="no version"):
        clone(fitted).version  # noqa: B018
    with pytest.raises(ValueError, match=r"contamination must be in \(0, 0.5\], got: 0.7"):
        clone(model).set_params(contamination=0.7).fit(frame)


def test_higher_scores_are_more_anomalous_with_an_auc_floor():
    frame, truth = _data()
    model = IsolationForestDetector(contamination=0.05).fit(frame)
    assert model.n_features_in_ == 6 and model.feature_names_ == list(frame.columns)
    scores = model.decision_function(frame)
    assert roc_auc_score(truth, scores) >= 0.9
    assert model.predict(frame)[truth == 1].mean() > 0.8
    pct = model.percentile(scores)
    assert pct.min() >= 0 and pct.max() <= 1


def test_scoring_with_other_columns_is_refused():
    frame, _ = _data()
    model = IsolationForestDetector().fit(frame)
    with pytest.raises(ModelError, match="feature columns differ"):
        model.decision_function(frame.drop(columns=["f0"]))


def test_store_round_trip_keeps_versions_and_refuses_tampering(tmp_path):
    frame, _ = _data()
    model = IsolationForestDetector(random_state=3).fit(frame)
    store = ModelStore(tmp_path)
    saved = store.save("org_a", model, trained_on={"rows": len(frame)})
    manifest = json.loads((saved.path.with_suffix(".json")).read_text())
    assert manifest["libraries"]["scikit-learn"] and manifest["params"]["random_state"] == 3
    loaded = store.load("org_a", saved.version)
    assert np.allclose(loaded.decision_function(frame), model.decision_function(frame))
    saved.path.write_bytes(saved.path.read_bytes() + b"x")
    with pytest.raises(ModelError, match="digest"):
        store.load("org_a", saved.version)
    with pytest.raises(ModelError):
        store.load("org_a", "../../etc/passwd")
    with pytest.raises(ModelError, match="no stored model"):
        store.load("org_b", saved.version)


def test_a_model_saved_with_another_sklearn_is_refused(tmp_path):
    frame, _ = _data()
    store = ModelStore(tmp_path)
    saved = store.save("org_a", IsolationForestDetector().fit(frame), trained_on={})
    manifest_path = saved.path.with_suffix(".json")
    manifest = json.loads(manifest_path.read_text())
    manifest["libraries"]["scikit-learn"] = "0.1.0"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match=r"scikit-learn 0\.1\.0"):
        store.load("org_a", saved.version)
