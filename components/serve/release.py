"""Which backend a release serves: ONNX int8 when it is as accurate as fp32, else PyTorch."""

from dataclasses import dataclass

BACKEND_ONNX = "onnx"
BACKEND_PYTORCH = "pytorch"


@dataclass(frozen=True)
class BackendChoice:
    """The backend to deploy and why, in words for the run's outputs."""

    backend: str
    reason: str


def choose_backend(
    accuracy_fp32: float | None,
    accuracy_int8: float | None,
    max_accuracy_drop: float = 0.01,
    metric: str = "accuracy",
) -> BackendChoice:
    """ONNX int8 when its test accuracy is at most `max_accuracy_drop` below fp32's.

    Accuracies are fractions (0.01 is one point); for a multi-label model they are subset
    accuracies (components.serve.onnx_export), and `metric` names them in the reason. Without
    both measurements (no test split) the release keeps PyTorch.
    """
    if accuracy_fp32 is None or accuracy_int8 is None:
        return BackendChoice(
            BACKEND_PYTORCH,
            "PyTorch: the int8 model's accuracy was not measured (it needs a test split)",
        )
    drop = accuracy_fp32 - accuracy_int8
    facts = f"int8 {metric} {accuracy_int8:.4f}, fp32 {accuracy_fp32:.4f}"
    if drop <= max_accuracy_drop + 1e-12:
        return BackendChoice(
            BACKEND_ONNX,
            f"ONNX int8: {facts}, within the {max_accuracy_drop:.4f} allowed",
        )
    return BackendChoice(
        BACKEND_PYTORCH,
        f"PyTorch: {facts}; int8 loses {drop:.4f}, more than the {max_accuracy_drop:.4f} "
        "allowed (max_int8_accuracy_drop)",
    )
