"""KFP signatures mirror the config dataclasses; the micro-batcher joins concurrent requests."""

import asyncio
import dataclasses
import inspect

import numpy as np
import pytest

from components.batch_predict.component import batch_predict
from components.batch_predict.config import BatchPredictConfig
from components.deploy.component import deploy_inference_service
from components.deploy.config import DeployConfig
from components.serve.component import export_onnx
from components.serve.config import ExportConfig
from components.serve.server import MicroBatcher

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("component", "config", "required"),
    [
        (batch_predict, BatchPredictConfig, set()),
        (export_onnx, ExportConfig, set()),
        (deploy_inference_service, DeployConfig, {"name"}),
    ],
)
def test_component_parameters_mirror_the_config(component, config, required):
    parameters = inspect.signature(component.python_func).parameters
    for field in dataclasses.fields(config):
        assert field.name in parameters, field.name
        default = parameters[field.name].default
        if field.name in required:
            assert default is inspect.Parameter.empty
            continue
        expected = (
            field.default if field.default is not dataclasses.MISSING else field.default_factory()
        )
        assert default == expected, field.name


def lengths(texts: list[str]) -> np.ndarray:
    return np.array([[len(t)] for t in texts], dtype=np.float32)


def test_concurrent_requests_share_one_scoring_call():
    calls: list[list[str]] = []

    def score(texts: list[str]) -> np.ndarray:
        calls.append(texts)
        return lengths(texts)

    async def main() -> list[np.ndarray]:
        batcher = MicroBatcher(score, window_s=0.2, max_texts=64)
        requests = [["a"], ["bb", "ccc"], ["dddd"]]
        return await asyncio.gather(*(batcher.submit(r) for r in requests))

    results = asyncio.run(main())
    assert calls == [["a", "bb", "ccc", "dddd"]]
    assert [r.ravel().tolist() for r in results] == [[1], [2, 3], [4]]


def test_a_full_batch_does_not_wait_for_the_window():
    calls: list[list[str]] = []

    def score(texts: list[str]) -> np.ndarray:
        calls.append(texts)
        return lengths(texts)

    async def main() -> float:
        batcher = MicroBatcher(score, window_s=30, max_texts=2)
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.gather(batcher.submit(["a"]), batcher.submit(["b"]))
        return loop.time() - start

    assert asyncio.run(main()) < 5
    assert calls == [["a", "b"]]


def test_a_failed_batch_fails_its_requests_and_the_next_one_works():
    failures = iter([True, False])

    def score(texts: list[str]) -> np.ndarray:
        if next(failures):
            raise RuntimeError("scoring failed")
        return lengths(texts)

    async def main() -> np.ndarray:
        batcher = MicroBatcher(score, window_s=0, max_texts=8)
        with pytest.raises(RuntimeError, match="scoring failed"):
            await batcher.submit(["x"])
        return await batcher.submit(["yy"])

    assert asyncio.run(main()).ravel().tolist() == [2]
