"""Pipeline parameters checked and converted against the types a compiled pipeline declares."""

from pathlib import Path
from typing import Any

import pytest

from components.common.errors import KfpNlpError
from pipelines.kfp_remote import PipelinePackage, typed_parameters

PACKAGE = PipelinePackage(
    path=Path("p.yaml"),
    name="p",
    parameters={
        "text": {"parameterType": "STRING"},
        "epochs": {"parameterType": "NUMBER_INTEGER", "defaultValue": 3.0, "isOptional": True},
        "rate": {"parameterType": "NUMBER_DOUBLE", "defaultValue": 0.1, "isOptional": True},
        "fast": {"parameterType": "BOOLEAN", "defaultValue": False, "isOptional": True},
        "labels": {"parameterType": "LIST", "isOptional": True},
        "extra": {"parameterType": "STRUCT", "isOptional": True},
    },
    sha256="0" * 64,
)


def test_command_line_text_is_parsed_to_the_declared_types() -> None:
    text = {
        "text": "hello",
        "epochs": "5",
        "rate": "2e-5",
        "fast": "TRUE",
        "labels": '["a", "b"]',
        "extra": '{"k": 1}',
    }
    assert typed_parameters(PACKAGE, text, "--param", from_text=True) == {
        "text": "hello",
        "epochs": 5,
        "rate": 2e-5,
        "fast": True,
        "labels": ["a", "b"],
        "extra": {"k": 1},
    }


def test_yaml_values_must_already_have_the_declared_type() -> None:
    values = {"text": "x", "epochs": 4.0, "rate": 1, "fast": False, "labels": [], "extra": {}}
    assert typed_parameters(PACKAGE, values, "f.yaml") == {
        "text": "x",
        "epochs": 4,
        "rate": 1.0,
        "fast": False,
        "labels": [],
        "extra": {},
    }


@pytest.mark.parametrize(
    ("values", "from_text", "message"),
    [
        ({"text": "x", "epochs": "5"}, False, "epochs='5' is not a valid number_integer"),
        ({"text": "x", "epochs": 2.5}, False, "epochs=2.5 is not a valid number_integer"),
        ({"text": "x", "fast": "yes please"}, True, "fast='yes please' is not a valid boolean"),
        ({"text": "x", "labels": "a,b"}, True, "labels='a,b' is not a valid list"),
        ({"text": "x", "extra": "[1]"}, True, r"extra='\[1\]' is not a valid struct"),
        ({"text": True}, False, "text=True is not a valid string"),
        ({"epochs": "1"}, True, "needs a value for text"),
    ],
)
def test_values_that_do_not_fit_are_refused(
    values: dict[str, Any], from_text: bool, message: str
) -> None:
    with pytest.raises(KfpNlpError, match=message):
        typed_parameters(PACKAGE, values, "where", from_text=from_text)
