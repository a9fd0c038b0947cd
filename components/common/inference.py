"""Loading a classifier folder and scoring texts with it, the one way every stage does it.

Texts are tokenized once, then scored in batches of similar token length (sorted, then restored
to input order), padded only to the longest text in the batch, under bf16 autocast when the CPU
has native bf16 (AMX or AVX-512 BF16) and the caller asks for it. Tokenizing (`tokenize`) and
scoring (`score_tokens`) are separate steps so that a server can run them on different threads.

A classifier runs either in PyTorch or, after `components.serve.onnx_export`, in ONNX Runtime
(`load_classifier(..., onnx_file=...)`): the same tokenizer, labels and scoring loop drive both.

Probabilities are calibrated: fine-tuning fits a temperature on the validation split and stores
it in the model's config.json (`calibration_temperature`); every scorer divides the logits by it
here, so the server, batch scoring, evaluation and ONNX all report the same calibrated numbers.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

from components.common.errors import KfpNlpError

# The key in config.json that holds the fitted temperature (absent: 1.0, uncalibrated).
TEMPERATURE_KEY = "calibration_temperature"
# The key in config.json that holds a multi-label model's decision threshold per label name,
# tuned on the validation split at the end of fine-tuning (absent label: DEFAULT_THRESHOLD).
THRESHOLDS_KEY = "decision_thresholds"
DEFAULT_THRESHOLD = 0.5

# Token ids of texts before padding: one list per text for each model input (input_ids, ...).
Tokens = dict[str, list[list[int]]]


def cpu_has_native_bf16() -> bool:
    """True when this CPU runs bf16 matmuls natively (AMX or AVX-512 BF16), as oneDNN reports."""
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(flag in flags for flag in (" amx_bf16", " avx512_bf16"))


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype for a precision setting `auto|fp32|bf16|fp16` on this machine's CPU."""
    if precision == "fp32":
        return None
    if precision == "auto":
        return torch.bfloat16 if cpu_has_native_bf16() else None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        return torch.float16
    raise KfpNlpError(f"unknown precision {precision!r}; use auto, fp32, bf16 or fp16")


@dataclass
class Classifier:
    """A loaded sequence classifier with its tokenizer and label names (index = class id)."""

    model: "torch.nn.Module | OnnxClassifierModel"
    tokenizer: object
    labels: list[str]
    multi_label: bool
    max_length: int
    # Logits are divided by this before softmax/sigmoid (temperature scaling).
    temperature: float = 1.0
    # Multi-label only: a label is predicted when its probability is >= its threshold.
    thresholds: list[float] | None = None


class OnnxClassifierModel:
    """An ONNX Runtime session called like a Hugging Face classifier: `model(**batch).logits`."""

    def __init__(self, path: Path, threads: int = 0):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        self.input_names = [i.name for i in self.session.get_inputs()]

    def __call__(self, **batch: torch.Tensor) -> SimpleNamespace:
        feeds = {name: batch[name].numpy() for name in self.input_names}
        (logits,) = self.session.run(["logits"], feeds)
        return SimpleNamespace(logits=torch.from_numpy(logits))


def load_classifier(model_dir: Path, max_length: int = 128, onnx_file: str = "") -> Classifier:
    """Load a Hugging Face classifier folder (safetensors only, no remote code, no hub).

    With `onnx_file` (a path relative to `model_dir`, as written by the ONNX export), the
    weights run in ONNX Runtime instead of PyTorch.
    """
    if not (model_dir / "config.json").is_file():
        raise KfpNlpError(f"{model_dir} has no config.json; pass a Hugging Face model folder")
    if onnx_file and not (model_dir / onnx_file).is_file():
        raise KfpNlpError(f"{model_dir} has no {onnx_file}; run export_onnx on the model first")
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        config = AutoConfig.from_pretrained(model_dir, local_files_only=True)
    except (OSError, ValueError) as exc:
        reason = str(exc).splitlines()[0]
        raise KfpNlpError(f"cannot load the model in {model_dir} ({reason})") from exc
    weights = model_dir / (onnx_file or "model.safetensors")
    try:
        if onnx_file:
            model = OnnxClassifierModel(weights)
        else:
            model = AutoModelForSequenceClassification.from_pretrained(
                model_dir, local_files_only=True, use_safetensors=True, trust_remote_code=False
            )
            model.eval()
    # Any failure here is a damaged or foreign weights file (SafetensorError, ONNX Runtime's
    # own errors, OSError, ...): one line that names the file, whatever raised it.
    except Exception as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise KfpNlpError(
            f"cannot load the weights {weights} ({type(exc).__name__}: {reason}); the file is "
            "damaged or not this model's: copy the model folder again from its source"
        ) from exc
    id2label = config.id2label
    labels = [id2label[i] for i in range(len(id2label))]
    limit = config.max_position_embeddings
    tuned = getattr(config, THRESHOLDS_KEY, None) or {}
    return Classifier(
        model=model,
        tokenizer=tokenizer,
        labels=labels,
        multi_label=config.problem_type == "multi_label_classification",
        max_length=min(max_length, limit),
        temperature=float(getattr(config, TEMPERATURE_KEY, 1.0)),
        thresholds=[float(tuned.get(label, DEFAULT_THRESHOLD)) for label in labels],
    )


