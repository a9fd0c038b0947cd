"""A stage's settings are declared once, in its config dataclass; its KFP signature mirrors it.

For every stage: each config field is a parameter of the component with the same type and
default, each other parameter of the component is one of the few a step alone has (an input
location, an identity that keys KFP's cache), and the description KFP shows for a setting is
the config's help unless the component says what the step does differently.
"""

import dataclasses
import inspect
import typing

import pytest

from components.batch_predict.component import batch_predict
from components.batch_predict.config import BatchPredictConfig
from components.deploy.component import deploy_inference_service
from components.deploy.config import DeployConfig
from components.evaluate.component import evaluate_classifier
from components.evaluate.config import EvaluateConfig
from components.finetune.component import finetune_classifier
from components.finetune.config import FinetuneConfig
from components.monitor.component import monitor_classifier
from components.monitor.config import MonitorConfig
from components.prepare.component import prepare_dataset
from components.prepare.config import PrepareConfig

PARAMETER_TYPES = ("String", "Integer", "Float", "Boolean", "List", "Struct")

# component, its config, the step's own inputs, the settings whose step meaning it describes
STAGES = [
    (prepare_dataset, PrepareConfig, {"source_uri", "source_fingerprint"}, set()),
    (
        finetune_classifier,
        FinetuneConfig,
        {"base_model_fingerprint", "check_only"},
        {"base_model", "checkpoint_uri"},
    ),
    (evaluate_classifier, EvaluateConfig, {"champion_uri"}, set()),
    (deploy_inference_service, DeployConfig, {"model_uri"}, set()),
    (
        batch_predict,
        BatchPredictConfig,
        {"input_uri", "output_uri"},
        {"parts_uri", "output_format"},
    ),
    (
        monitor_classifier,
        MonitorConfig,
        {"model_uri", "registry_uri", "model_name", "reference_uri", "current_uri"},
        set(),
    ),
]


IDS = [stage[0].name for stage in STAGES]


def default(field: dataclasses.Field):
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None if field.default is dataclasses.MISSING else field.default


@pytest.mark.parametrize(("component", "config", "own", "described"), STAGES, ids=IDS)
def test_the_signature_mirrors_the_config(component, config, own, described):
    parameters = inspect.signature(component.python_func).parameters
    hints = typing.get_type_hints(config)
    for field in dataclasses.fields(config):
        assert field.name in parameters, f"{component.name}: no parameter {field.name}"
        parameter = parameters[field.name]
        # KFP takes a bare `list` where the config says list[str].
        kind = typing.get_origin(hints[field.name]) or hints[field.name]
        assert parameter.annotation == kind, field.name
        wanted = default(field)
        if parameter.default is not inspect.Parameter.empty or wanted:
            assert parameter.default == wanted, field.name
    inputs = component.component_spec.inputs
    settings = {f.name for f in dataclasses.fields(config)}
    others = {n for n in parameters if n in inputs and inputs[n].type in PARAMETER_TYPES}
    assert others - settings == own


@pytest.mark.parametrize(("component", "config", "own", "described"), STAGES, ids=IDS)
def test_kfp_shows_the_configs_help(component, config, own, described):
    inputs = component.component_spec.inputs
    for field in dataclasses.fields(config):
        shown = " ".join((inputs[field.name].description or "").split())
        if field.name in described:
            assert shown and shown != " ".join(field.metadata["help"].split()) + ".", field.name
        else:
            assert shown == " ".join(field.metadata["help"].split()) + ".", field.name
