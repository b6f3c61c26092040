"""The IsolationForest over scaled user-day features, with a pyod-style contract.

Fitted attributes end in `_`; higher scores mean more anomalous; parameters are checked in the
constructor ("contamination must be in (0, 0.5], got: 0.7"); scoring an unfitted model is a
clear error. A saved model carries the library versions it was made with and a digest, and is
only loaded back from our own store (pickles from elsewhere can run arbitrary code).
"""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import sklearn
import sklearn.exceptions
from sklearn.base import BaseEstimator
from sklearn.ensemble import IsolationForest
from sklearn.preprocessing import RobustScaler
from sklearn.utils.validation import check_is_fitted

from detection.features import BASELINE_COLUMNS
from sql.errors import AuditLensError

MODEL_KIND = "isolation-forest"
MODEL_SCHEMA = 1

# What the model sees: volumes (log-scaled), deviations from the user's own and the peer
# group's baselines, and first-seen counts. Absolute volumes alone would flag every SRE.
LOG_COUNT_FEATURES = [
    "events",
    "log_access",
    "searches",
    "downloads",
    "exports",
    "records_exported",
    "max_results_count",
    "distinct_resources",
    "distinct_ips",
    "off_hours_events",
    "config_change",
    "user_management",
    "deletions",
    "sensitive_events",
]
OWN_Z_FEATURES = [f"{c}_own_z_excess" for c in BASELINE_COLUMNS]
PEER_RATIO_FEATURES = [f"{c}_peer_ratio" for c in BASELINE_COLUMNS]
NEW_FEATURES = [
    "new_ips",
    "new_user_agents",
    "new_sensitive_resources",
    "peer_new_sensitive_resources",
    "off_hours_share",
    "days_since_previous",
]
MODEL_FEATURES = LOG_COUNT_FEATURES + OWN_Z_FEATURES + PEER_RATIO_FEATURES + NEW_FEATURES


class ModelError(AuditLensError):
    """The model was misused or a stored model cannot be trusted."""


class NotFittedError(ModelError, sklearn.exceptions.NotFittedError):
    """Scoring before fitting (also scikit-learn's NotFittedError, for its tools)."""


def model_matrix(rows: pd.DataFrame) -> pd.DataFrame:
    """The model's inputs for feature rows: log volumes, clipped z-scores, log peer ratios."""
    out = pd.DataFrame(index=rows.index)
    for column in LOG_COUNT_FEATURES:
        out[column] = np.log1p(rows[column].to_numpy(dtype=np.float32).clip(min=0))
    for column in OWN_Z_FEATURES:
        # No history yet: "as usual" (0) rather than a made-up deviation.
        out[column] = np.nan_to_num(rows[column].to_numpy(dtype=np.float32), nan=0.0).clip(-5, 50)
    for column in PEER_RATIO_FEATURES:
        out[column] = np.log1p(np.nan_to_num(rows[column].to_numpy(dtype=np.float32), nan=1.0))
    for column in NEW_FEATURES:
        values = rows[column].to_numpy(dtype=np.float32)
        out[column] = np.log1p(np.nan_to_num(values, nan=0.0).clip(min=0))
    return out.astype(np.float32)


