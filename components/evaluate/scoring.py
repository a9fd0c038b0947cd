"""Load and score the models on the test set: the challenger, the champion and the baseline.

Every model folder is verified against its manifest before it is loaded, and must suit the test
set (the same labels, multi-label exactly when the test set is); every score must be finite.
"""

import contextlib
import json
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np

from components.common.artifacts import MANIFEST_NAME, content_sha256, verify_manifest
from components.common.errors import KfpNlpError
from components.common.inference import Classifier, label_sets, load_classifier, predict_proba
from components.common.metrics import expected_calibration_error
from components.common.splits import read_split
from components.common.uri import download_dir
from components.evaluate.baseline import baseline_predictions, multi_label_baseline_predictions
from components.evaluate.config import EvaluateConfig
from components.evaluate.examples import Examples, encode_label_sets


@contextlib.contextmanager
def model_folder(uri: str) -> Iterator[Path]:
    """A local folder holding the model at `uri` (a local folder, or an S3 prefix copied to a
    temporary folder for the duration of the block)."""
    with tempfile.TemporaryDirectory(prefix="kfp-nlp-model-") as scratch:
        yield download_dir(uri, Path(scratch))


def score_baseline(
    train_path: Path, test: Examples, config: EvaluateConfig, source: str = ""
) -> tuple[np.ndarray, np.ndarray | None]:
    """The classic baseline, fitted on the train split, scored on the test texts: its
    probabilities, and for multi-label data its multi-hot predictions (else None)."""
    train = read_split(train_path, "train", source)
    if train.multi_label != test.multi_label:
        kinds = {True: "multi-label", False: "single-label"}
        raise KfpNlpError(
            f"the training dataset {train.source} is {kinds[train.multi_label]} but the test "
            f"set {test.source} is {kinds[test.multi_label]}; pass the train split of the same "
            "prepare_dataset run as the test split"
        )
    names = sorted({label for row in train.labels for label in row})
    unknown = sorted(set(names) - set(test.labels))
    if unknown:
        raise KfpNlpError(
            f"the training dataset {train.source} has labels {unknown} that the test set "
            f"{test.source} does not ({test.labels}); pass the train split of the same "
            "prepare_dataset run as the test split"
        )
    if len(names) < 2:
        raise KfpNlpError(
            f"the training dataset {train.source} has only the label {names[0]!r}; the "
            "baseline needs at least two: pass the train split written by prepare_dataset"
        )
    if test.multi_label:
        return multi_label_baseline_predictions(
            train.texts, train.labels, test.texts, test.labels, config.seed
        )
    probs = baseline_predictions(
        train.texts, train.single_labels, test.texts, test.labels, config.seed
    )
    return probs, None


def load_model(model_dir: Path, config: EvaluateConfig, role: str, test: Examples) -> Classifier:
    """Verify a model folder against its manifest and load it; it must be multi-label exactly
    when the test set is."""
    verify_manifest(model_dir)
    classifier = load_classifier(model_dir, config.max_length)
    if classifier.multi_label != test.multi_label:
        kinds = {True: "multi-label", False: "single-label"}
        raise KfpNlpError(
            f"the {role} model in {model_dir} is {kinds[classifier.multi_label]} but the test "
            f"set {test.source} is {kinds[test.multi_label]}; evaluate the model on a test "
            "split of the data it was trained for"
        )
    return classifier


def multi_hot(classifier: Classifier, probs: np.ndarray, labels: list[str]) -> np.ndarray:
    """A multi-label model's predictions (`label_sets`, at its decision thresholds) as multi-hot
    rows; `probs` and the result have their columns in `labels` order."""
    own_order = [labels.index(label) for label in classifier.labels]
    return encode_label_sets(label_sets(classifier, probs[:, own_order]), labels, True)


def score(
    classifier: Classifier, test: Examples, config: EvaluateConfig, model_dir: Path, role: str
) -> np.ndarray:
    """Probabilities on the test texts, columns in the test set's label order (float64), rows
    summing to one exactly for single-label models; NaN or infinite scores are an error."""
    probs = predict_proba(classifier, test.texts, config.batch_size, config.precision)
    broken = ~np.isfinite(probs).all(axis=1)
    if broken.any():
        raise KfpNlpError(
            f"the {role} model in {model_dir} gave NaN or infinite probabilities for "
            f"{int(broken.sum())} of {len(probs)} test texts (first: row "
            f"{int(np.argmax(broken))}); its weights are broken: retrain it or pass another model"
        )
    columns = [classifier.labels.index(label) for label in test.labels]
    aligned = probs[:, columns].astype(np.float64)
    if classifier.multi_label:
        return aligned
    return aligned / aligned.sum(axis=1, keepdims=True)


def check_labels(classifier: Classifier, test: Examples, model_dir: Path, role: str) -> Examples:
    """The test set, its label order completed from the challenger if it declared none."""
    if set(classifier.labels) == set(test.labels):
        return test
    if role == "challenger" and not test.declared and set(test.labels) <= set(classifier.labels):
        # A plain table without metadata: classes it lacks are absent, not a mismatch.
        return replace(test, labels=sorted(classifier.labels))
    if role == "champion":
        raise KfpNlpError(
            f"the champion in {model_dir} is a model for a different task (labels "
            f"{sorted(classifier.labels)}, the test set's are {test.labels}); pass the model "
            "now serving this task as the champion, or none"
        )
    raise KfpNlpError(
        f"the model in {model_dir} predicts labels {sorted(classifier.labels)} but the test set "
        f"{test.source} has labels {test.labels}; evaluate the model on a test split of the "
        "data it was trained for"
    )


def uncalibrated_ece(
    test: Examples, probs: np.ndarray, temperature: float, config: EvaluateConfig
) -> dict[str, float]:
    """The model's temperature and the ECE its probabilities had before temperature scaling.

    softmax(T * log p) undoes softmax(z / T), so the raw probabilities need no second scoring.
    ECE is for one label per row: a multi-label model reports its temperature only.
    """
    if test.multi_label:
        return {"temperature": temperature}
    raw = np.exp(temperature * np.log(np.clip(probs, 1e-300, 1)))
    raw /= raw.sum(axis=1, keepdims=True)
    ece = expected_calibration_error(test.y_true, raw, config.calibration_bins)
    return {"temperature": temperature, "ece_uncalibrated": ece}


def content_hash(model_dir: Path) -> str:
    """The content hash of a model folder whose manifest was verified (as the registry has it)."""
    return content_sha256(json.loads((model_dir / MANIFEST_NAME).read_text()))
