"""The compiled evaluate_classifier component: the interface a pipeline and the KFP UI see."""

from pathlib import Path

import pytest
import yaml
from kfp import compiler

from components.common.image import IMAGE
from components.evaluate.component import evaluate_classifier


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict:
    path = tmp_path_factory.mktemp("compiled") / "evaluate_classifier.yaml"
    compiler.Compiler().compile(evaluate_classifier, str(path))
    return yaml.safe_load(Path(path).read_text())


def test_inputs_outputs_and_image(spec: dict) -> None:
    component = spec["components"]["comp-evaluate-classifier"]
    inputs, outputs = component["inputDefinitions"], component["outputDefinitions"]

    artifacts = inputs["artifacts"]
    assert artifacts["model"]["artifactType"]["schemaTitle"] == "system.Model"
    assert artifacts["test"]["artifactType"]["schemaTitle"] == "system.Dataset"
    assert artifacts["champion"]["isOptional"] is True
    assert "isOptional" not in artifacts["model"]
    assert inputs["parameters"]["thresholds"]["defaultValue"] == ""
    assert inputs["parameters"]["require_improvement"]["parameterType"] == "BOOLEAN"

    kinds = {name: a["artifactType"]["schemaTitle"] for name, a in outputs["artifacts"].items()}
    assert kinds == {
        "metrics": "system.Metrics",
        "classification_metrics": "system.ClassificationMetrics",
        "report": "system.HTML",
        "predictions": "system.Dataset",
    }
    types = {name: p["parameterType"] for name, p in outputs["parameters"].items()}
    assert types == {"approved": "BOOLEAN", "reason": "STRING"}
    # The docstring documents every input and output in the compiled spec (the UI shows it).
    for group in (inputs["artifacts"], inputs["parameters"], outputs["artifacts"]):
        assert all(entry.get("description") for entry in group.values())
    assert all(entry.get("description") for entry in outputs["parameters"].values())
    (executor,) = spec["deploymentSpec"]["executors"].values()
    assert executor["container"]["image"] == IMAGE