class IsolationForestDetector(BaseEstimator):
    """IsolationForest on robust-scaled features; `decision_function` is higher when odder.

    scikit-learn's BaseEstimator gives `get_params`/`set_params` and `clone`, so the
    constructor keeps each parameter as given (checked, never converted)."""

    def __init__(
        self,
        *,
        n_estimators: int = 100,
        max_samples: int | float = 256,
        contamination: float = 0.01,
        max_features: float = 1.0,
        random_state: int = 0,
    ) -> None:
        if not isinstance(n_estimators, int) or isinstance(n_estimators, bool) or n_estimators < 1:
            raise ValueError(f"n_estimators must be a whole number >= 1, got: {n_estimators!r}")
        if isinstance(max_samples, bool) or not (
            (isinstance(max_samples, int) and max_samples >= 2)
            or (isinstance(max_samples, float) and 0 < max_samples <= 1)
        ):
            raise ValueError(
                "max_samples must be a whole number >= 2 or a fraction in (0, 1],"
                f" got: {max_samples!r}"
            )
        if not isinstance(contamination, int | float) or not 0 < contamination <= 0.5:
            raise ValueError(f"contamination must be in (0, 0.5], got: {contamination}")
        if not 0 < max_features <= 1:
            raise ValueError(f"max_features must be in (0, 1], got: {max_features}")
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.contamination = contamination
        self.max_features = max_features
        self.random_state = random_state

    def fit(self, frame: pd.DataFrame, *, max_rows: int = 50_000) -> IsolationForestDetector:
        """Fit on a model matrix (columns = MODEL_FEATURES); sets the `_` attributes.

        Each tree sees `max_samples` rows anyway; a seeded sample of at most `max_rows` rows
        is enough for the scaler and the score distribution percentiles come from.
        """
        if len(frame) < 2:
            raise ModelError(f"need at least 2 user-days to fit the model, got: {len(frame)}")
        self.n_train_ = len(frame)
        if len(frame) > max_rows:
            frame = frame.sample(n=max_rows, random_state=self.random_state)
        values = frame.to_numpy(dtype=np.float32)
        self.feature_names_ = list(frame.columns)
        self.scaler_ = RobustScaler(quantile_range=(5.0, 95.0)).fit(values)
        scaled = self.scaler_.transform(values)
        self.forest_ = IsolationForest(
            n_estimators=self.n_estimators,
            max_samples=min(self.max_samples, len(frame))
            if isinstance(self.max_samples, int)
            else self.max_samples,
            # Our own threshold below: "auto" spares a second pass over the training rows.
            contamination="auto",
            # A fraction of the features: an int 1 would mean "one feature" to the forest.
            max_features=float(self.max_features),
            random_state=self.random_state,
            n_jobs=1,
        ).fit(scaled)
        self.training_scores_ = np.sort(-self.forest_.score_samples(scaled))
        self.threshold_ = float(np.quantile(self.training_scores_, 1 - self.contamination))
        self.feature_medians_ = np.median(scaled, axis=0)
        self.version_ = ""
        self.n_features_in_ = values.shape[1]
        self.fitted_at_ = datetime.now(UTC).isoformat()
        return self

    def _require_fitted(self, what: str = "call fit() before scoring") -> None:
        try:
            check_is_fitted(self)  # any attribute ending in `_` is a fitted one
        except sklearn.exceptions.NotFittedError as exc:
            raise NotFittedError(f"the model is not fitted yet: {what}") from exc

    def _scaled(self, frame: pd.DataFrame) -> np.ndarray:
        self._require_fitted()
        if list(frame.columns) != self.feature_names_:
            missing = sorted(set(self.feature_names_) - set(frame.columns))
            raise ModelError(f"feature columns differ from the fitted ones (missing: {missing})")
        return self.scaler_.transform(frame.to_numpy(dtype=np.float32))

    def decision_function(self, frame: pd.DataFrame) -> np.ndarray:
        """Anomaly scores: higher is more anomalous."""
        scaled = self._scaled(frame)  # first: it is the fitted check
        return -self.forest_.score_samples(scaled)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """1 for outliers (above the contamination threshold), else 0."""
        return (self.decision_function(frame) > self.threshold_).astype(int)

    def percentile(self, scores: np.ndarray) -> np.ndarray:
        """Where scores fall among the training scores, in [0, 1]."""
        self._require_fitted()
        ranks = np.searchsorted(self.training_scores_, scores, side="right")
        return ranks / len(self.training_scores_)

    def deviations(self, frame: pd.DataFrame) -> np.ndarray:
        """Scaled distance of each feature from the training median (for explanations)."""
        return self._scaled(frame) - self.feature_medians_

    @property
    def version(self) -> str:
        """A stable id of the parameters, the features and the fitted forest."""
        self._require_fitted("it has no version")
        if getattr(self, "version_", None):
            return str(self.version_)
        digest = hashlib.sha256(
            json.dumps(
                {"params": self.get_params(), "features": self.feature_names_, "n": self.n_train_},
                sort_keys=True,
            ).encode()
            + self.training_scores_.tobytes()
        ).hexdigest()
        self.version_ = f"{MODEL_KIND}-{digest[:12]}"
        return self.version_


def library_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "joblib": joblib.__version__,
    }


@dataclass(frozen=True)
class StoredModel:
    path: Path
    version: str
    manifest: dict[str, Any]


class ModelStore:
    """Models saved by AuditLens, one folder per organisation; loads nothing from elsewhere."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    def _folder(self, org: str) -> Path:
        from sql.gateway import check_org_id

        folder = (self.root / check_org_id(org)).resolve()
        if self.root not in folder.parents:
            raise ModelError(f"organisation id escapes the model store: {org!r}")
        return folder

    def save(
        self, org: str, model: IsolationForestDetector, *, trained_on: dict[str, Any]
    ) -> StoredModel:
        """Write the model and a manifest (digest, parameters, library versions)."""
        folder = self._folder(org)
        folder.mkdir(parents=True, exist_ok=True)
        version = model.version
        path = folder / f"{version}.joblib"
        joblib.dump(model, path)
        manifest = {
            "schema": MODEL_SCHEMA,
            "kind": MODEL_KIND,
            "version": version,
            "organization_id": org,
            "params": model.get_params(),
            "features": model.feature_names_,
            "trained_on": trained_on,
            "libraries": library_versions(),
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "saved_at": datetime.now(UTC).isoformat(),
        }
        (folder / f"{version}.json").write_text(json.dumps(manifest, indent=2, default=str))
        return StoredModel(path, version, manifest)

    def load(self, org: str, version: str) -> IsolationForestDetector:
        """Load a model this store saved; refuses unknown files, edits, other sklearn versions."""
        folder = self._folder(org)
        if not all(ch.isalnum() or ch in "-_" for ch in version):
            raise ModelError(f"not a model version: {version!r}")
        path = folder / f"{version}.joblib"
        manifest_path = folder / f"{version}.json"
        if not path.is_file() or not manifest_path.is_file():
            raise ModelError(f"no stored model {version} for {org} in {self.root}")
        manifest = json.loads(manifest_path.read_text())
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != manifest.get("sha256"):
            raise ModelError(f"stored model {version} does not match its manifest digest: refused")
        saved_with = manifest.get("libraries", {}).get("scikit-learn")
        if saved_with != sklearn.__version__:
            raise ModelError(
                f"model {version} was saved with scikit-learn {saved_with}, this is "
                f"{sklearn.__version__}: retrain it (auditlens detect)"
            )
        model = joblib.load(path)
        if not isinstance(model, IsolationForestDetector):
            raise ModelError(f"stored file {path.name} is not an AuditLens model")
        return model
