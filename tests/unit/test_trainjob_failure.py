"""Which node a failed TrainJob is blamed on, from the SDK's view of it (steps, node logs).

When one node dies, the others' collectives fail a moment later, and by the launcher's next poll
every node may show Failed: the step must still name the node that died, not the first one
that lost it. (tests/container/test_trainjob_in_containers.py kills a node for real; which of the
two it sees Failed first depends on the timing there, so the rule is pinned down here.)"""

import datetime

import pytest
from kubeflow.trainer.types.types import (
    Runtime,
    RuntimeKind,
    RuntimeTrainer,
    Step,
    TrainerType,
    TrainJob,
)

from components.finetune import trainjob

pytestmark = pytest.mark.unit
GLOO_PEER_LOST = (
    "[rank0]: RuntimeError: [/__w/pytorch/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:"
    "534] Connection closed by peer [10.89.5.3]:57466"
)


def job(*statuses: str) -> TrainJob:
    steps = [Step(name=f"node-{r}", status=s, pod_name=f"p-{r}") for r, s in enumerate(statuses)]
    trainer = RuntimeTrainer(TrainerType.CUSTOM_TRAINER, "torch", "kfp-nlp", len(statuses))
    runtime = Runtime("torch-distributed", trainer, RuntimeKind.CLUSTER_TRAINING_RUNTIME)
    return TrainJob(
        name="kfp-nlp-ft-x",
        runtime=runtime,
        steps=steps,
        num_nodes=len(statuses),
        creation_timestamp=datetime.datetime.now(datetime.UTC),
        status="Failed",
    )


def logs(lines: dict[int, list[str]]) -> trainjob._NodeLogs:
    kept = trainjob._NodeLogs(client=None, name="kfp-nlp-ft-x", nodes=2, shared_first_stream=False)
    for rank, text in lines.items():
        for line in text:
            kept._show(rank, line)
    return kept


def test_the_node_that_died_is_named_not_the_one_that_lost_it():
    seen = logs({0: ["[finetune] step 3/400", GLOO_PEER_LOST], 1: ["[finetune] step 3/400"]})
    assert trainjob._failed_node(job("Failed", "Failed"), seen) == 1
    assert seen.last_error(1).startswith("it stopped without an error in its log")


def test_a_node_that_failed_with_its_own_error_is_named():
    seen = logs({0: ["error: cannot reach S3 at http://10.0.0.1:9000"], 1: [GLOO_PEER_LOST]})
    assert trainjob._failed_node(job("Failed", "Failed"), seen) == 0
    assert seen.last_error(0) == "cannot reach S3 at http://10.0.0.1:9000"


def test_with_one_failed_node_that_node_is_named_whatever_its_log_says():
    seen = logs({1: [GLOO_PEER_LOST]})
    assert trainjob._failed_node(job("Running", "Failed"), seen) == 1
