"""Compare a window of what a served classifier saw with its reference, and decide on drift.

    python -m components.monitor --model-uri MODEL --current-uri LOG_PREFIX_OR_TABLE \
        --report-path report.html [--reference-uri TABLE] [--window-hours 24]

Tests (each a p-value; the alert is Bonferroni-corrected so that on windows from the
reference's own distribution it fires at most `significance` of the time):
  text length      Kolmogorov-Smirnov on characters per text
  rare tokens      Mann-Whitney U on the per-text share of tokens (or [UNK]) never seen in half
                   of the reference; the other half is what the window is compared with
  character mix    chi-square on each text's kind (ASCII words, digits, other scripts, no letters)
  embeddings       MMD with a Gaussian kernel on the model's mean-pooled sentence embeddings,
                   permutation p-value
  predicted labels chi-square on label counts (PSI reported beside it)
  confidence       Kolmogorov-Smirnov on the top calibrated probability
And a label-free performance estimate: expected accuracy (mean confidence) and expected
macro-F1 from the calibrated probabilities, with an interval; it alerts when the whole interval
lies `max_f1_drop` below the reference's macro-F1. With true labels in the window, the real
metrics and the estimate's error are reported too.
"""

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from components.common.artifacts import LABEL, MANIFEST_NAME, TEXT, local_model_dir
from components.common.errors import KfpNlpError
from components.common.inference import Classifier, load_classifier
from components.common.metrics import macro_f1
from components.monitor import statistics as st
from components.monitor.config import MonitorConfig
from components.monitor.result import Monitoring
from components.monitor.windows import (
    Window,
    check_columns,
    read_table,
    read_window,
    reference_uri_from,
    sample,
    window_from_table,
)


def _test(name: str, what: str, p_value: float, **detail: float) -> dict[str, Any]:
    return {"name": name, "what": what, "p_value": p_value, **detail}


