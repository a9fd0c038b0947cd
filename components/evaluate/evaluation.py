"""Evaluate a fine-tuned classifier on a test set, per slice and against the champion.

Single-label and multi-label models alike: a multi-label model's predictions are its label sets
(`label_sets`: every label at or above the model's decision threshold), compared with the test
rows' label sets as multi-hot rows.

`evaluate` reads the test Dataset (`examples`), verifies and scores the challenger and the
champion on the same rows (`scoring`), computes every metric per slice (`slices`), lists the
most confident mistakes (`mistakes`) and asks the gate for a decision (`gate`).
`outputs.write_outputs` then writes the HTML report, the predictions table and the metrics
summary, each committed only when complete. Every bad input is found before anything is written.
"""

from pathlib import Path

import numpy as np

from components.common.errors import KfpNlpError
from components.evaluate.config import EvaluateConfig
from components.evaluate.examples import Examples, read_test_set
from components.evaluate.gate import decide
from components.evaluate.mistakes import most_confident_mistakes
from components.evaluate.result import Evaluation
from components.evaluate.scoring import (
    check_labels,
    content_hash,
    load_model,
    multi_hot,
    score,
    score_baseline,
    uncalibrated_ece,
)
from components.evaluate.slices import slice_rows, slice_values


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
        slice_values(test, column)
    # Both models are loaded and checked before either is scored: a mismatch fails fast.
    challenger = load_model(model_dir, config, "challenger", test)
    test = check_labels(challenger, test, model_dir, "challenger")
    champion = None
    unchanged = False
    if champion_dir is not None:
        champion = load_model(champion_dir, config, "champion", test)
        check_labels(champion, test, champion_dir, "champion")
        unchanged = content_hash(model_dir) == content_hash(champion_dir)
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
        slices=slice_rows(test, probs, champion_probs, config, predicted),
        mistakes=most_confident_mistakes(
            test, probs, config.mistakes_shown, predicted.get("challenger")
        ),
        model_source=model_source,
        champion_source=champion_source,
        predicted=predicted or None,
    )