def tokenize(classifier: Classifier, texts: Sequence[str]) -> Tokens:
    """Token ids of `texts`, truncated to the classifier's max_length and not padded."""
    encoded = classifier.tokenizer(
        list(texts), truncation=True, max_length=classifier.max_length, padding=False
    )
    return {n: encoded[n] for n in classifier.tokenizer.model_input_names if n in encoded}


def _pad(tokens: Tokens, index: list[int], pad_id: int) -> dict[str, torch.Tensor]:
    longest = max(len(tokens["input_ids"][i]) for i in index)
    batch = {}
    for name, rows in tokens.items():
        array = np.full((len(index), longest), pad_id if name == "input_ids" else 0, np.int64)
        for row, i in enumerate(index):
            array[row, : len(rows[i])] = rows[i]
        batch[name] = torch.from_numpy(array)
    return batch


@torch.inference_mode()
def score_logits(
    classifier: Classifier, tokens: Tokens, batch_size: int = 64, precision: str = "auto"
) -> np.ndarray:
    """Raw logits (before temperature) of tokenized texts, shape (texts, n_labels), in order."""
    dtype = autocast_dtype(precision)
    ids = tokens["input_ids"]
    # Sort by length so a batch pads only to its own longest text.
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    logits = np.zeros((len(ids), len(classifier.labels)), dtype=np.float32)
    pad_id = classifier.tokenizer.pad_token_id or 0
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        batch = _pad(tokens, index, pad_id)
        with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            logits[index] = classifier.model(**batch).logits.float().numpy()
    return logits


def probabilities(logits: np.ndarray, multi_label: bool, temperature: float = 1.0) -> np.ndarray:
    """Probabilities from logits at a temperature: softmax, or independent sigmoids."""
    scaled = torch.from_numpy(np.asarray(logits, dtype=np.float32) / temperature)
    return (torch.sigmoid(scaled) if multi_label else torch.softmax(scaled, -1)).numpy()


def score_tokens(
    classifier: Classifier, tokens: Tokens, batch_size: int = 64, precision: str = "auto"
) -> np.ndarray:
    """Calibrated class probabilities of tokenized texts, shape (texts, n_labels), in order.

    Softmax for single-label models, independent sigmoids for multi-label ones, of the logits
    divided by the model's temperature.
    """
    logits = score_logits(classifier, tokens, batch_size, precision)
    return probabilities(logits, classifier.multi_label, classifier.temperature)


def predict_proba(
    classifier: Classifier,
    texts: Sequence[str],
    batch_size: int = 64,
    precision: str = "auto",
) -> np.ndarray:
    """Class probabilities, shape (len(texts), n_labels), in the order of `texts`."""
    return score_tokens(classifier, tokenize(classifier, texts), batch_size, precision)


def label_sets(classifier: Classifier, probs: np.ndarray) -> list[list[str]]:
    """The predicted labels of each row of `probs`, in the classifier's label order.

    Single-label: the one most probable label. Multi-label: every label whose probability is at
    or above its decision threshold (config.json's `decision_thresholds`, else 0.5); a row with
    none above its threshold gets an empty list.
    """
    if not classifier.multi_label:
        return [[classifier.labels[i]] for i in np.asarray(probs).argmax(1)]
    thresholds = np.asarray(classifier.thresholds or [DEFAULT_THRESHOLD] * len(classifier.labels))
    chosen = np.asarray(probs) >= thresholds
    return [[classifier.labels[i] for i in np.flatnonzero(row)] for row in chosen]
