"""What a scored text is recorded as: the per-text columns and the model's name and version.

The model server's payload log and batch scoring's payload columns write the same records, so
monitoring reads either; both build them here.
"""

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from components.common.artifacts import REGISTRATION, content_sha256
from components.common.inference import Classifier, label_sets


def chosen_probabilities(
    classifier: Classifier, scores: np.ndarray, chosen: list[list[str]]
) -> list[list[float]]:
    """The probability of each label in `chosen` (label_sets' answer for `scores`), in order."""
    index = {label: i for i, label in enumerate(classifier.labels)}
    return [
        [float(row[index[name]]) for name in names]
        for row, names in zip(scores, chosen, strict=True)
    ]


def payload_columns(
    texts: list[str],
    scores: np.ndarray,
    classifier: Classifier,
    token_counts: list[int],
    text_mode: str,
    probabilities: bool,
) -> dict[str, pa.Array]:
    """The per-text columns a payload log and batch_predict's output share."""
    chosen = label_sets(classifier, scores)
    picked = chosen_probabilities(classifier, scores, chosen)
    columns = {
        "text_length": pa.array([len(t) for t in texts], pa.int32()),
        "token_count": pa.array(token_counts, pa.int32()),
    }
    if classifier.multi_label:
        columns["predicted_labels"] = pa.array(chosen, pa.list_(pa.string()))
        columns["label_probabilities"] = pa.array(picked, pa.list_(pa.float32()))
    else:
        columns["predicted_label"] = pa.array([names[0] for names in chosen], pa.string())
        columns["probability"] = pa.array([p[0] for p in picked], pa.float32())
    if probabilities:
        columns["probabilities"] = pa.array(list(scores.astype(np.float32)), pa.list_(pa.float32()))
    if text_mode == "text":
        columns["text"] = pa.array(texts, pa.string())
    else:
        columns["text_sha256"] = pa.array(
            [hashlib.sha256(t.encode()).hexdigest() for t in texts], pa.string()
        )
    return columns


def model_name_for(model_dir: Path) -> str:
    """A URL-safe model name from a folder name (lower case, dashes)."""
    name = re.sub(r"[^a-z0-9]+", "-", model_dir.resolve().name.lower()).strip("-")
    return name or "model"


def model_identity(model_dir: Path, manifest: dict[str, Any]) -> tuple[str, str]:
    """The served name and version: the registry's, else the folder name and a content hash."""
    registration = model_dir / REGISTRATION
    if registration.is_file():
        record = json.loads(registration.read_text())
        return record["model"], record["version"]
    # The same content hash the registry records, so both can be matched.
    return model_name_for(model_dir), f"sha256-{content_sha256(manifest)[:12]}"
