"""The model server's V2 answers against the Open Inference Protocol's own REST schema.

tests/data/open-inference-rest-schemas.yaml holds the protocol's `components.schemas`
(kserve/open-inference-protocol, specification/protocol/open_inference_rest.yaml). The server is
the real FastAPI app under uvicorn on loopback, in this process, serving real (untrained) MiniLM
classifiers registered in a local registry; clients are `requests` and tritonclient.
"""

import json
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import requests
import tritonclient.http as triton
import uvicorn
import yaml

from benchmarks.small_classifier import build_model
from components.common.payload import model_identity
from components.registry.registry import register_version, version_uri
from components.serve.config import ServeConfig
from components.serve.errors import InvalidInput
from components.serve.http import build_app, listen
from components.serve.protocol import HEADER_LENGTH, parse_v2
from components.serve.server import TextClassifierModel, verify_model_dir

SCHEMAS = Path(__file__).resolve().parents[1] / "data" / "open-inference-rest-schemas.yaml"
COMPONENTS = yaml.safe_load(SCHEMAS.read_text())["components"]
LABELS = ["order_status", "unsubscribe", "complaint"]
TEXTS = ["where is my order?", "STOP", "nobody answers the phone"]


def check(instance: object, schema: str) -> None:
    """Validate `instance` against one of the protocol's schemas (OpenAPI 3.0 schemas are
    JSON Schema for every keyword these use)."""
    root = {"$ref": f"#/components/schemas/{schema}", "components": COMPONENTS}
    jsonschema.Draft4Validator(root).validate(instance)


class Served:
    """The server's app for one model under uvicorn, on a loopback port, in a thread."""

    def __init__(self, model_dir: Path):
        config = ServeConfig(model_dir=str(model_dir))
        self.name, self.version = model_identity(model_dir, verify_model_dir(config))
        model = TextClassifierModel(self.name, config, version=self.version)
        model.load()
        sock = listen("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(build_app(model), log_config=None))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]})
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)

    def infer(self, body: dict, path: str = "") -> requests.Response:
        url = f"{self.url}/v2/models/{self.name}{path}/infer"
        return requests.post(url, json=body, timeout=60)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def registered(root: Path, name: str, multi_label: bool) -> Path:
    model_dir = build_model(root / name, LABELS, None, multi_label=multi_label)
    version = register_version(str(root / "registry"), name, model_dir)
    return Path(version_uri(str(root / "registry"), name, version))


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Served]]:
    root = tmp_path_factory.mktemp("oip")
    started = {
        "single": Served(registered(root, "intents", multi_label=False)),
        "multi": Served(registered(root, "replies", multi_label=True)),
    }
    yield started
    for server in started.values():
        server.stop()


def texts_input(texts: list[str]) -> dict:
    return {"name": "text", "datatype": "BYTES", "shape": [len(texts)], "data": texts}


def test_a_v2_answer_follows_the_schema_and_names_the_served_version(servers):
    server = servers["single"]
    body = {
        "id": "r-1",
        "inputs": [texts_input(TEXTS)],
        "parameters": {"return_probabilities": True},
    }
    check(body, "inference_request")
    response = server.infer(body)
    assert response.status_code == 200, response.text
    answer = response.json()
    check(answer, "inference_response")
    assert answer["model_name"] == "intents"
    assert answer["model_version"] == server.version
    assert server.version.count("-") == 2  # the registry's <date>-<time>-<hash>, not a fallback
    assert answer["id"] == "r-1"
    assert [o["name"] for o in answer["outputs"]] == ["label", "probability", "probabilities"]
    # The check is not vacuous: the unversioned answer of before fails it.
    with pytest.raises(jsonschema.ValidationError):
        check({**answer, "model_version": None}, "inference_response")


def test_a_multi_label_answer_follows_the_schema(servers):
    server = servers["multi"]
    response = server.infer({"inputs": [texts_input(TEXTS)]})
    assert response.status_code == 200, response.text
    answer = response.json()
    check(answer, "inference_response")
    outputs = {o["name"]: o for o in answer["outputs"]}
    assert list(outputs) == ["labels", "label_probabilities", "label_indicators"]
    assert outputs["label_indicators"]["shape"] == [len(TEXTS), len(LABELS)]
    assert all(isinstance(v, bool) for v in outputs["label_indicators"]["data"])
    sets = [json.loads(row) for row in outputs["labels"]["data"]]
    assert all(set(labels) <= set(LABELS) for labels in sets)


def test_metadata_follows_the_schema(servers):
    server = servers["multi"]
    metadata = requests.get(f"{server.url}/v2", timeout=10).json()
    check(metadata, "metadata_server_response")
    assert "binary_tensor_data" in metadata["extensions"]
    model = requests.get(f"{server.url}/v2/models/replies", timeout=10).json()
    check(model, "metadata_model_response")
    assert model["versions"] == [server.version]
    outputs = {o["name"]: o for o in model["outputs"]}
    assert outputs["label_indicators"]["parameters"]["labels"] == LABELS
    by_version = requests.get(f"{server.url}/v2/models/replies/versions/{server.version}")
    assert by_version.json() == model


