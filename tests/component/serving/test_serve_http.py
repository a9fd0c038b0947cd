"""The model server as a user meets it: a real process on loopback, real HTTP requests.

`python -m components.serve` runs KServe's ModelServer (uvicorn) with our model; requests go over
TCP through `requests`. Nothing is patched. Answers are compared with plain `transformers`
inference on the same model folder.
"""

import concurrent.futures
import random

import numpy as np
import pandas as pd
import pytest
import requests
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

pytestmark = pytest.mark.component

TEXTS = [
    "where is my order 4411? it still says processing",
    "STOP",
    "does the promo code work on sale items",
    "love it, thanks!!",
    "is the rain jacket waterproof or just water resistant",
    "I was charged twice and nobody answers the phone",
]


@pytest.fixture(scope="module")
def server(small_model, start_server):
    """The PyTorch backend in fp32, so answers can match plain transformers closely."""
    return start_server(small_model.model_dir, "intents", "--precision", "fp32")


def reference(model_dir, texts: list[str]) -> tuple[list[str], np.ndarray]:
    """Labels and probabilities from plain transformers, one text at a time, fp32."""
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, local_files_only=True)
    model.eval()
    rows = []
    with torch.inference_mode():
        for text in texts:
            logits = model(**tokenizer(text, return_tensors="pt")).logits
            rows.append(torch.softmax(logits, -1)[0].numpy())
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
    v2 = server.v2({"inputs": [{"name": "t", "datatype": "BYTES", "shape": [1], "data": ["hi"]}]})
    assert [o["name"] for o in v2.json()["outputs"]] == ["label", "probability"]


def test_health_and_metadata(server):
    assert requests.get(f"{server.url}/v2/health/live", timeout=5).json() == {"live": True}
    assert requests.get(f"{server.url}/v2/health/ready", timeout=5).json() == {"ready": True}
    assert requests.get(f"{server.url}/v1/models/intents", timeout=5).json()["ready"] is True
    metadata = requests.get(f"{server.url}/v2/models/intents", timeout=5).json()
    assert metadata["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": [-1]}]


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
