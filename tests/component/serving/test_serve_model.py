"""The KServe model object in process: not ready until loaded, then answers both protocols."""

import asyncio

import pytest
from kserve import InferInput, InferRequest
from kserve.errors import ModelNotReady

from components.serve.config import ServeConfig
from components.serve.server import TextClassifierModel

pytestmark = pytest.mark.component


def test_model_is_not_ready_until_loaded(small_model):
    model = TextClassifierModel("intents", ServeConfig(model_dir=str(small_model.model_dir)))
    model.verify()
    assert model.ready is False
    assert asyncio.run(model.healthy()) is False
    with pytest.raises(ModelNotReady):
        asyncio.run(model.predict({"instances": ["STOP"]}))

    assert model.load() is True
    v1 = asyncio.run(model.predict({"instances": ["STOP"]}))
    request = InferRequest("intents", [InferInput("text", [1], "BYTES", ["STOP"])])
    v2 = asyncio.run(model.predict(request))
    assert v1["predictions"][0]["label"] == "unsubscribe"
    assert v2.outputs[0].data == ["unsubscribe"]
