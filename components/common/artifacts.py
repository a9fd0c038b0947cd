"""What travels between steps, and how a step finds its facts without KFP.

Dataset: one Parquet file with a `text` column, a `label` column (a string; a list of strings for
multi-label data) and any columns kept from the source. Its facts (labels in their stable order,
counts, source, split, content hash) ride in the Parquet footer's key-value metadata under
`kfp_nlp`, so the file alone is enough for the next step, in KFP or not; the same facts go to the
KFP artifact's `.metadata`.

Model: a Hugging Face `save_pretrained` folder plus `kfp_nlp_manifest.json`, which records the
sha256 of every other file in the folder and the model's provenance. A folder is accepted only
when every file matches its hash and every safetensors file has a readable header, so a file
damaged before its manifest was written (a careless copy regenerates it) is refused too, with
one line, before any stage loads it.
"""

import contextlib
import hashlib
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from safetensors import SafetensorError, safe_open

from components.common import uri
from components.common.errors import KfpNlpError

TEXT = "text"
LABEL = "label"
DATASET_METADATA_KEY = b"kfp_nlp"
MANIFEST_NAME = "kfp_nlp_manifest.json"
# The registry's record inside a registered version's folder.
REGISTRATION = "registration.json"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def dataset_metadata(path: Path) -> dict[str, Any]:
    """The kfp-nlp facts stored in a Dataset Parquet file (empty if it has none)."""
    try:
        metadata = pq.read_metadata(path).metadata
    except Exception as exc:
        raise KfpNlpError(
            f"{path} is not a Parquet dataset ({exc}); pass the output of prepare_dataset"
        ) from exc
    raw = (metadata or {}).get(DATASET_METADATA_KEY)
    return json.loads(raw) if raw else {}


def encode_dataset_metadata(facts: dict[str, Any]) -> dict[bytes, bytes]:
    return {DATASET_METADATA_KEY: json.dumps(facts, sort_keys=True).encode()}


def write_manifest(model_dir: Path, provenance: dict[str, Any]) -> dict[str, Any]:
    """Record the sha256 of every file in `model_dir` and the model's provenance."""
    files = {
        str(p.relative_to(model_dir)): sha256_file(p)
        for p in sorted(model_dir.rglob("*"))
        if p.is_file() and p.name != MANIFEST_NAME
    }
    manifest = {"files": files, "provenance": provenance}
    (model_dir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return manifest


def content_sha256(manifest: dict[str, Any]) -> str:
    """A model's content hash: over the hashes of its files (weights, config, tokenizer), not
    its provenance, so two folders with the same files have the same content hash. The ONNX
    copies that export_onnx adds under onnx/ are derived from those files and left out: a
    released champion and a retrained challenger with the same weights are the same model."""
    files = {
        name: digest for name, digest in manifest["files"].items() if not name.startswith("onnx/")
    }
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()


def verify_manifest(model_dir: Path) -> dict[str, Any]:
    """Check every file against the manifest; a missing or changed file is an error."""
    if (model_dir / uri.PENDING).exists():
        raise KfpNlpError(
            f"{model_dir} was not completely written ({uri.PENDING} is in it); copy or register "
            "the model again"
        )
    manifest_path = model_dir / MANIFEST_NAME
    if not manifest_path.is_file():
        raise KfpNlpError(
            f"{model_dir} has no {MANIFEST_NAME}; pass a model written by finetune_classifier"
        )
    manifest = json.loads(manifest_path.read_text())
    pickles = sorted(p.name for p in model_dir.glob("*") if p.suffix in PICKLE_SUFFIXES)
    if pickles and not any(model_dir.glob("*.safetensors")):
        raise KfpNlpError(
            f"model {model_dir} holds pickle weights ({pickles[0]}) and no safetensors; pickle "
            "can run code when loaded, so it is never read: save the model with "
            "save_pretrained(safe_serialization=True) and copy it again"
        )
    for name, expected in manifest["files"].items():
        path = model_dir / name
        if not path.is_file():
            raise KfpNlpError(
                f"model file {name} is missing from {model_dir}; copy the whole model folder"
            )
        if sha256_file(path) != expected:
            raise KfpNlpError(
                f"model file {name} in {model_dir} does not match its manifest hash "
                "(corrupted or changed); copy the model again from its source"
            )
        if path.suffix == ".safetensors":
            check_safetensors(path, read_tensors=False)
    return manifest


def check_safetensors(path: Path, read_tensors: bool) -> None:
    """A one-line error unless `path` is a readable safetensors file (header, and every tensor
    with `read_tensors`)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            if read_tensors:
                for key in f.keys():  # noqa: SIM118 - safe_open handles are not iterable
                    f.get_slice(key)
    except (SafetensorError, OSError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise KfpNlpError(
            f"model weights {path} are corrupted or truncated ({reason}); copy the model "
            "folder again from its source, or retrain it"
        ) from exc


@contextlib.contextmanager
def local_model_dir(model_uri: str) -> Iterator[Path]:
    """A local Model artifact folder (downloaded when on S3), checked against its manifest."""
    with tempfile.TemporaryDirectory(prefix="kfp-nlp-model-") as tmp:
        model_dir = uri.download_dir(model_uri, Path(tmp))
        verify_manifest(model_dir)
        yield model_dir
