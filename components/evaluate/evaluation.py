"""Evaluate a fine-tuned classifier on a test set, per slice and against the champion.

Single-label and multi-label models alike: a multi-label model's predictions are its label sets
(`label_sets`: every label at or above the model's decision threshold), compared with the test
rows' label sets as multi-hot rows.

`evaluate` reads the test Dataset, verifies and scores the challenger (and the
champion, on the same rows), computes every metric, slices them, and asks the gate for a
decision. `write_outputs` then writes the HTML report, the predictions table and the metrics
summary, each committed only when complete. Every bad input is found before anything is written.
"""

import contextlib
import json
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from components.common.artifacts import (
    MANIFEST_NAME,
    content_sha256,
    encode_dataset_metadata,
    verify_manifest,
)
from components.common.errors import KfpNlpError
from components.common.inference import Classifier, label_sets, load_classifier, predict_proba
from components.common.metrics import expected_calibration_error
from components.common.splits import label_matrix, read_split
from components.common.tables import write_parquet
from components.common.uri import atomic_outputs, download_dir
from components.evaluate.baseline import baseline_predictions, multi_label_baseline_predictions
from components.evaluate.config import TEXT_LENGTH_SLICE, EvaluateConfig
from components.evaluate.gate import Decision, decide
from components.evaluate.metrics import (
    bootstrap_interval,
    headline_value,
    predictions_of,
    report_for,
    reported_metrics,
)
from components.evaluate.report import render_report

MAX_SLICE_VALUES = 25
# Texts longer than this are shortened in the report's list of mistakes (not in predictions).
MISTAKE_CHARS = 400
# Word-count buckets of the derived `text_length` slice: (upper bound inclusive, name).
_LENGTH_BUCKETS = ((3, "1-3 words"), (10, "4-10 words"), (30, "11-30 words"))


@dataclass
class Examples:
    """The test examples: the table as read, texts, label names, the label order.

    `names` holds each row's label, or for multi-label data each row's list of labels.

    `declared` says whether the label order came from the Dataset's metadata (prepare_dataset
    records it); a plain table only shows the labels that occur in it.
    """

    table: pa.Table
    texts: list[str]
    names: list[str] | list[list[str]]
    labels: list[str]
    declared: bool
    source: str
    multi_label: bool = False

    @cached_property
    def y_true(self) -> np.ndarray:
        """Class ids (single-label), or multi-hot rows (n, labels) for multi-label data."""
        sets = self.names if self.multi_label else [[name] for name in self.names]
        return _encode(sets, self.labels, self.multi_label)


def _encode(sets: list[list[str]], labels: list[str], multi_label: bool) -> np.ndarray:
    if not multi_label:
        index = {label: i for i, label in enumerate(labels)}
        return np.array([index[row[0]] for row in sets], dtype=np.int64)
    return label_matrix(sets, labels).astype(np.int64)


@dataclass
class Evaluation:
    """Everything the outputs are written from."""

    test: Examples
    config: EvaluateConfig
    probs: np.ndarray
    champion_probs: np.ndarray | None
    decision: Decision
    slices: list[dict[str, Any]]
    mistakes: list[dict[str, Any]]
    model_source: str
    champion_source: str | None
    # The challenger's temperature and its test ECE without it (see `uncalibrated_ece`).
    calibration: dict[str, float] | None = None
    # Multi-label: each model's multi-hot predictions ("challenger", "champion", "baseline")
    # and the challenger's decision thresholds, both in the test set's label order.
    predicted: dict[str, np.ndarray] | None = None
    thresholds: list[float] | None = None


@contextlib.contextmanager
def model_folder(uri: str) -> Iterator[Path]:
    """A local folder holding the model at `uri` (a local folder, or an S3 prefix copied to a
    temporary folder for the duration of the block)."""
    with tempfile.TemporaryDirectory(prefix="kfp-nlp-model-") as scratch:
        yield download_dir(uri, Path(scratch))


def read_test_set(path: Path, source: str = "") -> Examples:
    """Read a test Dataset (Parquet from prepare_dataset, or any CSV/TSV/JSONL/Parquet table).

    `source` names it in messages and the report (default: the path).
    """
    split = read_split(path, "test", source)
    labels = split.declared_labels or sorted({label for row in split.labels for label in row})
    declared = bool(split.declared_labels)
    names = split.labels if split.multi_label else split.single_labels
    return Examples(
        split.table, split.texts, names, labels, declared, split.source, split.multi_label
    )


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
    return _encode(label_sets(classifier, probs[:, own_order]), labels, True)


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


def _check_labels(classifier: Classifier, test: Examples, model_dir: Path, role: str) -> Examples:
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