def test_the_versioned_paths_serve_only_the_served_version(servers):
    server = servers["single"]
    body = {"inputs": [texts_input(["STOP"])]}
    assert server.infer(body, f"/versions/{server.version}").status_code == 200
    ready = requests.get(f"{server.url}/v2/models/intents/versions/{server.version}/ready")
    assert ready.json() == {"name": "intents", "ready": True}
    other = server.infer(body, "/versions/20000101-000000-000000000000")
    assert other.status_code == 404
    check(other.json(), "inference_error_response")
    assert "has no version 20000101-000000-000000000000" in other.json()["error"]


def test_requested_outputs_narrow_the_answer(servers):
    server = servers["single"]
    body = {"inputs": [texts_input(TEXTS)], "outputs": [{"name": "probabilities"}]}
    check(body, "inference_request")
    answer = server.infer(body).json()
    check(answer, "inference_response")
    assert [o["name"] for o in answer["outputs"]] == ["probabilities"]
    assert answer["outputs"][0]["shape"] == [len(TEXTS), len(LABELS)]

    unknown = server.infer({**body, "outputs": [{"name": "logits"}]})
    assert unknown.status_code == 400
    assert unknown.json()["error"] == (
        'unknown output "logits"; this model\'s outputs are label, probability, probabilities'
    )


def test_tritonclient_with_binary_tensor_data_gets_the_json_answer(servers):
    server = servers["single"]
    answer = server.infer(
        {"inputs": [texts_input(TEXTS)], "parameters": {"return_probabilities": True}}
    ).json()
    expected = {o["name"]: o for o in answer["outputs"]}
    client = triton.InferenceServerClient(url=server.url.removeprefix("http://"))
    try:
        texts = triton.InferInput("text", [len(TEXTS)], "BYTES")
        texts.set_data_from_numpy(np.array(TEXTS, dtype=object))  # binary by default
        wanted = [triton.InferRequestedOutput(n) for n in ("label", "probabilities")]
        result = client.infer("intents", inputs=[texts], outputs=wanted)
    finally:
        client.close()
    assert result.get_response()["model_version"] == server.version
    assert [label.decode() for label in result.as_numpy("label")] == expected["label"]["data"]
    probabilities = result.as_numpy("probabilities")
    assert probabilities.dtype == np.float32 and probabilities.shape == (len(TEXTS), 3)
    np.testing.assert_allclose(probabilities.ravel(), expected["probabilities"]["data"], atol=1e-6)


def binary_body(elements: list[bytes], size: int | None = None) -> tuple[bytes, str]:
    """A V2 body whose texts travel as binary BYTES, and its Inference-Header-Content-Length."""
    raw = b"".join(struct.pack("<I", len(e)) + e for e in elements)
    tensor = {"name": "text", "datatype": "BYTES", "shape": [len(elements)]}
    tensor["parameters"] = {"binary_data_size": len(raw) if size is None else size}
    header = json.dumps({"inputs": [tensor]}).encode()
    return header + raw, str(len(header))


def test_binary_inputs_are_decoded_and_damaged_ones_refused_in_one_line():
    body, length = binary_body(["hé".encode(), b"", b"STOP"])
    assert parse_v2(body, length).texts == ["hé", "", "STOP"]

    truncated = binary_body([b"STOP"], size=6)
    refusals = {
        "a header length past the body": (body, str(len(body) + 1)),
        "a header length inside the JSON": (body, "3"),
        "a size that is not what follows": binary_body([b"hi"], size=99),
        "a length prefix past the end": (truncated[0][:-2], truncated[1]),
        "bytes that are not UTF-8": binary_body([b"\xff\xfe"]),
    }
    for case, (damaged, header_length) in refusals.items():
        with pytest.raises(InvalidInput) as refused:
            parse_v2(damaged, header_length)
        assert "\n" not in str(refused.value), case


def test_the_binary_header_needs_its_length_header(servers):
    server = servers["single"]
    body, length = binary_body([b"STOP"])
    url = f"{server.url}/v2/models/intents/infer"
    assert requests.post(url, data=body, headers={HEADER_LENGTH: length}).status_code == 200
    without = requests.post(url, data=body)
    assert without.status_code == 400
    assert without.json()["error"].startswith("the body is not valid JSON")


def test_an_unknown_route_or_method_is_a_json_error(servers):
    server = servers["single"]
    missing = requests.get(f"{server.url}/v2/modles/intents", timeout=10)
    assert (missing.status_code, missing.json()) == (
        404,
        {"error": "Not Found: GET /v2/modles/intents"},
    )
    wrong = requests.post(f"{server.url}/v2/health/live", timeout=10)
    assert (wrong.status_code, wrong.json()) == (
        405,
        {"error": "Method Not Allowed: POST /v2/health/live"},
    )
