"""The model server as a user meets it: a real process on loopback, real HTTP requests.

`python -m components.serve` runs the server's FastAPI app under uvicorn with our model, on a
version folder of a real local registry; requests go over TCP through `requests`, `curl` and raw
sockets. Nothing is patched. Answers are compared with plain `transformers` inference on the
same model.
"""

import concurrent.futures
import json
import random
import re
import shlex
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from components.registry.registry import register_version, version_uri
from tests.component.serving.conftest import total

pytestmark = pytest.mark.component

TEXTS = [
    "where is my order 4411? it still says processing",
    "STOP",
    "does the promo code work on sale items",
    "love it, thanks!!",
    "is the rain jacket waterproof or just water resistant",
    "I was charged twice and nobody answers the phone",
]


REPO = Path(__file__).resolve().parents[3]
LONG = "where is my order, it was due last week and the tracking page shows nothing " * 3


@pytest.fixture(scope="module")
def registered(small_model, tmp_path_factory) -> tuple[Path, str]:
    """The small model registered as `intents`: its version folder, as a deployment gets it."""
    root = str(tmp_path_factory.mktemp("registry"))
    version = register_version(root, "intents", small_model.model_dir)
    return Path(version_uri(root, "intents", version)), version


@pytest.fixture(scope="module")
def server(registered, start_server):
    """The PyTorch backend in fp32, so answers can match plain transformers closely; no
    --model-name, so it is served under its registered name."""
    return start_server(registered[0], "intents", "--precision", "fp32", pass_name=False)


def reference(model_dir, texts: list[str]) -> tuple[list[str], np.ndarray]:
    """Labels and probabilities from plain transformers, one text at a time, fp32, at the
    temperature the model's config.json records (the documented calibration)."""
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, local_files_only=True)
    model.eval()
    rows = []
    with torch.inference_mode():
        for text in texts:
            logits = model(**tokenizer(text, return_tensors="pt")).logits
            temperature = getattr(model.config, "calibration_temperature", 1.0)
            rows.append(torch.softmax(logits / temperature, -1)[0].numpy())
    probs = np.stack(rows)
    return [model.config.id2label[i] for i in probs.argmax(1)], probs


def test_v1_and_v2_match_plain_transformers(server, small_model):
    labels, probs = reference(small_model.model_dir, TEXTS)

    v1 = server.v1({"instances": TEXTS, "parameters": {"return_probabilities": True}})
    assert v1.status_code == 200, v1.text
    predictions = v1.json()["predictions"]
    assert [p["label"] for p in predictions] == labels
    np.testing.assert_allclose([p["probability"] for p in predictions], probs.max(1), atol=1e-4)
    order = sorted(predictions[0]["probabilities"])
    served = np.array([[p["probabilities"][label] for label in order] for p in predictions])
    np.testing.assert_allclose(served, probs, atol=1e-4)

    body = {
        "inputs": [{"name": "text", "datatype": "BYTES", "shape": [len(TEXTS)], "data": TEXTS}],
        "parameters": {"return_probabilities": True},
    }
    v2 = server.v2(body)
    assert v2.status_code == 200, v2.text
    outputs = {o["name"]: o for o in v2.json()["outputs"]}
    assert outputs["label"]["data"] == labels
    np.testing.assert_allclose(outputs["probability"]["data"], probs.max(1), atol=1e-4)
    assert outputs["probabilities"]["shape"] == [len(TEXTS), 7]
    matrix = np.array(outputs["probabilities"]["data"]).reshape(len(TEXTS), 7)
    np.testing.assert_allclose(matrix, probs, atol=1e-4)


def test_predictions_are_useful_on_held_out_replies(server, small_model):
    test = pd.read_parquet(small_model.test_path).head(64)
    response = server.v1({"instances": test["text"].tolist()})
    assert response.status_code == 200, response.text
    predicted = [p["label"] for p in response.json()["predictions"]]
    assert np.mean(np.array(predicted) == test["label"].to_numpy()) >= 0.8


def test_probabilities_only_when_asked(server):
    v1 = server.v1({"instances": [{"text": "STOP"}]})
    assert v1.status_code == 200
    assert set(v1.json()["predictions"][0]) == {"label", "probability"}
    v2 = server.v2(
        {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["hi"]}]}
    )
    assert [o["name"] for o in v2.json()["outputs"]] == ["label", "probability"]


def test_the_v2_answer_names_the_registered_version(server, registered):
    body = {"id": "ticket-17", "inputs": [{**V2_TEXT, "data": ["STOP"]}]}
    answer = server.v2(body).json()
    assert (answer["model_name"], answer["model_version"]) == ("intents", registered[1])
    assert answer["id"] == "ticket-17"
    assert answer["outputs"][0]["data"] == ["unsubscribe"]