def _slice_values(test: Examples, column: str) -> list[str]:
    if column in test.table.column_names:
        values = test.table.column(column).cast(pa.string())
        return [v if v is not None else "(missing)" for v in values.to_pylist()]
    if column == TEXT_LENGTH_SLICE:
        words = pc.utf8_split_whitespace(pa.array(test.texts)).to_pylist()
        return [
            next((name for bound, name in _LENGTH_BUCKETS if len(w) <= bound), "31+ words")
            for w in words
        ]
    raise KfpNlpError(
        f"slice column {column!r} is not in the test set {test.source} (columns: "
        f"{', '.join(test.table.column_names)}); name an existing column or '{TEXT_LENGTH_SLICE}'"
    )


def _slice_rows(
    test: Examples,
    probs: np.ndarray,
    champion_probs: np.ndarray | None,
    config: EvaluateConfig,
    predicted: dict[str, np.ndarray],
) -> list[dict[str, Any]]:
    metric = config.headline_metric
    rows = []
    for column in config.slice_list:
        values = np.array(_slice_values(test, column), dtype=object)
        names, counts = np.unique(values, return_counts=True)
        for value in names[np.argsort(-counts, kind="stable")][:MAX_SLICE_VALUES]:
            mask = values == value
            y, p = test.y_true[mask], probs[mask]
            pred = predicted["challenger"][mask] if "challenger" in predicted else None
            report = report_for(y, p, test.labels, config.calibration_bins, pred)
            low, high = bootstrap_interval(
                y,
                predictions_of(p, pred),
                len(test.labels),
                metric,
                config.bootstrap_resamples,
                config.confidence,
                config.seed,
            )
            row = {"column": column, "value": str(value), "n": int(mask.sum())}
            row["values_in_column"] = len(names)
            row |= {name: report[name] for name in reported_metrics(test.multi_label)}
            row[f"{metric}_ci"] = [low, high]
            if champion_probs is not None:
                champion = predicted["champion"][mask] if "champion" in predicted else None
                champion_pred = predictions_of(champion_probs[mask], champion)
                row[f"champion_{metric}"] = headline_value(
                    y, champion_pred, len(test.labels), metric
                )
            rows.append(row)
    return rows


def _shorten(text: str) -> str:
    return text if len(text) <= MISTAKE_CHARS else text[: MISTAKE_CHARS - 1] + "…"


def _multi_label_mistakes(
    test: Examples, probs: np.ndarray, predicted: np.ndarray, count: int
) -> list[dict[str, Any]]:
    """Rows whose predicted set is not the true set, the most confidently wrong first: the
    confidence of a wrong decision is p for a label predicted wrongly, 1 - p for one missed."""
    truth = test.y_true
    wrong_cells = predicted != truth
    confidence = np.where(wrong_cells, np.where(predicted == 1, probs, 1 - probs), 0).max(axis=1)
    wrong = np.flatnonzero(wrong_cells.any(axis=1))
    worst = wrong[np.argsort(-confidence[wrong], kind="stable")][:count]
    labels = np.array(test.labels, dtype=object)
    return [
        {
            "row": int(i),
            "text": _shorten(test.texts[i]),
            "label": ", ".join(labels[truth[i] == 1]) or "(none)",
            "predicted": ", ".join(labels[predicted[i] == 1]) or "(none)",
            "confidence": float(confidence[i]),
        }
        for i in worst
    ]


def _mistakes(
    test: Examples, probs: np.ndarray, count: int, multi_hot_pred: np.ndarray | None = None
) -> list[dict[str, Any]]:
    if multi_hot_pred is not None:
        return _multi_label_mistakes(test, probs, multi_hot_pred, count)
    predicted = probs.argmax(axis=1)
    confidence = probs.max(axis=1)
    wrong = np.flatnonzero(predicted != test.y_true)
    worst = wrong[np.argsort(-confidence[wrong], kind="stable")][:count]
    return [
        {
            "row": int(i),
            "text": _shorten(test.texts[i]),
            "label": test.labels[test.y_true[i]],
            "predicted": test.labels[predicted[i]],
            "confidence": float(confidence[i]),
        }
        for i in worst
    ]


