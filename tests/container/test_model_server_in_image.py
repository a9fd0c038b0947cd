"""The model server in the image, started as our InferenceService starts it, asked by a real
Open Inference Protocol client.

The container gets the command, arguments, port and readiness path of
manifests/base/inferenceservice.yaml, the trained model folder mounted read-only at /mnt/models
(where KServe's storage initializer puts it), and the restricted settings of the manifest's
securityContext. Its port is published on loopback. tritonclient, NVIDIA's Open Inference
Protocol client, then asks it and the same server running on the host the same questions.
Not exercised here: KServe's storage initializer and the Knative activator in front of the pod.
"""

import subprocess
import sys
import time
from collections.abc import Iterator

import numpy as np
import pytest
import requests
import tritonclient.http as triton
import yaml
from in_image import REPO, RESTRICTED

from components.sample_data import LABELS
from tests.net import free_port

pytestmark = pytest.mark.timeout(2400)

MANIFEST = REPO / "manifests" / "base" / "inferenceservice.yaml"
TEXTS = [
    "where is my order 4411? it still says processing",
    "STOP",
    "does the promo code work on sale items",
    "love it, thanks!!",
    "is the rain jacket waterproof or just water resistant",
    "I was charged twice and nobody answers the phone",
]


def predictor() -> dict:
    """The InferenceService's serving container, as the cluster gets it."""
    service = yaml.safe_load(MANIFEST.read_text())
    return service["spec"]["predictor"]["containers"][0]


def wait_until_ready(url: str, logs, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=5).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(1)
    pytest.fail(f"{url} did not turn ready in {timeout:.0f} s:\n{logs()[-4000:]}")


def model_name(container: dict) -> str:
    args = container["args"]
    return args[args.index("--model-name") + 1]


@pytest.fixture(scope="module")
def served_in_image(docker_client, image: str, training_run) -> Iterator[str]:
    """The image's model server on the trained model, reachable at the returned host:port."""
    container = predictor()
    port = container["ports"][0]["containerPort"]
    readiness = container["readinessProbe"]["httpGet"]
    assert readiness["port"] == port
    host_port = free_port()
    model = str(training_run.outputs["model"].path)
    server = docker_client.containers.run(
        image,
        [*container["command"], *container["args"]],
        detach=True,
        environment={entry["name"]: entry["value"] for entry in container["env"]},
        volumes={model: {"bind": "/mnt/models", "mode": "ro"}},
        ports={f"{port}/tcp": ("127.0.0.1", host_port)},
        **RESTRICTED,
    )
    try:
        address = f"127.0.0.1:{host_port}"
        wait_until_ready(f"http://{address}{readiness['path']}", lambda: server.logs().decode())
        yield address
    finally:
        server.remove(force=True)


@pytest.fixture(scope="module")
def served_on_host(training_run, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The same server from this checkout, on the same model folder, on loopback."""
    port = free_port()
    log = tmp_path_factory.mktemp("host-server") / "server.log"
    name = model_name(predictor())
    command = [sys.executable, "-m", "components.serve", "--model-name", name]
    command += ["--model-dir", str(training_run.outputs["model"].path), "--port", str(port)]
    with log.open("w") as sink:
        process = subprocess.Popen(command, cwd=REPO, stdout=sink, stderr=subprocess.STDOUT)
    try:
        address = f"127.0.0.1:{port}"
        wait_until_ready(f"http://{address}/v2/models/{name}/ready", log.read_text)
        yield address
    finally:
        process.terminate()
        process.wait(timeout=30)


def labels_from(address: str, name: str) -> list[str]:
    """Ask an Open Inference Protocol server for the label of each text, as tritonclient does by
    default: tensors in the protocol's binary data extension."""
    client = triton.InferenceServerClient(url=address)
    try:
        assert client.is_server_live()
        assert client.is_model_ready(name)
        metadata = client.get_model_metadata(name)
        assert {"name": "text", "datatype": "BYTES", "shape": [-1]} in metadata["inputs"]
        texts = triton.InferInput("text", [len(TEXTS)], "BYTES")
        texts.set_data_from_numpy(np.array(TEXTS, dtype=object))
        result = client.infer(name, inputs=[texts], outputs=[triton.InferRequestedOutput("label")])
        labels = result.as_numpy("label")
        return [label.decode() if isinstance(label, bytes) else label for label in labels]
    finally:
        client.close()


def test_readiness_probe_turns_ready_and_liveness_answers(served_in_image: str):
    container = predictor()
    ready = requests.get(
        f"http://{served_in_image}{container['readinessProbe']['httpGet']['path']}"
    )
    assert ready.status_code == 200
    live = requests.get(f"http://{served_in_image}{container['livenessProbe']['httpGet']['path']}")
    assert live.status_code == 200


def test_open_inference_protocol_client_gets_the_host_servers_labels(
    served_in_image: str, served_on_host: str
):
    name = model_name(predictor())
    in_image = labels_from(served_in_image, name)
    assert in_image == labels_from(served_on_host, name)
    assert len(in_image) == len(TEXTS)
    assert set(in_image) <= set(LABELS)


def test_bad_request_gets_a_4xx_json_error_and_the_server_stays_up(served_in_image: str):
    name = model_name(predictor())
    reply = requests.post(
        f"http://{served_in_image}/v2/models/{name}/infer",
        json={"inputs": [{"name": "text", "datatype": "FP32", "shape": [1], "data": [1.0]}]},
        timeout=30,
    )
    assert 400 <= reply.status_code < 500
    assert "error" in reply.json()
    assert labels_from(served_in_image, name)
