"""The monitoring pipeline's retrain branch, end to end: drift -> retrain -> release -> deploy.

Run through kfp.local from the command line, as a user runs it. The deploy step talks to the
Kubernetes API stand-in of tests/k8s_standin.py through a kubeconfig (what that stand-in does
not exercise is said there). The registry is on the loopback S3 server, as
a cluster's is (a deploy refuses a model the cluster cannot read). The gate is set so that any
trained model passes it (`macro_f1>=0` and no baseline to beat), so the branch runs whatever a
CPU's training produces.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from components.registry import registry
from components.sample_data import generate
from tests.k8s_standin import StandInApi, kubeconfig

pytestmark = [pytest.mark.pipeline, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[3]


def test_a_drifted_window_retrains_and_deploys_the_new_champion_with_its_payload_log(
    small_model, s3_bucket, tmp_path
):
    replies = [t for t in generate(200, seed=3).reply_text if t.strip()][:60]
    spanish = [f"¿Dónde está mi pedido número {i}? Llevo días esperando" for i in range(60)]
    window = tmp_path / "window.csv"
    pd.DataFrame({"message": replies + spanish}).to_csv(window, index=False)
    data = tmp_path / "replies.csv"
    generate(240, seed=11).to_csv(data, index=False)
    registry_root = f"s3://{s3_bucket}/registry"
    payload_log = "s3://payload-logs/reply-intents"
    api = StandInApi(lambda spec: True)
    env = {**os.environ, "KUBECONFIG": str(kubeconfig(api, tmp_path / "kubeconfig"))}
    try:
        done = subprocess.run(
            [
                sys.executable, "-m", "pipelines.cli", "run", "text_classifier_monitoring",
                "--local", "--json", "--workdir", str(tmp_path / "work"),
                "--param", f"model_uri={small_model.model_dir}",
                "--param", f"current_uri={window}",
                "--param", f"reference_uri={small_model.test_path}",
                "--param", "text_column=message",
                "--param", f"registry_uri={registry_root}",
                "--param", "model_name=reply-intents",
                "--param", f"data_uri={data}",
                "--param", "data_text_column=reply_text",
                "--param", "data_label_column=intent",
                "--param", "group_column=customer_id",
                "--param", "max_steps=4",
                "--param", "thresholds=macro_f1>=0",
                "--param", "require_beat_baseline=false",
                "--param", "deploy_dry_run=false",
                "--param", "serving_namespace=team-a",
                "--param", f"payload_log_uri={payload_log}",
            ],
            capture_output=True, text=True, check=False, cwd=REPO, env=env,
        )  # fmt: skip
    finally:
        api.stop()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["drift_detected"] is True and summary["retrain"] is True

    # The retrain released a version and made it the champion after deploying it.
    champion = registry.current_version(registry_root, "reply-intents")
    assert champion is not None
    service = api.objects[("team-a", "reply-intents")]
    container = service["spec"]["predictor"]["containers"][0]
    storage = next(e["value"] for e in container["env"] if e["name"] == "STORAGE_URI")
    assert storage == registry.version_uri(registry_root, "reply-intents", champion)
    args = container["args"]
    assert args[args.index("--payload-log-uri") + 1] == payload_log
    assert [m for m, _, _ in api.requests if m in ("POST", "PATCH")] == ["POST"]