def evaluate(
    model_dir: Path,
    test_path: Path,
    config: EvaluateConfig,
    champion_dir: Path | None = None,
    model_source: str = "",
    champion_source: str = "",
    test_source: str = "",
    train_path: Path | None = None,
    train_source: str = "",
) -> Evaluation:
    """Score the challenger (and champion) on the test set and decide approval.

    Args:
        model_dir: the challenger: a model folder written by finetune_classifier.
        test_path: the test Dataset (Parquet from prepare_dataset).
        config: metric, slice and gate settings.
        champion_dir: the model now in production, if any (a local model folder).
        model_source: how to name the challenger in the report (default: its folder).
        champion_source: how to name the champion in the report (default: its folder).
        test_source: how to name the test set in the report (default: its path).
        train_path: the train split the model was fine-tuned on; when given, a TF-IDF +
            logistic regression baseline is trained on it and scored beside the model.
        train_source: how to name the train split in messages (default: its path).

    Returns:
        The evaluation; nothing has been written yet.
    """
    if config.require_beat_baseline and train_path is None:
        raise KfpNlpError(
            "require_beat_baseline needs the train split to train the baseline on: pass the "
            "train Dataset of prepare_dataset (train input, --train) or turn the setting off"
        )
    test = read_test_set(test_path, test_source)
    # Fail on settings the test set cannot satisfy before spending time on scoring.
    for column in config.slice_list:
        _slice_values(test, column)
    # Both models are loaded and checked before either is scored: a mismatch fails fast.
    challenger = load_model(model_dir, config, "challenger", test)
    test = _check_labels(challenger, test, model_dir, "challenger")
    champion = None
    unchanged = False
    if champion_dir is not None:
        champion = load_model(champion_dir, config, "champion", test)
        _check_labels(champion, test, champion_dir, "champion")
        unchanged = _content_sha256(model_dir) == _content_sha256(champion_dir)
    baseline = None
    predicted: dict[str, np.ndarray] = {}
    if train_path is not None:
        baseline, baseline_pred = score_baseline(train_path, test, config, train_source)
        if baseline_pred is not None:
            predicted["baseline"] = baseline_pred
    probs = score(challenger, test, config, model_dir, "challenger")
    champion_probs = None
    if champion is not None:
        # The same files predict the same: no need to score the champion again.
        champion_probs = (
            probs if unchanged else score(champion, test, config, champion_dir, "champion")
        )
    thresholds = None
    if test.multi_label:
        predicted["challenger"] = multi_hot(challenger, probs, test.labels)
        if champion is not None:
            predicted["champion"] = multi_hot(champion, champion_probs, test.labels)
        own = dict(zip(challenger.labels, challenger.thresholds or [], strict=True))
        thresholds = [own[label] for label in test.labels]
    evaluation = assemble(
        test,
        config,
        probs,
        champion_probs,
        model_source or str(model_dir),
        (champion_source or str(champion_dir)) if champion_dir else None,
        unchanged=unchanged,
        baseline_probs=baseline,
        predicted=predicted,
    )
    evaluation.thresholds = thresholds
    evaluation.calibration = uncalibrated_ece(test, probs, challenger.temperature, config)
    return evaluation


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


def _content_sha256(model_dir: Path) -> str:
    """The content hash of a model folder whose manifest was verified (as the registry has it)."""
    return content_sha256(json.loads((model_dir / MANIFEST_NAME).read_text()))


def assemble(
    test: Examples,
    config: EvaluateConfig,
    probs: np.ndarray,
    champion_probs: np.ndarray | None,
    model_source: str,
    champion_source: str | None,
    unchanged: bool = False,
    baseline_probs: np.ndarray | None = None,
    predicted: dict[str, np.ndarray] | None = None,
) -> Evaluation:
    """The evaluation of given predictions: gate decision, slices and mistakes; `unchanged`
    says the challenger's files are the champion's (see `gate.decide`); `baseline_probs` are
    the classic baseline's on the same rows, if it was scored; `predicted` holds each model's
    multi-hot predictions for multi-label data."""
    predicted = predicted or {}
    return Evaluation(
        test=test,
        config=config,
        probs=probs,
        champion_probs=champion_probs,
        decision=decide(
            test.y_true,
            probs,
            test.labels,
            config,
            champion_probs,
            unchanged,
            baseline_probs,
            predicted,
        ),
        slices=_slice_rows(test, probs, champion_probs, config, predicted),
        mistakes=_mistakes(test, probs, config.mistakes_shown, predicted.get("challenger")),
        model_source=model_source,
        champion_source=champion_source,
        predicted=predicted or None,
    )


def predictions_table(evaluation: Evaluation) -> pa.Table:
    """One row per test example: its columns, the prediction, confidence and probabilities."""
    test, labels = evaluation.test, evaluation.test.labels
    if test.multi_label:
        return _with_columns(test.table, _multi_label_columns(evaluation))
    predicted = evaluation.probs.argmax(axis=1)
    columns = {
        "predicted_label": pa.array([labels[i] for i in predicted], pa.string()),
        "confidence": pa.array(evaluation.probs.max(axis=1)),
        "correct": pa.array(predicted == test.y_true),
        "probabilities": pa.array(list(evaluation.probs), pa.list_(pa.float64())),
    }
    if evaluation.champion_probs is not None:
        champion = evaluation.champion_probs
        columns["champion_predicted_label"] = pa.array(
            [labels[i] for i in champion.argmax(axis=1)], pa.string()
        )
        columns["champion_probabilities"] = pa.array(list(champion), pa.list_(pa.float64()))
    return _with_columns(test.table, columns)


