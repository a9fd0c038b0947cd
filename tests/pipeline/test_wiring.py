"""Every parameter of a called pipeline is wired from its caller, or listed as left at default.

Checked on the compiled IR, the pipeline spec a KFP backend runs, of every shipped pipeline.
"""

import inspect
from pathlib import Path

import pytest
import yaml
from kfp import compiler, dsl

from pipelines import wiring
from pipelines.monitoring import text_classifier_monitoring
from pipelines.scoring import batch_scoring
from pipelines.training import make_training_pipeline, text_classifier_training

SHIPPED = [text_classifier_training, text_classifier_monitoring, batch_scoring]


def compiled(pipeline, tmp_path: Path) -> dict:
    path = tmp_path / f"{pipeline.name}.yaml"
    compiler.Compiler().compile(pipeline, str(path))
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("pipeline", SHIPPED, ids=lambda p: p.name)
def test_every_called_pipeline_gets_every_parameter(pipeline, tmp_path):
    assert wiring.unwired(compiled(pipeline, tmp_path)) == []


def test_the_monitoring_pipeline_takes_every_training_parameter_to_its_retrain():
    training = inspect.signature(text_classifier_training.pipeline_func).parameters
    monitoring = inspect.signature(text_classifier_monitoring.pipeline_func).parameters
    # Declared by the monitoring pipeline itself: the window's columns mean the monitored
    # traffic's; the retrain's are data_text_column and data_label_column.
    for name, parameter in training.items():
        assert name in monitoring, name
        if name not in ("text_column", "label_column", "data_uri", "registry_uri", "model_name"):
            assert monitoring[name].default == parameter.default, name
            assert monitoring[name].annotation == parameter.annotation, name
    spec = text_classifier_monitoring.component_spec.inputs
    assert spec["deploy_dry_run"].description.startswith("Only render the InferenceService")


def _dropping(parameter: str):
    """A pipeline that calls the training pipeline and passes all but `parameter`."""
    training = make_training_pipeline()
    names = [p for p in training.component_spec.inputs if p != parameter]

    @dsl.pipeline(name="drops-one")
    @wiring.inherits(training)
    def drops_one(data_uri: str, registry_uri: str, **settings):
        """Args:
        data_uri: Table.
        registry_uri: Registry.
        """
        values = {"data_uri": data_uri, "registry_uri": registry_uri, **settings}
        training(**{n: values[n] for n in names})

    return drops_one


def test_a_call_that_drops_a_parameter_is_named(tmp_path):
    ir = compiled(_dropping("payload_log_uri"), tmp_path)
    assert wiring.unwired(ir) == ["drops-one -> text-classifier-training: payload_log_uri"]


def test_a_parameter_listed_as_left_at_default_is_accepted(tmp_path, monkeypatch):
    key = ("drops-one", "text-classifier-training")
    reason = {"payload_log_uri": "this caller serves without a payload log"}
    monkeypatch.setitem(wiring.LEFT_AT_DEFAULT, key, reason)
    assert wiring.unwired(compiled(_dropping("payload_log_uri"), tmp_path)) == []
    # Listing one parameter does not excuse another.
    assert wiring.unwired(compiled(_dropping("group_column"), tmp_path)) == [
        "drops-one -> text-classifier-training: group_column"
    ]


def test_inheriting_a_required_parameter_must_be_declared():
    training = make_training_pipeline()
    with pytest.raises(TypeError, match="must declare registry_uri"):

        @wiring.inherits(training)
        def forgets(data_uri: str, **settings):
            pass


# A pipeline parameter passed on to a step's parameter of the same name has the step's default,
# except where the pipeline sets a policy of its own (the step's default suits the step alone).
POLICY = {
    ("text-classifier-training", "evaluate-classifier"): {
        "thresholds": "the release gate: a model must reach macro-F1 0.5",
        "require_beat_baseline": "a release must beat TF-IDF + logistic regression",
        "seed": "one seed for the split, the training and the bootstrap",
        "slice_columns": "report by text length",
    },
    ("text-classifier-training", "prepare-dataset"): {"slice_columns": "report by text length"},
    ("text-classifier-monitoring", "monitor-classifier"): {"window_hours": "a daily schedule"},
}


@pytest.mark.parametrize("pipeline", SHIPPED, ids=lambda p: p.name)
def test_a_parameter_passed_on_keeps_the_steps_default(pipeline, tmp_path):
    ir = compiled(pipeline, tmp_path)
    declared = ir["root"]["inputDefinitions"]["parameters"]
    differ = set()
    for task in ir["root"]["dag"]["tasks"].values():
        callee = task["componentRef"]["name"].removeprefix("comp-")
        step = ir["components"]["comp-" + callee].get("inputDefinitions", {}).get("parameters", {})
        for name, source in task.get("inputs", {}).get("parameters", {}).items():
            if source.get("componentInputParameter") != name:
                continue
            # A parameter that either side requires has no default to compare.
            both = "defaultValue" in declared[name] and "defaultValue" in step.get(name, {})
            if both and declared[name]["defaultValue"] != step[name]["defaultValue"]:
                differ.add((callee, name))
    listed = {(c, n) for (p, c), names in POLICY.items() if p == pipeline.name for n in names}
    assert differ == listed
