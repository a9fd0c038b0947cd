"""evaluate_classifier under the real kfp.local runner, gating a promotion step with dsl.If.

Each pipeline imports a real MiniLM challenger and the test Dataset, evaluates the challenger
against a champion, and runs `record_promotion` only inside `dsl.If(approved == True)`. A
clearly better challenger is promoted, with every output artifact written; a clearly worse one
is not. Not exercised here: the KFP backend and UI themselves (the artifacts are checked in the
formats the UI reads).
"""

import base64
import re
from collections import namedtuple
from pathlib import Path
from typing import NamedTuple

import pyarrow.parquet as pq
import pytest
from kfp import dsl, local
from kfp.dsl import HTML, ClassificationMetrics, Dataset, Metrics, Model

from components.common.image import IMAGE
from components.evaluate.component import evaluate_classifier

pytestmark = pytest.mark.pipeline

Outputs = namedtuple("Outputs", ["metrics", "reason"])
Everything = namedtuple(
    "Everything", ["metrics", "classification_metrics", "report", "predictions", "reason"]
)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def record_promotion(marker: str, reason: str) -> None:
    """Stand-in for a deployment step: leaves a file saying why it ran."""
    with open(marker, "w") as f:
        f.write(reason)


@dsl.pipeline
def promote_if_approved(approved: bool, reason: str, marker: str):
    """The deployment side of the gate: runs only when `approved` is true."""
    with dsl.If(approved == True):  # noqa: E712 (a KFP condition, not a Python comparison)
        record_promotion(marker=marker, reason=reason)


@dsl.pipeline
def gate_with_champion_artifact(
    model_uri: str, test_uri: str, champion_uri: str, marker: str
) -> NamedTuple(
    "Everything",
    [
        ("metrics", Metrics),
        ("classification_metrics", ClassificationMetrics),
        ("report", HTML),
        ("predictions", Dataset),
        ("reason", str),
    ],
):
    model = dsl.importer(artifact_uri=model_uri, artifact_class=Model)
    test = dsl.importer(artifact_uri=test_uri, artifact_class=Dataset)
    champion = dsl.importer(artifact_uri=champion_uri, artifact_class=Model)
    evaluation = evaluate_classifier(
        model=model.output,
        test=test.output,
        champion=champion.output,
        slice_columns="channel,text_length",
        thresholds="macro_f1>=0.6",
        bootstrap_resamples=300,
    )
    promote_if_approved(
        approved=evaluation.outputs["approved"],
        reason=evaluation.outputs["reason"],
        marker=marker,
    )
    return Everything(
        metrics=evaluation.outputs["metrics"],
        classification_metrics=evaluation.outputs["classification_metrics"],
        report=evaluation.outputs["report"],
        predictions=evaluation.outputs["predictions"],
        reason=evaluation.outputs["reason"],
    )


@dsl.pipeline
def gate_with_champion_uri(
    model_uri: str, test_uri: str, champion_uri: str, marker: str
) -> NamedTuple("Outputs", [("metrics", Metrics), ("reason", str)]):
    model = dsl.importer(artifact_uri=model_uri, artifact_class=Model)
    test = dsl.importer(artifact_uri=test_uri, artifact_class=Dataset)
    evaluation = evaluate_classifier(
        model=model.output, test=test.output, champion_uri=champion_uri, bootstrap_resamples=300
    )
    promote_if_approved(
        approved=evaluation.outputs["approved"],
        reason=evaluation.outputs["reason"],
        marker=marker,
    )
    return Outputs(metrics=evaluation.outputs["metrics"], reason=evaluation.outputs["reason"])


@pytest.fixture
def kfp_local(tmp_path: Path) -> Path:
    root = tmp_path / "pipeline_root"
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root))
    return root


def _png_sizes(html_text: str) -> list[tuple[int, int]]:
    sizes = []
    for encoded in re.findall(r'src="data:image/png;base64,([^"]+)"', html_text):
        data = base64.b64decode(encoded, validate=True)
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert data[12:16] == b"IHDR"
        sizes.append((int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")))
    return sizes


def test_better_challenger_is_promoted_with_every_artifact(
    kfp_local: Path, evaluate_models: dict[str, Path], evaluate_test_set: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "promoted.txt"

    run = gate_with_champion_artifact(
        model_uri=str(evaluate_models["trained"]),
        test_uri=str(evaluate_test_set),
        champion_uri=str(evaluate_models["untrained"]),
        marker=str(marker),
    )

    reason = marker.read_text()
    assert reason.startswith("approved: macro_f1 0.")
    assert "vs champion +0." in reason
    metrics = run.outputs["metrics"].metadata
    assert run.outputs["reason"] == reason
    assert metrics["approved"] == 1.0
    assert metrics["macro_f1"] > 0.6
    assert metrics["macro_f1_ci_low"] < metrics["macro_f1"] < metrics["macro_f1_ci_high"]
    assert metrics["delta_macro_f1_ci_low"] > 0.3

    matrix = run.outputs["classification_metrics"].metadata["confusionMatrix"]
    assert [c["displayName"] for c in matrix["annotationSpecs"]] == [
        "complaint",
        "discount_question",
        "order_status",
        "other",
        "positive",
        "product_question",
        "unsubscribe",
    ]
    assert sum(sum(row["row"]) for row in matrix["rows"]) == 140

    html_text = Path(run.outputs["report"].path).read_text()
    assert "Champion vs challenger" in html_text
    assert "channel" in html_text and "words" in html_text
    sizes = _png_sizes(html_text)
    # confusion matrix, comparison, per-class bars, reliability diagram, slices
    assert len(sizes) == 5
    assert all(w >= 300 and h >= 200 for w, h in sizes), sizes

    predictions = pq.read_table(run.outputs["predictions"].path).to_pandas()
    assert len(predictions) == 140
    assert {"id", "text", "label", "channel", "predicted_label", "probabilities"} <= set(
        predictions.columns
    )
    assert all(abs(sum(p) - 1) < 1e-9 for p in predictions["probabilities"])
    assert {"champion_predicted_label", "champion_probabilities"} <= set(predictions.columns)


def test_worse_challenger_is_not_promoted(
    kfp_local: Path, evaluate_models: dict[str, Path], evaluate_test_set: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "promoted.txt"

    run = gate_with_champion_uri(
        model_uri=str(evaluate_models["untrained"]),
        test_uri=str(evaluate_test_set),
        champion_uri=str(evaluate_models["trained"]),
        marker=str(marker),
    )

    assert not marker.exists()
    assert run.outputs["metrics"].metadata["approved"] == 0.0
    assert run.outputs["reason"].startswith("rejected: macro_f1 vs champion -0.")
