"""KFP signatures mirror the configs; the batch scheduler; the int8-or-PyTorch release choice."""

import asyncio
import dataclasses
import inspect
import threading

import numpy as np
import pytest

from components.batch_predict.component import batch_predict
from components.batch_predict.config import BatchPredictConfig
from components.deploy.component import deploy_inference_service
from components.deploy.config import DeployConfig
from components.serve.component import export_onnx
from components.serve.config import ExportConfig
from components.serve.release import choose_backend
from components.serve.scheduler import BatchScheduler, Overloaded


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


def tokens_of(texts: list[str]) -> dict[str, list[list[int]]]:
    """A stand-in tokenizer: one token per character."""
    return {"input_ids": [[1] * len(t) for t in texts]}


def lengths(tokens: dict[str, list[list[int]]]) -> np.ndarray:
    return np.array([[len(ids)] for ids in tokens["input_ids"]], dtype=np.float32)


class Model:
    """A scoring function that records its batches and can be held busy."""

    def __init__(self):
        self.batches: list[list[int]] = []
        self.release = threading.Event()
        self.release.set()

    def __call__(self, tokens: dict[str, list[list[int]]]) -> np.ndarray:
        self.release.wait(10)
        self.batches.append([len(ids) for ids in tokens["input_ids"]])
        return lengths(tokens)


def scheduler(model: Model, **limits: int) -> BatchScheduler:
    settings = {"max_batch_tokens": 1000, "max_batch_texts": 100, "max_queue_texts": 100}
    return BatchScheduler(tokens_of, model, **{**settings, **limits})


async def started(batcher: BatchScheduler, texts: list[str]) -> asyncio.Task:
    """Submit `texts` and let the event loop run until they are queued or scored."""
    task = asyncio.ensure_future(batcher.submit(texts, 30))
    for _ in range(50):
        await asyncio.sleep(0.01)
        if batcher.queued_texts == 0:
            break
    return task


def test_requests_queued_while_the_model_is_busy_share_one_batch_in_order():
    model = Model()

    async def main() -> list[np.ndarray]:
        batcher = scheduler(model)
        model.release.clear()
        first = await started(batcher, ["x"])
        rest = [asyncio.ensure_future(batcher.submit(t, 30)) for t in (["aa", "bbb"], ["cccc"])]
        await asyncio.sleep(0.1)
        model.release.set()
        return [await first, *await asyncio.gather(*rest)]

    results = asyncio.run(main())
    assert model.batches == [[1], [2, 3, 4]]
    assert [r.ravel().tolist() for r in results] == [[1], [2, 3], [4]]


def test_an_idle_model_scores_a_lone_request_without_waiting():
    model = Model()

    async def main() -> float:
        batcher = scheduler(model)
        loop = asyncio.get_running_loop()
        start = loop.time()
        await batcher.submit(["abc"], 30)
        return loop.time() - start

    assert asyncio.run(main()) < 1
    assert model.batches == [[3]]


def test_the_token_budget_and_text_count_bound_each_batch():
    model = Model()

    async def main() -> None:
        batcher = scheduler(model, max_batch_tokens=10, max_batch_texts=3)
        model.release.clear()
        first = await started(batcher, ["x"])
        waiting = [batcher.submit(t, 30) for t in (["aaaaaa"], ["bbbbbb"], ["c", "c"], ["d", "d"])]
        tasks = [asyncio.ensure_future(w) for w in waiting]
        await asyncio.sleep(0.1)
        model.release.set()
        await asyncio.gather(first, *tasks)

    asyncio.run(main())
    # 6 + 6 tokens is over 10; then 6 + 1 + 1 fits, but a fourth text would be over 3.
    assert model.batches == [[1], [6], [6, 1, 1], [1, 1]]


def test_a_full_queue_refuses_at_once_and_accepts_again_when_drained():
    model = Model()
    rejected: list[str] = []

    async def main() -> None:
        batcher = BatchScheduler(
            tokens_of, model, 1000, 100, max_queue_texts=4, on_reject=rejected.append
        )
        model.release.clear()
        first = await started(batcher, ["x"])
        queued = asyncio.ensure_future(batcher.submit(["a", "b", "c"], 30))
        await asyncio.sleep(0.05)
        with pytest.raises(Overloaded, match="overloaded") as refused:
            await batcher.submit(["d", "e"], 30)
        assert refused.value.retry_after_s >= 1
        model.release.set()
        await asyncio.gather(first, queued)
        assert (await batcher.submit(["d", "e"], 30)).ravel().tolist() == [1, 1]

    asyncio.run(main())
    assert rejected == ["queue_full"]


def test_late_and_abandoned_requests_leave_the_queue_unscored():
    model = Model()
    rejected: list[str] = []

    async def main() -> None:
        batcher = BatchScheduler(tokens_of, model, 1000, 100, 100, on_reject=rejected.append)
        model.release.clear()
        first = await started(batcher, ["x"])
        with pytest.raises(Overloaded, match="deadline"):
            await batcher.submit(["late"], 0.05)
        abandoned = asyncio.ensure_future(batcher.submit(["gone"], 30))
        await asyncio.sleep(0.05)
        abandoned.cancel()
        await asyncio.sleep(0.05)
        assert batcher.queued_texts == 0
        model.release.set()
        await first
        await batcher.submit(["next"], 30)
        assert batcher.idle

    asyncio.run(main())
    assert model.batches == [[1], [4]]
    assert rejected == ["deadline", "abandoned"]


def test_a_draining_scheduler_refuses_new_requests():
    async def main() -> None:
        batcher = scheduler(Model())
        batcher.drain()
        with pytest.raises(Overloaded, match="shutting down"):
            await batcher.submit(["a"], 30)

    asyncio.run(main())


def test_a_failed_batch_fails_its_requests_and_the_next_one_works():
    failures = iter([True, False])

    def score(tokens: dict[str, list[list[int]]]) -> np.ndarray:
        if next(failures):
            raise RuntimeError("scoring failed")
        return lengths(tokens)

    async def main() -> np.ndarray:
        batcher = BatchScheduler(tokens_of, score, 1000, 100, 100)
        with pytest.raises(RuntimeError, match="scoring failed"):
            await batcher.submit(["x"], 30)
        return await batcher.submit(["yy"], 30)

    assert asyncio.run(main()).ravel().tolist() == [2]


@pytest.mark.parametrize(
    ("fp32", "int8", "allowed", "backend", "words"),
    [
        (0.915, 0.912, 0.01, "onnx", "within the 0.0100 allowed"),
        (0.915, 0.905, 0.01, "onnx", "within the 0.0100 allowed"),
        (0.915, 0.930, 0.0, "onnx", "within the 0.0000 allowed"),
        (0.915, 0.900, 0.01, "pytorch", "int8 loses 0.0150, more than the 0.0100 allowed"),
        (0.915, 0.900, 0.02, "onnx", "within the 0.0200 allowed"),
        (0.915, None, 0.01, "pytorch", "not measured"),
    ],
)
def test_the_release_serves_int8_only_within_the_allowed_accuracy_drop(
    fp32, int8, allowed, backend, words
):
    choice = choose_backend(fp32, int8, allowed)
    assert choice.backend == backend
    assert words in choice.reason
    if int8 is not None:
        assert f"int8 accuracy {int8:.4f}, fp32 {fp32:.4f}" in choice.reason