def _rare_rates(reference: Window, current: Window, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-text share of tokens unseen in a random half of the reference, for the other half
    of the reference and for the window (special tokens left out)."""
    rng = np.random.default_rng(seed)
    half = rng.permutation(len(reference)) < len(reference) // 2
    known = {t for tokens, a in zip(reference.tokens, half, strict=True) if a for t in tokens}

    def rates(rows: list[list[int]]) -> np.ndarray:
        # The first and last ids are [CLS] and [SEP].
        inner = [row[1:-1] or row for row in rows]
        return np.array([np.mean([t not in known for t in row]) for row in inner])

    rest = [tokens for tokens, a in zip(reference.tokens, half, strict=True) if not a]
    return rates(rest), rates(current.tokens)


def drift_tests(reference: Window, current: Window, config: MonitorConfig) -> list[dict]:
    """Every test the two windows support, with its p-value and effect size."""
    k = reference.probs.shape[1]
    tests = [
        _test("text length", "characters per text", st.ks_test(reference.lengths, current.lengths))
    ]
    if reference.texts is not None and current.texts is not None:
        ref_rates, cur_rates = _rare_rates(reference, current, config.seed)
        tests.append(
            _test(
                "rare tokens",
                "share of tokens unseen in the reference",
                st.rank_test(ref_rates, cur_rates),
                reference=float(ref_rates.mean()),
                current=float(cur_rates.mean()),
            )
        )
        kinds = len(st.TEXT_KINDS)
        ref_kinds = np.bincount([st.char_class(t) for t in reference.texts], minlength=kinds)
        cur_kinds = np.bincount([st.char_class(t) for t in current.texts], minlength=kinds)
        tests.append(
            _test(
                "character mix",
                "kind of text: " + ", ".join(st.TEXT_KINDS),
                st.counts_test(ref_kinds, cur_kinds),
                psi=st.psi(ref_kinds, cur_kinds),
            )
        )
    if reference.embeddings is not None and current.embeddings is not None:
        mmd, p_value = st.mmd_test(
            reference.embeddings, current.embeddings, config.permutations, config.seed
        )
        tests.append(
            _test("embeddings", "MMD of the model's sentence embeddings", p_value, mmd2=mmd)
        )
    ref_pred = np.bincount(reference.probs.argmax(1), minlength=k)
    cur_pred = np.bincount(current.probs.argmax(1), minlength=k)
    tests.append(
        _test(
            "predicted labels",
            "label distribution",
            st.counts_test(ref_pred, cur_pred),
            psi=st.psi(ref_pred, cur_pred),
        )
    )
    tests.append(
        _test(
            "confidence",
            "top calibrated probability",
            st.ks_test(reference.probs.max(1), current.probs.max(1)),
            reference=float(reference.probs.max(1).mean()),
            current=float(current.probs.max(1).mean()),
        )
    )
    return tests


def estimate(
    reference: Window, current: Window, reference_f1: float | None, config: MonitorConfig
) -> dict[str, Any]:
    """The label-free estimate on the window, and the real metrics where labels are given."""
    k = current.probs.shape[1]
    low, high = st.f1_interval(current.probs, seed=config.seed)
    result: dict[str, Any] = {
        "expected_accuracy": float(current.probs.max(1).mean()),
        "expected_macro_f1": st.expected_macro_f1(current.probs),
        "expected_macro_f1_low": low,
        "expected_macro_f1_high": high,
        "reference_macro_f1": reference_f1,
        "reference_expected_macro_f1": st.expected_macro_f1(reference.probs),
    }
    if current.y_true is not None:
        predicted = current.probs.argmax(1)
        real = macro_f1(current.y_true, predicted, k, averaged="observed")
        result |= {
            "accuracy": float(np.mean(predicted == current.y_true)),
            "macro_f1": real,
            "estimate_error": result["expected_macro_f1"] - real,
        }
    return result


def decide(
    tests: list[dict], estimated: dict[str, Any], config: MonitorConfig
) -> tuple[bool, str, float]:
    """Bonferroni over the tests, plus the estimated quality loss; (drift, reason, threshold)."""
    threshold = config.significance / len(tests)
    failed = sorted((t for t in tests if t["p_value"] < threshold), key=lambda t: t["p_value"])
    reasons = [f"{t['name']} (p={t['p_value']:.2g})" for t in failed]
    reference_f1 = estimated["reference_macro_f1"]
    if reference_f1 is not None and estimated["expected_macro_f1_high"] < (
        reference_f1 - config.max_f1_drop
    ):
        reasons.append(
            f"estimated macro-F1 {estimated['expected_macro_f1']:.3f} "
            f"(at most {estimated['expected_macro_f1_high']:.3f}) against {reference_f1:.3f}"
        )
    if reasons:
        return True, "drift: " + "; ".join(reasons), threshold
    return (
        False,
        f"no drift: {len(tests)} tests all above p={threshold:.2g} (Bonferroni, "
        f"significance {config.significance:g}); estimated macro-F1 "
        f"{estimated['expected_macro_f1']:.3f}",
        threshold,
    )


def compare(
    reference: Window,
    current: Window,
    labels: list[str],
    config: MonitorConfig,
    reference_f1: float | None = None,
) -> Monitoring:
    """Test `current` against `reference` (both already profiled) and decide."""
    if len(current) < config.min_window_size:
        return Monitoring(
            drift_detected=False,
            reason=f"no decision: the window has {len(current)} texts, fewer than "
            f"min_window_size {config.min_window_size}",
            labels=labels,
            reference_size=len(reference),
            current_size=len(current),
            reference=reference,
            current=current,
        )
    if reference_f1 is None and reference.y_true is not None:
        reference_f1 = macro_f1(
            reference.y_true, reference.probs.argmax(1), len(labels), averaged="observed"
        )
    tests = drift_tests(reference, current, config)
    estimated = estimate(reference, current, reference_f1, config)
    drift, reason, threshold = decide(tests, estimated, config)
    return Monitoring(
        drift_detected=drift,
        reason=reason,
        labels=labels,
        reference_size=len(reference),
        current_size=len(current),
        tests=tests,
        threshold=threshold,
        estimate=estimated,
        reference=reference,
        current=current,
    )


def _load(model_dir: Path, config: MonitorConfig, source: str) -> Classifier:
    classifier = load_classifier(model_dir, config.max_length)
    if classifier.multi_label:
        raise KfpNlpError(
            f"the model {source} is multi-label; monitor_classifier handles single-label models"
        )
    return classifier


def _reference_config(columns: list[str], config: MonitorConfig) -> MonitorConfig:
    """The settings for reading the reference: a Dataset artifact (the default reference)
    names its columns `text` and `label`, whatever the window's text column is called."""
    if config.text_column in columns or TEXT not in columns:
        return config
    return replace(config, text_column=TEXT, label_column=LABEL)


def monitor(
    model_uri: str, current_uri: str, reference_uri: str, config: MonitorConfig
) -> Monitoring:
    """Monitor the model at `model_uri` on `current_uri` against `reference_uri` (default: the
    model's test split, from its provenance)."""
    with local_model_dir(model_uri) as model_dir:
        provenance = json.loads((model_dir / MANIFEST_NAME).read_text()).get("provenance", {})
        reference_uri = reference_uri or reference_uri_from(provenance, model_uri)
        current_table = read_window(current_uri, config)
        reference_table = read_table(reference_uri)
        check_columns(current_table, config, current_uri)
        reference_config = _reference_config(reference_table.column_names, config)
        check_columns(reference_table, reference_config, reference_uri)
        classifier = _load(model_dir, config, model_uri)
        current = sample(
            window_from_table(current_table, classifier, config, current_uri),
            config.max_texts,
            config.seed,
        )
        reference = sample(
            window_from_table(reference_table, classifier, reference_config, reference_uri),
            config.max_texts,
            config.seed + 1,
        )
    recorded_f1 = provenance.get("metrics", {}).get("val_macro_f1")
    result = compare(
        reference,
        current,
        classifier.labels,
        config,
        None if reference.y_true is not None else recorded_f1,
    )
    result.sources = {"model": model_uri, "reference": reference_uri, "current": current_uri}
    return result


def scalar_metrics(result: Monitoring) -> dict[str, float]:
    """The numbers for the KFP Metrics artifact (undefined ones left out)."""
    values: dict[str, Any] = {
        "drift_detected": float(result.drift_detected),
        "reference_size": result.reference_size,
        "current_size": result.current_size,
    }
    for test in result.tests:
        values[f"p_{test['name'].replace(' ', '_')}"] = test["p_value"]
    values |= result.estimate
    return {k: float(v) for k, v in values.items() if v is not None}


def summary(result: Monitoring, report_path: str = "") -> dict[str, Any]:
    """The outcome as one JSON-able object (what the CLI prints)."""
    return {
        "drift_detected": result.drift_detected,
        "reason": result.reason,
        "reference_macro_f1": result.estimate.get("reference_macro_f1"),
        "estimated_macro_f1": result.estimate.get("expected_macro_f1"),
        "estimate": result.estimate,
        "tests": result.tests,
        "bonferroni_threshold": result.threshold,
        "reference_size": result.reference_size,
        "current_size": result.current_size,
        "sources": result.sources,
        "report": report_path,
    }
