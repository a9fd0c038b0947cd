"""Resumable checkpoints in a local folder or under an s3:// prefix.

Layout: `<location>/step-00000120/state.pt` plus `<location>/step-00000120/COMPLETE`, a small
JSON marker holding the step and the run's fingerprint. A checkpoint counts only once its marker
exists, and the marker is always written last:

- locally the whole checkpoint is written into a hidden temporary folder, the marker included,
  and the folder is renamed into place in one atomic step;
- on S3 the state object is uploaded first and the marker after it succeeded.

A process killed in the middle of a save (even with SIGKILL) therefore leaves at worst an
incomplete folder that is ignored and cleaned up, never a damaged newest checkpoint. On S3 the
next run also aborts the multipart upload the killed save left open (a state file of a few
hundred MiB is uploaded in parts), which S3 would otherwise keep, and bill, forever.
"""

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from components.common.errors import KfpNlpError
from components.common.s3 import abort_uploads
from components.common.uri import (
    is_s3,
    join,
    list_files,
    local_path,
    parse_s3,
    read_bytes,
    s3_client,
    s3_errors,
    upload_file,
)

STATE = "state.pt"
MARKER = "COMPLETE"
_PREFIX = "step-"
_KEEP = 1


def _step_name(step: int) -> str:
    return f"{_PREFIX}{step:08d}"


class CheckpointStore:
    """The checkpoints of one training run, at `uri` (local folder or s3:// prefix)."""

    def __init__(self, uri: str):
        self.uri = uri

    def _complete_steps(self) -> list[str]:
        if not is_s3(self.uri) and not local_path(self.uri).is_dir():
            return []
        names = list_files(self.uri)
        done = {n.split("/")[0] for n in names if n.endswith(f"/{MARKER}")}
        return sorted(n for n in done if n.startswith(_PREFIX) and "/" not in n)

    def latest_marker(self) -> dict[str, Any] | None:
        """The marker of the newest complete checkpoint, or None when there is none."""
        steps = self._complete_steps()
        if not steps:
            return None
        return json.loads(read_bytes(join(self.uri, steps[-1], MARKER)))

    def load(self, marker: dict[str, Any]) -> dict[str, Any]:
        """The saved training state of the checkpoint `marker` describes."""
        uri = join(self.uri, _step_name(marker["step"]), STATE)
        with tempfile.TemporaryDirectory(prefix="kfp-nlp-ckpt-") as tmp:
            path = self._fetch(uri, Path(tmp))
            try:
                return torch.load(path, map_location="cpu", weights_only=True)
            except Exception as exc:
                raise KfpNlpError(
                    f"checkpoint {uri} cannot be read ({type(exc).__name__}: {exc}); "
                    "delete it to resume from an older checkpoint or start again"
                ) from exc

    def save(self, state: dict[str, Any], marker: dict[str, Any]) -> None:
        """Write a checkpoint for `marker["step"]`, atomically, and drop older ones."""
        name = _step_name(marker["step"])
        if is_s3(self.uri):
            self._save_s3(name, state, marker)
        else:
            self._save_local(name, state, marker)
        for old in self._complete_steps()[:-_KEEP]:
            self._delete(old)

    def clean_incomplete(self) -> None:
        """Remove what interrupted saves left behind: local temporary folders; on S3 open
        multipart uploads and state objects without a marker."""
        if is_s3(self.uri):
            abort_uploads(self.uri)
            names = list_files(self.uri)
            complete = {n.split("/")[0] for n in names if n.endswith(f"/{MARKER}")}
            for step in {n.split("/")[0] for n in names if n.startswith(_PREFIX)} - complete:
                self._delete(step)
            return
        root = local_path(self.uri)
        if root.is_dir():
            for leftover in root.glob(".tmp-*"):
                shutil.rmtree(leftover, ignore_errors=True)

    def _save_local(self, name: str, state: dict[str, Any], marker: dict[str, Any]) -> None:
        root = local_path(self.uri)
        root.mkdir(parents=True, exist_ok=True)
        staged = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=root))
        torch.save(state, staged / STATE)
        (staged / MARKER).write_text(json.dumps(marker))
        for path in (staged / STATE, staged / MARKER):
            with path.open("rb") as f:
                os.fsync(f.fileno())
        final = root / name
        if final.exists():
            shutil.rmtree(final)
        os.replace(staged, final)

    def _save_s3(self, name: str, state: dict[str, Any], marker: dict[str, Any]) -> None:
        location = parse_s3(join(self.uri, name))
        client = s3_client()
        with tempfile.TemporaryDirectory(prefix="kfp-nlp-ckpt-") as tmp:
            path = Path(tmp) / STATE
            torch.save(state, path)
            upload_file(path, join(self.uri, name, STATE))
            with s3_errors(self.uri):
                client.put_object(
                    Bucket=location.bucket,
                    Key=f"{location.key}/{MARKER}",
                    Body=json.dumps(marker).encode(),
                )

    def _delete(self, name: str) -> None:
        if not is_s3(self.uri):
            shutil.rmtree(local_path(self.uri) / name, ignore_errors=True)
            return
        location = parse_s3(join(self.uri, name))
        with s3_errors(self.uri):
            # The marker goes first, so a half-deleted checkpoint is never taken as complete.
            for part in (MARKER, STATE):
                s3_client().delete_object(Bucket=location.bucket, Key=f"{location.key}/{part}")

    def _fetch(self, uri: str, tmp: Path) -> Path:
        if not is_s3(uri):
            return local_path(uri)
        location = parse_s3(uri)
        target = tmp / STATE
        with s3_errors(uri):
            s3_client().download_file(location.bucket, location.key, str(target))
        return target
