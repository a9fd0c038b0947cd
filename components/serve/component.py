"""The export_onnx KFP component: a thin wrapper over components.serve.onnx_export."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from components.common.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def export_onnx(
    model: Input[Model],
    test: Input[Dataset],
    onnx_model: Output[Model],
    metrics: Output[Metrics],
    opset: int = 17,
    max_length: int = 128,
    batch_size: int = 64,
    max_int8_accuracy_drop: float = 0.01,
) -> NamedTuple("Outputs", [("backend", str), ("reason", str)]):
    """Export a classifier to ONNX fp32 and int8, measure what int8 costs, pick the backend.

    Args:
        model: Model artifact from finetune_classifier.
        test: Test Dataset from prepare_dataset, to measure fp32 and int8 accuracy on.
        opset: ONNX opset version.
        max_length: Tokens kept per text when measuring accuracy.
        batch_size: Texts per batch when measuring accuracy.
        max_int8_accuracy_drop: Serve int8 when its test accuracy is at most this far below
            fp32's (0.01 is one point); otherwise PyTorch.

    Returns:
        onnx_model: The same Model plus onnx/model.onnx and onnx/model_int8.onnx, its manifest
            recording both accuracies; serve it with backend onnx.
        metrics: accuracy_fp32 and accuracy_int8 on the test split (subset accuracy, the
            share of texts whose whole label set is right, for a multi-label model).
        backend: onnx or pytorch, for deploy_inference_service's backend.
        reason: Why that backend, with both accuracies.
    """
    from collections import namedtuple

    from components.common.errors import one_line_errors
    from components.serve.kfp_io import run_export

    with one_line_errors():
        choice = run_export(
            model=model,
            test=test,
            onnx_model=onnx_model,
            metrics=metrics,
            opset=opset,
            max_length=max_length,
            batch_size=batch_size,
            max_int8_accuracy_drop=max_int8_accuracy_drop,
        )
    return namedtuple("Outputs", ["backend", "reason"])(choice.backend, choice.reason)
