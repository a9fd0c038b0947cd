"""The monitor_classifier KFP component: a thin wrapper over components.monitor.monitor."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import HTML, Dataset, Input, Metrics, Model, Output

from components.common.config import described_by
from components.common.image import IMAGE
from components.monitor.config import MonitorConfig


@dsl.component(base_image=IMAGE, install_kfp_package=False)
@described_by(MonitorConfig)
def monitor_classifier(
    metrics: Output[Metrics],
    report: Output[HTML],
    model: Input[Model] = None,
    model_uri: str = "",
    registry_uri: str = "",
    model_name: str = "text-classifier",
    reference: Input[Dataset] = None,
    reference_uri: str = "",
    current: Input[Dataset] = None,
    current_uri: str = "",
    text_column: str = "text",
    label_column: str = "label",
    window_hours: float = 0.0,
    window_end: str = "",
    significance: float = 0.05,
    min_window_size: int = 100,
    max_f1_drop: float = 0.05,
    max_texts: int = 1000,
    permutations: int = 500,
    max_length: int = 128,
    batch_size: int = 64,
    seed: int = 0,
) -> NamedTuple("Outputs", [("drift_detected", bool), ("reason", str)]):
    """Compare what a classifier saw with its reference: input, embedding and prediction drift,
    confidence shift and a label-free performance estimate, in one Bonferroni-corrected alert.

    Args:
        model: Model artifact to monitor; or give model_uri.
        model_uri: Model folder or s3:// prefix, when no artifact is given.
        registry_uri: Model registry root whose champion is monitored when neither model nor
            model_uri is given.
        model_name: Name of the model in the registry.
        reference: Dataset of reference texts; or give reference_uri.
        reference_uri: Reference table; empty with no artifact: the model's test split, from
            its provenance.
        current: Dataset holding the window's texts; or give current_uri.
        current_uri: Payload-log folder or s3:// prefix (narrowed by window_hours and
            window_end), or a table of texts.

    Returns:
        metrics: p-values, estimates and sizes.
        report: HTML report with the distributions, the tests and the estimate.
        drift_detected: True when any test or the estimated quality loss raised an alert.
        reason: One line saying why.
    """
    arguments = dict(locals())  # every parameter, forwarded whole
    from collections import namedtuple

    from components.common.errors import one_line_errors
    from components.monitor.kfp_io import run_component

    with one_line_errors():
        drift_detected, reason = run_component(**arguments)
    return namedtuple("Outputs", ["drift_detected", "reason"])(drift_detected, reason)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def claim_retrain(
    drift_detected: bool,
    reason: str,
    data_uri: str = "",
    registry_uri: str = "",
    model_name: str = "text-classifier",
    window_hours: float = 24.0,
) -> NamedTuple("Outputs", [("retrain", bool), ("reason", str)]):
    """Decide whether a drift alert starts retraining: at most once per alert window.

    Args:
        drift_detected: monitor_classifier's decision.
        reason: monitor_classifier's one-line reason.
        data_uri: The labelled table to retrain on; empty: never retrain.
        registry_uri: Model registry root; the claim is kept beside the model there.
        model_name: Name of the model in the registry.

    Returns:
        retrain: True when this alert claimed the window and retraining should run.
        reason: One line saying why or why not.
    """
    from collections import namedtuple

    from components.common.errors import one_line_errors
    from components.monitor.retrain import claim_retrain as claim

    with one_line_errors():
        retrain, why = claim(
            drift_detected, reason, data_uri, registry_uri, model_name, window_hours
        )
    print(why)
    return namedtuple("Outputs", ["retrain", "reason"])(retrain, why)