def test_health_and_metadata(server, registered, small_model):
    assert requests.get(f"{server.url}/v2/health/live", timeout=5).json() == {"live": True}
    assert requests.get(f"{server.url}/v2/health/ready", timeout=5).json() == {"ready": True}
    assert requests.get(f"{server.url}/v1/models/intents", timeout=5).json()["ready"] is True
    metadata = requests.get(f"{server.url}/v2/models/intents", timeout=5).json()
    assert metadata["name"] == "intents"
    assert metadata["versions"] == [registered[1]]
    assert metadata["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": [-1]}]
    outputs = {o["name"]: o for o in metadata["outputs"]}
    labels = outputs["probabilities"]["parameters"]["labels"]
    config = AutoModelForSequenceClassification.from_pretrained(small_model.model_dir).config
    assert labels == [config.id2label[i] for i in range(len(config.id2label))]

    body = {"inputs": [{**V2_TEXT, "data": ["STOP"]}], "parameters": {"return_probabilities": True}}
    answer = {o["name"]: o["data"] for o in server.v2(body).json()["outputs"]}
    assert labels[int(np.argmax(answer["probabilities"]))] == answer["label"][0]


def readme_commands() -> list[str]:
    """The curl commands of the first block of docs/serving.md, continuation lines joined."""
    page = (REPO / "docs" / "serving.md").read_text()
    block = re.search(r"^# Serving\n.*?```sh\n(.*?)```", page, re.S | re.M).group(1)
    commands: list[str] = []
    for line in block.splitlines():
        if line.startswith("curl"):
            commands.append(line)
        elif line.startswith(" ") and commands:
            commands[-1] += "\n" + line
    return [c.replace("\\\n", " ") for c in commands]


