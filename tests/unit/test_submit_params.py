"""Pipeline parameters checked and converted against the types a pipeline declares, with errors
in the user's words."""

from pathlib import Path
from typing import Any

import pytest
from kfp import compiler, dsl

from components.common.errors import KfpNlpError
from components.common.image import IMAGE
from pipelines.kfp_remote import load_package
from pipelines.params import declared_parameters, describe_parameters, typed_parameters

DECLARED = {
    "text": {"parameterType": "STRING"},
    "epochs": {"parameterType": "NUMBER_INTEGER", "defaultValue": 3.0, "isOptional": True},
    "rate": {"parameterType": "NUMBER_DOUBLE", "defaultValue": 0.1, "isOptional": True},
    "fast": {"parameterType": "BOOLEAN", "defaultValue": False, "isOptional": True},
    "labels": {"parameterType": "LIST", "isOptional": True},
    "extra": {"parameterType": "STRUCT", "isOptional": True},
}


def test_command_line_text_is_parsed_to_the_declared_types() -> None:
    text = {
        "text": "hello",
        "epochs": "5",
        "rate": "2e-5",
        "fast": "TRUE",
        "labels": '["a", "b"]',
        "extra": '{"k": 1}',
    }
    assert typed_parameters(DECLARED, text, "p", "--param", from_text=True) == {
        "text": "hello",
        "epochs": 5,
        "rate": 2e-5,
        "fast": True,
        "labels": ["a", "b"],
        "extra": {"k": 1},
    }


def test_yaml_values_must_already_have_the_declared_type() -> None:
    values = {"text": "x", "epochs": 4.0, "rate": 1, "fast": False, "labels": [], "extra": {}}
    assert typed_parameters(DECLARED, values, "p", "f.yaml") == {
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
        ({"text": "x", "epochs": "5"}, False, "epochs='5' is not a whole number; give e.g. "),
        ({"text": "x", "epochs": 2.5}, False, "epochs=2.5 is not a whole number"),
        ({"text": "x", "epochs": "2.5"}, True, "epochs='2.5' is not a whole number"),
        ({"text": "x", "rate": "fast"}, True, "rate='fast' is not a number; give e.g. rate=0.5"),
        ({"text": "x", "fast": "yes please"}, True, "fast='yes please' is not true or false"),
        ({"text": "x", "labels": '["a"'}, True, "labels=.* is not a list"),
        ({"text": "x", "extra": "[1]"}, True, r"extra='\[1\]' is not a mapping"),
        ({"text": True}, False, r'text=True is not text; give e.g. text="some text" \(quote'),
        ({"epochs": "1"}, True, "pipeline 'p' needs a value for text"),
        ({"text": "x", "epoch": "1"}, True, "where: pipeline 'p' has no parameter 'epoch'"),
    ],
)
def test_values_that_do_not_fit_are_refused(
    values: dict[str, Any], from_text: bool, message: str
) -> None:
    with pytest.raises(KfpNlpError, match=message):
        typed_parameters(DECLARED, values, "p", "where", from_text=from_text)


def test_errors_never_show_kfps_type_names() -> None:
    for kind, value in (("epochs", "x"), ("rate", "x"), ("fast", "x"), ("extra", "x")):
        with pytest.raises(KfpNlpError) as refused:
            typed_parameters(DECLARED, {"text": "x", kind: value}, "p", "--param", True)
        assert not any(
            word in str(refused.value).upper() for word in ("NUMBER_", "BOOLEAN", "STRUCT")
        )


def test_a_list_is_given_as_commas_or_json() -> None:
    typed = typed_parameters(DECLARED, {"text": "x", "labels": "a, b"}, "p", "--param", True)
    assert typed["labels"] == ["a", "b"]


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def _echo(message: str) -> str:
    return message


@dsl.pipeline(name="tiny")
def tiny(message: str, times: int = 2, ratio: float = 0.5, verbose: bool = False):
    _echo(message=message)


def test_a_pipeline_function_and_its_compiled_yaml_declare_the_same(tmp_path: Path) -> None:
    compiler.Compiler().compile(tiny, str(tmp_path / "tiny.yaml"))
    assert load_package(str(tmp_path / "tiny.yaml")).parameters == declared_parameters(tiny)
    typed = typed_parameters(
        declared_parameters(tiny), {"message": "m", "times": "4"}, "tiny", "-", True
    )
    assert typed == {"message": "m", "times": 4}


def test_help_names_types_in_words() -> None:
    described = describe_parameters(declared_parameters(tiny))
    assert "message (text, required)" in described
    assert "times (whole number, default 2)" in described
    assert "ratio (number, default 0.5)" in described
    assert "verbose (true or false, default false)" in described
