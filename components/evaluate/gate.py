"""The champion gate: may the challenger replace the model in production?

A pure function over predictions. The challenger must meet every absolute threshold, and, when
there is a champion, both models are scored on the same rows and the difference in the headline
metric gets a paired bootstrap confidence interval: the challenger is approved only if the lower
bound of (challenger - champion) is at least `-max_regression` (not worse beyond the allowed
regression, with that confidence), or above 0 when `require_improvement` is set. A challenger
whose model files are the champion's (same content hash: a retrain on unchanged data, or a
cached training step) is never approved: there is nothing new to release.

When the classic baseline (TF-IDF + logistic regression, trained on the same train split) was
scored on the same rows, the difference (model - baseline) gets the same paired bootstrap
interval, for the report. With `require_beat_baseline`, the model must beat it: a plain
comparison of the point estimates, model strictly above baseline. Not the interval's lower bound:
on a test split of a few hundred rows that would also turn away models that are better, and the
question here is whether the model is worth its cost at all, not whether it is better with 95%
confidence (the champion comparison asks that).

Multi-label data works the same way on multi-hot rows: the truth and each model's predictions
(every label at or above the model's decision threshold) are multi-hot matrices, and the headline
metric (macro-F1 by default) and its intervals are computed over labels.
"""

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from components.evaluate.baseline import BASELINE_NAME
from components.evaluate.config import EvaluateConfig
from components.evaluate.metrics import bootstrap_interval, predictions_of, report_for


@dataclass
class Comparison:
    """The headline metric of both models on the same rows, and the paired interval of the
    difference (challenger - champion)."""

    metric: str
    challenger: float
    champion: float
    delta: float
    delta_low: float
    delta_high: float
    required_low: float
    passed: bool


@dataclass
class BaselineComparison:
    """The headline metric of the model and of the classic baseline on the same rows, and the
    paired interval of the difference (model - baseline)."""

    metric: str
    model: float
    baseline: float
    delta: float
    delta_low: float
    delta_high: float
    beats: bool


@dataclass
class Decision:
    """The gate's verdict with everything it was based on."""

    approved: bool
    reason: str
    challenger: dict[str, Any]
    headline_interval: tuple[float, float]
    champion: dict[str, Any] | None = None
    comparison: Comparison | None = None
    checks: list[dict[str, Any]] = field(default_factory=list)
    baseline: dict[str, Any] | None = None
    baseline_comparison: BaselineComparison | None = None


def _threshold_checks(report: dict[str, Any], config: EvaluateConfig) -> list[dict[str, Any]]:
    checks = []
    for threshold in config.threshold_list:
        # A metric the report lacks (Hamming loss of single-label data) is undefined.
        observed = report.get(threshold.metric)
        passed = observed is not None and threshold.passes(observed)
        shown = "undefined on this test set" if observed is None else f"{observed:.4f}"
        verdict = "meets" if passed else "fails"
        detail = f"{threshold.metric} {shown} {verdict} {threshold.op} {threshold.value:g}"
        checks.append(
            {"check": str(threshold), "observed": observed, "passed": passed, "detail": detail}
        )
    return checks


def _paired_interval(
    y_true: np.ndarray,
    pred: np.ndarray,
    other_pred: np.ndarray,
    report: dict[str, Any],
    config: EvaluateConfig,
) -> tuple[float, float]:
    """The paired bootstrap interval of the headline metric's difference, `pred` minus other."""
    return bootstrap_interval(
        y_true,
        pred,
        len(report["per_class"]),
        config.headline_metric,
        config.bootstrap_resamples,
        config.confidence,
        config.seed,
        baseline_pred=other_pred,
    )


def _compare(
    y_true: np.ndarray,
    challenger_pred: np.ndarray,
    champion_pred: np.ndarray,
    challenger: dict[str, Any],
    champion: dict[str, Any],
    config: EvaluateConfig,
) -> Comparison:
    metric = config.headline_metric
    low, high = _paired_interval(y_true, challenger_pred, champion_pred, challenger, config)
    required = 0.0 if config.require_improvement else -config.max_regression
    # Strictly above 0 when an improvement is required; at least -max_regression otherwise.
    passed = low > required if config.require_improvement else low >= required
    return Comparison(
        metric=metric,
        challenger=challenger[metric],
        champion=champion[metric],
        delta=challenger[metric] - champion[metric],
        delta_low=low,
        delta_high=high,
        required_low=required,
        passed=passed,
    )


def _comparison_detail(c: Comparison, config: EvaluateConfig) -> str:
    level = f"{config.confidence:.0%}"
    interval = f"{c.delta:+.4f} ({level} CI {c.delta_low:+.4f} to {c.delta_high:+.4f})"
    if config.require_improvement:
        need = "a lower bound above 0 (require_improvement)"
    else:
        need = f"a lower bound of at least {c.required_low:+.4f} (max_regression)"
    verdict = "meets" if c.passed else "fails"
    return f"{c.metric} vs champion {interval} {verdict} {need}"


