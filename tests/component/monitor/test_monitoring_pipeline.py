"""text_classifier_monitoring through kfp.local, run as a user runs it from a terminal.

The retraining branch needs data_uri; without it the run only reports, which is what runs
here (the nested training pipeline is compiled and checked in tests/pipeline/test_compile.py,
and is the same text_classifier_training tested on its own).
"""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from components.sample_data import generate

pytestmark = pytest.mark.pipeline
REPO = Path(__file__).resolve().parents[3]


def test_cli_run_reports_drift_as_one_json_object(small_model, reference_macro_f1, tmp_path):
    replies = [t for t in generate(200, seed=3).reply_text if t.strip()][:60]
    spanish = [f"¿Dónde está mi pedido número {i}? Llevo días esperando" for i in range(60)]
    window = tmp_path / "window.csv"
    pd.DataFrame({"message": replies + spanish}).to_csv(window, index=False)
    done = subprocess.run(
        [
            sys.executable, "-m", "pipelines.cli", "run", "text_classifier_monitoring",
            "--local", "--json", "--workdir", str(tmp_path / "work"),
            "--param", f"model_uri={small_model.model_dir}",
            "--param", f"current_uri={window}",
            "--param", f"reference_uri={small_model.test_path}",
            "--param", "text_column=message",
        ],
        capture_output=True, text=True, check=False, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["drift_detected"] is True
    assert summary["reason"].startswith("drift: ")
    assert summary["retrain"] is False
    assert summary["reference_macro_f1"] == pytest.approx(reference_macro_f1, abs=0.01)
    assert 0 < summary["estimated_macro_f1"] < summary["reference_macro_f1"]
    assert "Monitoring report" in Path(summary["report"]).read_text()
    steps = {s["name"]: s["state"] for s in summary["steps"]}
    assert steps["monitor-classifier"] == "done" and steps["claim-retrain"] == "done"
