"""Validating what we render against an engine's CRD as a strict API server would.

An API server with strict field validation rejects a field its CRD's OpenAPI v3 schema does not
list; JSON Schema accepts it unless told otherwise. `validator` turns the schema into one that
refuses unknown fields wherever the CRD lists properties (and does not preserve unknown ones).
Not exercised: CEL rules (`x-kubernetes-validations`), defaulting and admission webhooks.
"""

import functools
from pathlib import Path
from typing import Any

import jsonschema
import yaml

DATA = Path(__file__).resolve().parent / "data"


def strict(schema: Any) -> Any:
    """An OpenAPI v3 structural schema as JSON Schema that rejects unknown fields."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict(v) for k, v in schema.items() if not k.startswith("x-kubernetes")}
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    out.pop("format", None)
    return out


@functools.cache
def validator(crd_file: str, version: str) -> jsonschema.Draft7Validator:
    """The strict validator of one version of the CRD in tests/data/`crd_file`."""
    crd = yaml.load((DATA / crd_file).read_text(), Loader=yaml.CSafeLoader)
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    return jsonschema.Draft7Validator(strict(served["schema"]["openAPIV3Schema"]))


def errors(obj: dict, crd_file: str, version: str) -> list[str]:
    """Every violation, as `path.to.field: message`."""
    found = validator(crd_file, version).iter_errors(obj)
    return [f"{'.'.join(map(str, e.path))}: {e.message}" for e in found]
