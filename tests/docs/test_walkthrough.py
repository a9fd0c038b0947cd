"""The README's quick start, own-data and monitoring commands, run verbatim and in order, the way
a newcomer runs them: in a folder of their own that holds the repository's Makefile and `.venv`.

Every command of those sections' shell blocks runs through bash exactly as written; only `make
test` is left out, as it runs this very suite (tests/docs/test_readme.py checks what it would
run). The files the commands name are put where a user would have them, made from the sample
data under the user's column names: `exports/replies.csv` (a `;`-separated spreadsheet export
with a byte order mark), `exports/new.csv`, and `s3://my-bucket/exports/replies.parquet` on the
loopback S3 server that AWS_ENDPOINT_URL points at.

Slow on purpose: `make demo` trains MiniLM on 6,000 rows (about 2 minutes on a quiet reference
machine, far longer on a loaded one) and the own-data commands train twice more on 600 rows.
"""

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.docs.test_pages import section
from tests.docs.test_readme import shell_commands

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
BIN = Path(sys.executable).parent
NOT_RUN = {"make test": "runs this very suite"}
OWN_ROWS, NEW_ROWS, WINDOW_ROWS = 600, 100, 500

pytestmark = [pytest.mark.pipeline, pytest.mark.slow, pytest.mark.timeout(5400)]


def commands(title: str) -> list[str]:
    found = shell_commands(section(README.read_text(), title))
    assert found, f"the README's {title!r} section has no commands"
    return [c for c in found if c not in NOT_RUN]


@dataclass
class Newcomer:
    """A user's folder with the repository's Makefile and `.venv`, and their own files."""

    folder: Path
    env: dict[str, str]

    def run(self, command: str) -> subprocess.CompletedProcess:
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=5000,
        )
        assert done.returncode == 0, f"{command}\nfailed:\n{done.stdout}\n{done.stderr}"
        return done

    def run_all(self, title: str) -> dict[str, subprocess.CompletedProcess]:
        return {command: self.run(command) for command in commands(title)}


def own_tables(sample_csv: Path, folder: Path, s3_endpoint: str) -> None:
    """The sample data as a user's exports: `body` and `intent`, on disk and on S3."""
    import boto3

    replies = pd.read_csv(sample_csv).rename(columns={"reply_text": "body"})
    exports = folder / "exports"
    exports.mkdir()
    own = replies.iloc[:OWN_ROWS]
    own.to_csv(exports / "replies.csv", sep=";", index=False, encoding="utf-8-sig")
    new = replies.iloc[OWN_ROWS : OWN_ROWS + NEW_ROWS][["message_id", "channel", "body"]]
    new.to_csv(exports / "new.csv", index=False)
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    if "my-bucket" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket="my-bucket")
    s3.put_object(
        Bucket="my-bucket", Key="exports/replies.parquet", Body=own.to_parquet(index=False)
    )


@pytest.fixture(scope="module")
def newcomer(tmp_path_factory: pytest.TempPathFactory, sample_csv: Path, s3_endpoint: str):
    folder = tmp_path_factory.mktemp("newcomer")
    for name in ("Makefile", "pyproject.toml", "requirements.lock", ".venv"):
        (folder / name).symlink_to(REPO / name)
    own_tables(sample_csv, folder, s3_endpoint)
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": s3_endpoint,
        # The commands run this checkout's code, whatever checkout `.venv` was installed from.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    user = Newcomer(folder, env)
    plan = subprocess.run(
        ["make", "-n", "demo"], cwd=folder, env=env, capture_output=True, text=True, check=True
    )
    if "pip install" in plan.stdout:
        reason = "`.venv` is older than pyproject.toml or requirements.lock: run `make` first"
        pytest.fail(reason) if os.environ.get("CI") else pytest.skip(reason)
    return user


@pytest.fixture(scope="module")
def quick_start(newcomer: Newcomer) -> dict[str, subprocess.CompletedProcess]:
    return newcomer.run_all("Quick start")


def last_json(stdout: str) -> dict[str, Any]:
    start = 0 if stdout.startswith("{") else stdout.rindex("\n{") + 1
    return json.loads(stdout[start:])


def test_quick_start_demo_trains_and_releases_the_demo_model(quick_start, newcomer: Newcomer):
    (demo,) = quick_start.values()
    assert "demo-reply-intents" in demo.stdout
    registry = newcomer.folder / "local_outputs" / "registry" / "demo-reply-intents"
    assert (registry / "aliases" / "champion.json").is_file()
    assert (newcomer.folder / "local_outputs" / "data" / "replies.csv").is_file()


def test_own_data_commands_train_on_s3_and_a_csv_export_and_score_a_table(
    quick_start, newcomer: Newcomer
):
    runs = list(newcomer.run_all("Your own data").items())
    trainings = [done for command, done in runs if "text_classifier_training" in command]
    assert len(trainings) == 2
    for done in trainings:
        assert f"{OWN_ROWS} rows read" in done.stdout
    scored = pd.read_parquet(newcomer.folder / "scored.parquet")
    assert len(scored) == NEW_ROWS
    assert {"message_id", "label", "probability"} <= set(scored.columns)


def test_monitoring_commands_check_the_demo_model_on_a_window(quick_start, newcomer: Newcomer):
    runs = newcomer.run_all("Monitoring")
    assert len(pd.read_csv(newcomer.folder / "window.csv")) == WINDOW_ROWS
    (summary,) = [last_json(d.stdout) for c, d in runs.items() if "monitoring" in c]
    assert isinstance(summary["drift_detected"], bool)
    assert summary["reason"]
    assert summary["retrain"] is False
    assert 0 < summary["estimated_macro_f1"] <= 1
    assert Path(summary["report"]).is_file()
