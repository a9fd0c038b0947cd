"""The monitor_classifier KFP component: a thin wrapper over components.monitor.monitor."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import HTML, Dataset, Input, Metrics, Model, Output

from components.common.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def monitor_classifier(
    metrics: Output[Metrics],
    report: Output[HTML],
    model: Input[Model] = None,
    model_uri: str = "",
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
        reference: Dataset of reference texts; or give reference_uri.
        reference_uri: Reference table; empty with no artifact: the model's test split, from
            its provenance.
        current: Dataset holding the window's texts; or give current_uri.
        current_uri: Payload-log folder or s3:// prefix (narrowed by window_hours and
            window_end), or a table of texts.
        text_column: Column holding the texts.
        label_column: Column with true labels; where the window has it, real metrics too.
        window_hours: For a payload log: the last N hours before window_end; 0: all.
        window_end: End of the window (ISO 8601); empty: now.
        significance: False-alarm rate of the combined decision.
        min_window_size: Fewer texts in the window: no decision, no alert.
        max_f1_drop: Alert when the estimated macro-F1 is surely this far below the reference.
        max_texts: Most texts of each side used (a random sample beyond it).
        permutations: Permutations of the MMD embedding test.
        max_length: Tokens kept per text.
        batch_size: Texts per forward pass.
        seed: Seed of sampling and permutations.

    Returns:
        metrics: p-values, estimates and sizes.
        report: HTML report with the distributions, the tests and the estimate.
        drift_detected: True when any test or the estimated quality loss raised an alert.
        reason: One line saying why.
    """
    from collections import namedtuple

    from components.common.errors import one_line_errors
    from components.monitor.kfp_io import run_component

    with one_line_errors():
        drift_detected, reason = run_component(
            model=model,
            model_uri=model_uri,
            reference=reference,
            reference_uri=reference_uri,
            current=current,
            current_uri=current_uri,
            metrics=metrics,
            report=report,
            text_column=text_column,
            label_column=label_column,
            window_hours=window_hours,
            window_end=window_end,
            significance=significance,
            min_window_size=min_window_size,
            max_f1_drop=max_f1_drop,
            max_texts=max_texts,
            permutations=permutations,
            max_length=max_length,
            batch_size=batch_size,
            seed=seed,
        )
    return namedtuple("Outputs", ["drift_detected", "reason"])(drift_detected, reason)