def _compare_baseline(
    y_true: np.ndarray,
    model_pred: np.ndarray,
    baseline_pred: np.ndarray,
    model: dict[str, Any],
    baseline: dict[str, Any],
    config: EvaluateConfig,
) -> BaselineComparison:
    metric = config.headline_metric
    low, high = _paired_interval(y_true, model_pred, baseline_pred, model, config)
    delta = model[metric] - baseline[metric]
    return BaselineComparison(metric, model[metric], baseline[metric], delta, low, high, delta > 0)


def _baseline_detail(c: BaselineComparison, config: EvaluateConfig) -> str:
    verdict = "beats" if c.beats else "does not beat"
    return (
        f"{c.metric} {c.model:.4f} {verdict} the {BASELINE_NAME} baseline's {c.baseline:.4f} "
        f"({c.delta:+.4f}, {config.confidence:.0%} CI {c.delta_low:+.4f} to {c.delta_high:+.4f}; "
        "require_beat_baseline)"
    )


def decide(
    y_true: np.ndarray,
    challenger_probs: np.ndarray,
    labels: list[str],
    config: EvaluateConfig,
    champion_probs: np.ndarray | None = None,
    unchanged: bool = False,
    baseline_probs: np.ndarray | None = None,
    predicted: dict[str, np.ndarray] | None = None,
) -> Decision:
    """Score the challenger (and the champion, on the same rows) and decide approval.

    Args:
        y_true: class ids of the test rows (index into `labels`).
        challenger_probs: the challenger's probabilities, shape (n, len(labels)).
        labels: class names, in column order.
        config: thresholds, headline metric, allowed regression and bootstrap settings.
        champion_probs: the champion's probabilities on the same rows, if there is a champion.
        unchanged: the challenger's files are identical to the champion's (same content hash).
        baseline_probs: the classic baseline's probabilities on the same rows, if it was scored;
            with `config.require_beat_baseline` the challenger must beat it.
        predicted: multi-label only (`y_true` multi-hot): each model's multi-hot predictions,
            under "challenger", "champion" and "baseline".

    Returns:
        The decision, its one-line reason, and the reports it was based on.
    """
    metric = config.headline_metric
    predicted = predicted or {}

    def report(role: str, probs: np.ndarray) -> tuple[dict[str, Any], np.ndarray]:
        pred = predicted.get(role)
        scored = report_for(y_true, probs, labels, config.calibration_bins, pred)
        return scored, predictions_of(probs, pred)

    challenger, challenger_pred = report("challenger", challenger_probs)
    interval = bootstrap_interval(
        y_true,
        challenger_pred,
        len(labels),
        metric,
        config.bootstrap_resamples,
        config.confidence,
        config.seed,
    )
    checks = _threshold_checks(challenger, config)
    champion = comparison = None
    if champion_probs is not None:
        champion, champion_pred = report("champion", champion_probs)
        comparison = _compare(y_true, challenger_pred, champion_pred, challenger, champion, config)
        checks.append(
            {
                "check": "champion",
                "observed": comparison.delta_low,
                "passed": comparison.passed,
                "detail": _comparison_detail(comparison, config),
            }
        )
    baseline = baseline_comparison = None
    if baseline_probs is not None:
        baseline, baseline_pred = report("baseline", baseline_probs)
        baseline_comparison = _compare_baseline(
            y_true, challenger_pred, baseline_pred, challenger, baseline, config
        )
        if config.require_beat_baseline:
            checks.append(
                {
                    "check": "baseline",
                    "observed": baseline_comparison.delta,
                    "passed": baseline_comparison.beats,
                    "detail": _baseline_detail(baseline_comparison, config),
                }
            )
    if unchanged:
        checks.append(
            {
                "check": "changed",
                "observed": None,
                "passed": False,
                "detail": "the challenger's model files are identical to the champion's (same "
                "content hash); nothing new to release",
            }
        )
    approved = all(check["passed"] for check in checks)
    if unchanged:
        reason = "unchanged: " + checks[-1]["detail"]
    elif not checks:
        reason = (
            f"approved: no thresholds and no champion; {metric} {challenger[metric]:.4f} "
            f"({config.confidence:.0%} CI {interval[0]:.4f} to {interval[1]:.4f})"
        )
    elif approved:
        reason = "approved: " + "; ".join(check["detail"] for check in checks)
    else:
        reason = "rejected: " + "; ".join(c["detail"] for c in checks if not c["passed"])
    return Decision(
        approved=approved,
        reason=reason,
        challenger=challenger,
        headline_interval=interval,
        champion=champion,
        comparison=comparison,
        checks=checks,
        baseline=baseline,
        baseline_comparison=baseline_comparison,
    )