def _multi_label_columns(evaluation: Evaluation) -> dict[str, pa.Array]:
    """Multi-label: the predicted label set of each row, whether it is the true set, and the
    probabilities (of the champion too, if there is one)."""
    labels = np.array(evaluation.test.labels, dtype=object)
    predicted = evaluation.predicted or {}

    def sets(hot: np.ndarray) -> pa.Array:
        return pa.array([list(labels[row == 1]) for row in hot], pa.list_(pa.string()))

    challenger = predicted["challenger"]
    columns = {
        "predicted_labels": sets(challenger),
        "correct": pa.array((challenger == evaluation.test.y_true).all(axis=1)),
        "probabilities": pa.array(list(evaluation.probs), pa.list_(pa.float64())),
    }
    if evaluation.champion_probs is not None:
        columns["champion_predicted_labels"] = sets(predicted["champion"])
        columns["champion_probabilities"] = pa.array(
            list(evaluation.champion_probs), pa.list_(pa.float64())
        )
    return columns


def _with_columns(table: pa.Table, columns: dict[str, pa.Array]) -> pa.Table:
    table = table.replace_schema_metadata(None)
    for name, values in columns.items():
        if name in table.column_names:
            table = table.drop_columns(name)
        table = table.append_column(name, values)
    return table


def summary(evaluation: Evaluation) -> dict[str, Any]:
    """The evaluation as plain JSON-able data (no texts besides the listed mistakes)."""
    decision = evaluation.decision
    return {
        "approved": decision.approved,
        "reason": decision.reason,
        "labels": evaluation.test.labels,
        "test_source": evaluation.test.source,
        "model_source": evaluation.model_source,
        "champion_source": evaluation.champion_source,
        "headline_interval": list(decision.headline_interval),
        "checks": decision.checks,
        "challenger": decision.challenger,
        "champion": decision.champion,
        "comparison": asdict(decision.comparison) if decision.comparison else None,
        "baseline": decision.baseline,
        "baseline_comparison": (
            asdict(decision.baseline_comparison) if decision.baseline_comparison else None
        ),
        "slices": evaluation.slices,
        "mistakes": evaluation.mistakes,
        "calibration": evaluation.calibration,
        "multi_label": evaluation.test.multi_label,
        "decision_thresholds": (
            dict(zip(evaluation.test.labels, evaluation.thresholds, strict=True))
            if evaluation.thresholds
            else None
        ),
    }


def scalar_metrics(evaluation: Evaluation, config: EvaluateConfig) -> dict[str, float]:
    """The headline numbers for the KFP Metrics artifact (undefined metrics are left out)."""
    decision = evaluation.decision
    metric = config.headline_metric
    names = reported_metrics(evaluation.test.multi_label)
    values: dict[str, float | None] = {k: decision.challenger[k] for k in names}
    values[f"{metric}_ci_low"], values[f"{metric}_ci_high"] = decision.headline_interval
    if decision.comparison:
        c = decision.comparison
        values |= {f"champion_{metric}": c.champion, f"delta_{metric}": c.delta}
        values |= {f"delta_{metric}_ci_low": c.delta_low, f"delta_{metric}_ci_high": c.delta_high}
    if decision.baseline_comparison:
        b = decision.baseline_comparison
        values |= {f"baseline_{metric}": b.baseline, f"model_minus_baseline_{metric}": b.delta}
        values |= {
            f"model_minus_baseline_{metric}_ci_low": b.delta_low,
            f"model_minus_baseline_{metric}_ci_high": b.delta_high,
        }
    values |= evaluation.calibration or {}
    values["approved"] = float(decision.approved)
    return {k: float(v) for k, v in values.items() if v is not None}


def write_outputs(
    evaluation: Evaluation,
    report_uri: str,
    predictions_uri: str,
    summary_uri: str | None = None,
) -> None:
    """Write the HTML report, the predictions Parquet and (optionally) the JSON summary.

    Each is a local path or an S3 URI; they appear together, once all are completely written.
    """
    html_text = render_report(evaluation)
    facts = {
        "labels": evaluation.test.labels,
        "rows": len(evaluation.test.texts),
        "split": "predictions",
        "source_uri": evaluation.test.source,
        "multi_label": evaluation.test.multi_label,
    }
    targets = {"predictions": predictions_uri, "report": report_uri}
    if summary_uri is not None:
        targets["summary"] = summary_uri
    with atomic_outputs(targets) as staged:
        write_parquet(
            predictions_table(evaluation), staged["predictions"], encode_dataset_metadata(facts)
        )
        staged["report"].write_text(html_text, encoding="utf-8")
        if summary_uri is not None:
            staged["summary"].write_text(json.dumps(summary(evaluation), indent=2))
