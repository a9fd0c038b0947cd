"""The model object in process: not ready until loaded, then answers both protocols."""

import asyncio
import json

import pytest

from components.serve.config import ServeConfig
from components.serve.errors import ModelNotReady
from components.serve.server import TextClassifierModel

pytestmark = pytest.mark.component

V1 = json.dumps({"instances": ["STOP"]}).encode()
V2 = json.dumps(
    {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["STOP"]}]}
).encode()


def test_model_is_not_ready_until_loaded(small_model):
    config = ServeConfig(model_dir=str(small_model.model_dir))
    model = TextClassifierModel("intents", config, version="v7")
    model.verify()
    assert model.ready is False
    with pytest.raises(ModelNotReady):
        asyncio.run(model.predict_v1(V1))
    with pytest.raises(ModelNotReady):
        model.metadata()

    assert model.load() is True
    v1 = asyncio.run(model.predict_v1(V1))
    body, headers = asyncio.run(model.predict_v2(V2))
    assert v1["predictions"][0]["label"] == "unsubscribe"
    assert headers["content-type"] == "application/json"
    v2 = json.loads(body)
    assert (v2["model_name"], v2["model_version"]) == ("intents", "v7")
    assert v2["outputs"][0]["data"] == ["unsubscribe"]
    assert model.metadata()["versions"] == ["v7"]