def test_the_readme_curl_examples_work_verbatim(server):
    commands = readme_commands()
    assert len(commands) == 2
    for command in commands:
        assert "localhost:8080" in command and "NAME" in command
        command = command.replace("localhost:8080", f"127.0.0.1:{server.port}")
        command = command.replace("NAME", server.name)
        done = subprocess.run(
            ["bash", "-c", command + " -w '\\n%{http_code}'"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        body, status = done.stdout.rsplit("\n", 1)
        assert (done.returncode, status) == (0, "200"), (shlex.split(command), done.stdout)
        assert "error" not in body
    assert '"unsubscribe"' in body and '"probabilities"' in body


V2_TEXT = {"name": "text", "datatype": "BYTES", "shape": [1], "data": ["hello"]}
BAD_REQUESTS = {
    "v1 malformed JSON": ("v1", b'{"instances": ["a"', 400),
    "v1 instances missing": ("v1", {"texts": ["a"]}, 400),
    "v1 instances not a list": ("v1", {"instances": "a"}, 400),
    "v1 empty instances": ("v1", {"instances": []}, 400),
    "v1 instance not text": ("v1", {"instances": [42]}, 400),
    "v1 bad parameters": ("v1", {"instances": ["a"], "parameters": "all"}, 400),
    "v1 too many texts": ("v1", {"instances": ["a"] * 65}, 400),
    "v1 text too long": ("v1", {"instances": ["a" * 2001]}, 400),
    "v1 body too large": ("v1", {"instances": ["a" * 1000] * 1100}, 413),
    "v1 unknown model": ("v1 unknown", {"instances": ["a"]}, 404),
    "v2 malformed JSON": ("v2", b'{"inputs": [', 400),
    "v2 inputs missing": ("v2", {"outputs": []}, 400),
    "v2 no inputs": ("v2", {"inputs": []}, 400),
    "v2 wrong datatype": ("v2", {"inputs": [{**V2_TEXT, "datatype": "FP32", "data": [1.0]}]}, 400),
    "v2 numbers as BYTES": ("v2", {"inputs": [{**V2_TEXT, "data": [1]}]}, 400),
    "v2 shape mismatch": ("v2", {"inputs": [{**V2_TEXT, "shape": [2]}]}, 400),
    "v2 two inputs": ("v2", {"inputs": [V2_TEXT, V2_TEXT]}, 400),
    "v2 unknown input name": ("v2", {"inputs": [{**V2_TEXT, "name": "texts"}]}, 400),
    "v2 unknown model": ("v2 unknown", {"inputs": [V2_TEXT]}, 404),
}


@pytest.mark.parametrize("case", BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
def test_bad_request_gets_json_4xx_and_server_stays_healthy(server, case):
    kind, body, status = case
    name = "no-such-model" if kind.endswith("unknown") else server.name
    path = f"/v1/models/{name}:predict" if kind.startswith("v1") else f"/v2/models/{name}/infer"
    data = body if isinstance(body, bytes) else None
    response = requests.post(
        server.url + path,
        data=data,
        json=None if data else body,
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert response.status_code == status, response.text
    assert response.json()["error"]

    good = server.v1({"instances": ["STOP"]})
    assert good.status_code == 200
    assert good.json()["predictions"][0]["label"] == "unsubscribe"


def test_concurrent_clients_all_succeed(server):
    """Eight clients, 96 requests of 1 to 8 texts; bounded in count, loopback only."""
    rng = random.Random(3)
    requests_to_send = [rng.sample(TEXTS * 2, rng.randint(1, 8)) for _ in range(96)]
    expected = dict(zip(TEXTS, reference_labels(server), strict=True))

    def send(texts: list[str]) -> tuple[int, list[str]]:
        response = server.v1({"instances": texts}, timeout=60)
        labels = [p["label"] for p in response.json()["predictions"]] if response.ok else []
        return response.status_code, labels

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(send, requests_to_send))
    assert [status for status, _ in results] == [200] * len(requests_to_send)
    for texts, (_, labels) in zip(requests_to_send, results, strict=True):
        assert labels == [expected[t] for t in texts]


def reference_labels(server) -> list[str]:
    response = server.v1({"instances": TEXTS})
    return [p["label"] for p in response.json()["predictions"]]


def test_client_errors_are_logged_as_one_line_without_a_traceback(server):
    response = server.v2({"inputs": [{**V2_TEXT, "name": "sentence"}]})
    assert response.status_code == 400
    assert response.json()["error"] == 'unknown input "sentence"; name the texts\' input "text"'
    time.sleep(0.5)
    log = server.log.read_text()
    lines = [line for line in log.splitlines() if 'unknown input "sentence"' in line]
    assert len(lines) == 1 and " WARNING " in lines[0] and "-> 400" in lines[0]
    assert "Traceback" not in log


def test_metrics_count_the_requests_sent(server):
    before = server.metrics()
    for _ in range(3):
        assert server.v1({"instances": ["STOP", "thanks"]}).status_code == 200
    for _ in range(2):
        assert server.v2({"inputs": [V2_TEXT]}).status_code == 200
    assert server.v1({"instances": []}).status_code == 400
    assert server.v2({"inputs": [{**V2_TEXT, "name": "x"}]}).status_code == 400
    after = server.metrics()

    def delta(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    requests_total = "kfp_nlp_requests_total"
    assert delta(requests_total, protocol="v1", status="200") == 3
    assert delta(requests_total, protocol="v2", status="200") == 2
    assert delta(requests_total, protocol="v1", status="400") == 1
    assert delta(requests_total, protocol="v2", status="400") == 1
    assert delta("kfp_nlp_queue_seconds_count") == 5
    assert delta("kfp_nlp_batch_texts_sum") == 3 * 2 + 2
    assert delta("kfp_nlp_batch_tokens_sum") > 3 * 2 + 2
    assert total(after, "kfp_nlp_model_load_seconds", model="intents") > 0
    (version,) = {dict(labels)["version"] for (name, labels) in after if name.startswith("kfp_nlp")}
    assert total(after, "kfp_nlp_model_info", model="intents", version=version) == 1


def test_listens_only_on_the_address_it_was_given(server):
    """Served on 127.0.0.1 (the default): another loopback address of the host is refused."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5):
        pass
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.2", server.port), timeout=5).close()


def post_and_hang_up(server, texts: list[str]) -> socket.socket:
    """Send a V1 request over a raw socket; the caller closes it without reading the answer."""
    body = json.dumps({"instances": texts}).encode()
    head = (
        f"POST /v1/models/{server.name}:predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall(head.encode() + body)
    return sock


def test_abandoned_requests_are_not_scored(server):
    """Sixteen 32-text requests whose clients hang up: a new request does not wait for them."""
    big = [f"{LONG} {i}" for i in range(32)]
    began = time.perf_counter()
    assert server.v1({"instances": big}, timeout=60).status_code == 200
    one_batch = time.perf_counter() - began
    before = server.metrics()

    sockets = [post_and_hang_up(server, big) for _ in range(16)]
    time.sleep(0.3)
    for sock in sockets:
        sock.close()
    began = time.perf_counter()
    response = server.v1({"instances": ["STOP"]}, timeout=60)
    waited = time.perf_counter() - began
    assert response.status_code == 200
    after = server.metrics()

    scored = total(after, "kfp_nlp_batch_texts_sum") - total(before, "kfp_nlp_batch_texts_sum")
    abandoned = total(after, "kfp_nlp_rejected_requests_total", reason="abandoned") - total(
        before, "kfp_nlp_rejected_requests_total", reason="abandoned"
    )
    # Scoring them all would take 16 batches; only those already running when the clients
    # left are finished.
    assert scored <= 8 * 32 + 1, scored
    assert abandoned >= 8
    assert waited < 8 * one_batch, (waited, one_batch)
    statuses = total(after, "kfp_nlp_requests_total", status="499") - total(
        before, "kfp_nlp_requests_total", status="499"
    )
    assert statuses >= abandoned
