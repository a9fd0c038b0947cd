"""Settings of `evaluate_classifier`: the one home of their defaults."""

import re
from dataclasses import dataclass, field

from components.common.config import require
from components.common.slices import TEXT_LENGTH_SLICE, column_names
from components.evaluate.metrics import HEADLINE_METRICS, MULTI_LABEL_METRICS, SCALAR_METRICS

# Every metric a threshold can name; one a report lacks (Hamming loss of single-label data, or
# ECE of multi-label data) is undefined there and fails its threshold.
THRESHOLD_METRICS = (*SCALAR_METRICS, *(m for m in MULTI_LABEL_METRICS if m not in SCALAR_METRICS))
_THRESHOLD = re.compile(r"^\s*([a-z_0-9]+)\s*(>=|<=)\s*([-+0-9.eE]+)\s*$")


@dataclass(frozen=True)
class Threshold:
    """One absolute requirement on the challenger, such as `macro_f1>=0.8`."""

    metric: str
    op: str
    value: float

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.value:g}"

    def passes(self, observed: float) -> bool:
        return observed >= self.value if self.op == ">=" else observed <= self.value


def parse_thresholds(spec: str) -> list[Threshold]:
    """Parse `metric>=value,metric<=value,...` (an empty string means no thresholds)."""
    thresholds = []
    for part in filter(str.strip, spec.split(",")):
        match = _THRESHOLD.match(part)
        require(
            match is not None,
            f"threshold {part.strip()!r} is not of the form METRIC>=VALUE or METRIC<=VALUE; "
            "write for example macro_f1>=0.8,log_loss<=0.6",
        )
        metric, op, value = match.groups()
        require(
            metric in THRESHOLD_METRICS,
            f"threshold {part.strip()!r} names unknown metric {metric!r}; "
            f"use one of {', '.join(THRESHOLD_METRICS)}",
        )
        try:
            number = float(value)
        except ValueError:
            number = None
        require(number is not None, f"threshold {part.strip()!r} has no valid number")
        thresholds.append(Threshold(metric, op, number))
    return thresholds


@dataclass
class EvaluateConfig:
    """How to score the challenger, slice the results and decide whether it may replace the
    champion."""

    headline_metric: str = field(
        default="macro_f1",
        metadata={
            "help": "the metric compared with the champion and given a bootstrap confidence "
            "interval: " + ", ".join(HEADLINE_METRICS)
        },
    )
    thresholds: str = field(
        default="",
        metadata={
            "help": "absolute requirements on the challenger's point estimates, comma-separated, "
            "such as 'macro_f1>=0.8,ece<=0.1'; an undefined metric fails its requirement; "
            "metrics: " + ", ".join(THRESHOLD_METRICS)
        },
    )
    max_regression: float = field(
        default=0.01,
        metadata={
            "help": "largest drop in the headline metric against the champion that is still "
            "approved: the lower confidence bound of (challenger - champion) must be at least "
            "-max_regression"
        },
    )
    require_improvement: bool = field(
        default=False,
        metadata={
            "help": "approve only a challenger better than the champion with the given "
            "confidence (lower bound of the difference above 0; replaces max_regression)"
        },
    )
    require_beat_baseline: bool = field(
        default=False,
        metadata={
            "help": "approve only a model whose headline metric is above that of a TF-IDF + "
            "logistic regression baseline trained on the train split (which must then be given)"
        },
    )
    confidence: float = field(
        default=0.95, metadata={"help": "confidence level of the bootstrap intervals"}
    )
    bootstrap_resamples: int = field(
        default=1000, metadata={"help": "bootstrap resamples for each confidence interval"}
    )
    seed: int = field(default=0, metadata={"help": "seed of the bootstrap resampling"})
    slice_columns: str = field(
        default="",
        metadata={
            "help": "comma-separated test set columns to report metrics for per value "
            f"(e.g. channel,locale); '{TEXT_LENGTH_SLICE}' slices by the text's word count"
        },
    )
    calibration_bins: int = field(
        default=15,
        metadata={"help": "bins of the expected calibration error and the reliability diagram"},
    )
    mistakes_shown: int = field(
        default=10, metadata={"help": "how many of the most confident mistakes the report lists"}
    )
    max_length: int = field(default=128, metadata={"help": "tokens per text when scoring"})
    batch_size: int = field(default=64, metadata={"help": "texts per scoring batch"})
    precision: str = field(
        default="auto", metadata={"help": "scoring precision: auto, fp32, bf16 or fp16"}
    )

    def __post_init__(self) -> None:
        require(
            self.headline_metric in HEADLINE_METRICS,
            f"headline_metric {self.headline_metric!r} is not one of "
            f"{', '.join(HEADLINE_METRICS)}; pick one of those",
        )
        parse_thresholds(self.thresholds)
        require(
            0 <= self.max_regression <= 1,
            f"max_regression {self.max_regression} is outside [0, 1]; give the largest "
            "allowed drop of the headline metric, e.g. 0.01",
        )
        require(
            0.5 <= self.confidence < 1,
            f"confidence {self.confidence} is outside [0.5, 1); use e.g. 0.95",
        )
        require(
            self.bootstrap_resamples >= 100,
            f"bootstrap_resamples {self.bootstrap_resamples} is too few for an interval; "
            "use at least 100 (1000 is the default)",
        )
        require(
            self.calibration_bins >= 2,
            f"calibration_bins {self.calibration_bins} must be at least 2",
        )
        require(self.mistakes_shown >= 0, "mistakes_shown must be 0 or more")
        require(self.max_length >= 8, f"max_length {self.max_length} must be at least 8")
        require(self.batch_size >= 1, f"batch_size {self.batch_size} must be at least 1")
        require(
            self.precision in ("auto", "fp32", "bf16", "fp16"),
            f"precision {self.precision!r} is not one of auto, fp32, bf16, fp16",
        )

    @property
    def threshold_list(self) -> list[Threshold]:
        return parse_thresholds(self.thresholds)

    @property
    def slice_list(self) -> list[str]:
        return column_names(self.slice_columns)
