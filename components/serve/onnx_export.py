"""Export a Model artifact to ONNX and quantize it to int8 for CPU serving.

    python -m components.serve.onnx_export --model-uri MODEL --test-uri test.parquet \
        --output-dir MODEL_ONNX

The output is the same Model artifact (weights, config, tokenizer) plus `onnx/model.onnx` (fp32)
and `onnx/model_int8.onnx` (dynamic int8 quantization, per-channel weights: MatMul and friends run
as int8 with activations quantized on the fly, which suits CPUs with VNNI/AMX). The accuracy of
the PyTorch fp32 model and of the int8 ONNX model on the test split are measured with the same
tokenizer and batches and recorded side by side in the manifest's provenance, so whoever serves
the int8 model can see what it costs: accuracy for a single-label model, subset accuracy (the
share of texts whose whole predicted label set is right, at the model's decision thresholds) for
a multi-label one. The graph outputs logits either way; the scorer applies softmax or sigmoid.
The folder is assembled aside and moved into place only when complete.
"""

import inspect
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from components.common import uri
from components.common.artifacts import (
    MANIFEST_NAME,
    local_model_dir,
    verify_manifest,
    write_manifest,
)
from components.common.backends import ONNX_FP32, ONNX_INT8
from components.common.config import add_arguments, argument_parser, from_arguments
from components.common.errors import run_cli
from components.common.inference import Classifier, label_sets, load_classifier, predict_proba
from components.common.splits import read_split
from components.serve.config import ExportConfig


def export_fp32(classifier: Classifier, path: Path, opset: int) -> None:
    """Trace the PyTorch model to ONNX with dynamic batch and sequence axes."""
    sample = classifier.tokenizer(
        ["a short reply", "a somewhat longer reply to a campaign"],
        padding=True,
        return_tensors="pt",
    )
    # ONNX input names follow the order of forward()'s parameters, not the tokenizer's keys.
    order = inspect.signature(classifier.model.forward).parameters
    names = [name for name in order if name in sample]
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.inference_mode():
        torch.onnx.export(
            classifier.model,
            tuple(sample[name] for name in names),
            str(path),
            input_names=names,
            output_names=["logits"],
            dynamic_axes={**axes, "logits": {0: "batch"}},
            opset_version=opset,
            dynamo=False,
        )


def quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8 quantization of the weights (activations quantized at run time).

    Per-channel scales keep the accuracy of a fine-tuned MiniLM within a point of fp32, where one
    scale per tensor loses more.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True)


def accuracy(
    classifier: Classifier, texts: list[str], labels: list[list[str]], batch: int
) -> float:
    """The share of texts whose predicted label set is exactly their true one: accuracy for a
    single-label model, subset accuracy (exact match) for a multi-label one."""
    scores = predict_proba(classifier, texts, batch, precision="fp32")
    predicted = label_sets(classifier, scores)
    return float(np.mean([set(p) == set(t) for p, t in zip(predicted, labels, strict=True)]))


def read_test_split(test_uri: str) -> tuple[list[str], list[list[str]], bool]:
    """The texts of a test split, each one's labels (one for single-label data), and whether
    it is multi-label."""
    with uri.local_copy(test_uri) as path:
        split = read_split(Path(path), "test", test_uri)
    return split.texts, split.labels, split.multi_label


def export_onnx(
    model_uri: str, output_dir: Path, test_uri: str, config: ExportConfig
) -> dict[str, Any]:
    """Write the model with its fp32 and int8 ONNX files to `output_dir`; the metrics (with a
    test split: its rows, both accuracies and `accuracy_metric`, which accuracy they are)."""
    staged = output_dir.with_name(f".{output_dir.name}.partial-{os.getpid()}")
    shutil.rmtree(staged, ignore_errors=True)
    try:
        with local_model_dir(model_uri) as model_dir:
            provenance = verify_manifest(model_dir)["provenance"]
            shutil.copytree(model_dir, staged, ignore=shutil.ignore_patterns(MANIFEST_NAME))
        classifier = load_classifier(staged, config.max_length)
        export_fp32(classifier, staged / ONNX_FP32, config.opset)
        quantize_int8(staged / ONNX_FP32, staged / ONNX_INT8)
        metrics: dict[str, Any] = {}
        if test_uri:
            texts, labels, multi_label = read_test_split(test_uri)
            int8 = load_classifier(staged, config.max_length, onnx_file=ONNX_INT8)
            metrics = {
                "test_rows": len(texts),
                "accuracy_fp32": accuracy(classifier, texts, labels, config.batch_size),
                "accuracy_int8": accuracy(int8, texts, labels, config.batch_size),
                "accuracy_metric": "subset_accuracy" if multi_label else "accuracy",
            }
        onnx_facts = {
            "files": {"fp32": ONNX_FP32, "int8": ONNX_INT8},
            "opset": config.opset,
            "quantization": "dynamic int8, per-channel weights (onnxruntime quantize_dynamic)",
            **metrics,
        }
        write_manifest(staged, {**provenance, "onnx": onnx_facts})
        shutil.rmtree(output_dir, ignore_errors=True)
        os.replace(staged, output_dir)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    return metrics


def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(
        prog="python -m components.serve.onnx_export",
        description="Export a Model artifact to ONNX fp32 and int8, measuring the int8 cost.",
    )
    parser.add_argument("--model-uri", required=True, help="Model artifact folder or s3:// prefix")
    parser.add_argument("--output-dir", type=Path, required=True, help="folder to write")
    parser.add_argument("--test-uri", default="", help="test Dataset to measure accuracy on")
    add_arguments(parser, ExportConfig)
    args = parser.parse_args(argv)
    metrics = export_onnx(
        args.model_uri, args.output_dir, args.test_uri, from_arguments(ExportConfig, args)
    )
    print(f"wrote {args.output_dir}: " + ", ".join(f"{k}={v}" for k, v in metrics.items()))


if __name__ == "__main__":
    run_cli(main)
