"""The wire formats of the model server: KServe V1 and the Open Inference Protocol (V2) REST.

V1 bodies are JSON: `{"instances": ["text", {"text": "..."}], "parameters": {...}}` in,
`{"predictions": [...]}` out. V2 follows the Open Inference Protocol's REST schema
(https://github.com/kserve/open-inference-protocol, specification/protocol/open_inference_rest.yaml)
and its binary tensor data extension, which Open Inference Protocol clients such as tritonclient
use by default: the JSON header comes first, its length in the `Inference-Header-Content-Length`
header, then the raw bytes of every input (or output) whose `parameters.binary_data_size` says
how many are its. A BYTES element in binary is a 4-byte little-endian length and the bytes.
"""

import json
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from components.serve.errors import InvalidInput

TEXT_INPUT = "text"
PROBABILITIES_PARAMETER = "return_probabilities"
HEADER_LENGTH = "inference-header-content-length"
BINARY_EXTENSION = "binary_tensor_data"
BINARY_CONTENT_TYPE = "application/octet-stream"


@dataclass
class Request:
    """What a V1 or V2 request asks for, once checked.

    `outputs` maps each V2 output the client named to whether it wants it in binary; None when
    it named none (every default output, in JSON unless `binary_outputs`).
    """

    texts: list[str]
    probabilities: bool
    id: str = ""
    outputs: dict[str, bool] | None = None
    binary_outputs: bool = False


@dataclass
class Tensor:
    """One V2 output: `data` is flat, in row-major order of `shape`."""

    name: str
    datatype: str
    shape: list[int]
    data: list[Any]
    parameters: dict[str, Any] = field(default_factory=dict)


def _load_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as exc:
        raise InvalidInput(f"the body is not valid JSON ({exc})") from exc


def _flag(parameters: dict[str, Any], name: str) -> bool:
    value = parameters.get(name, False)
    if not isinstance(value, bool):
        raise InvalidInput(f'"{name}" must be true or false, got {value!r}')
    return value


def _parameters(value: Any, where: str = "") -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(
            f'"parameters"{where} must be an object, e.g. {{"{PROBABILITIES_PARAMETER}": true}}'
        )
    return value


def parse_v1(body: bytes) -> Request:
    """Check a V1 body: `instances` is a non-empty list of strings or `{"text": ...}` objects."""
    payload = _load_json(body)
    if not isinstance(payload, dict) or "instances" not in payload:
        raise InvalidInput('the body must be a JSON object with "instances": a list of texts')
    instances = payload["instances"]
    if not isinstance(instances, list) or not instances:
        raise InvalidInput('"instances" must be a non-empty list of texts')
    texts = []
    for i, instance in enumerate(instances):
        text = instance.get("text") if isinstance(instance, dict) else instance
        if not isinstance(text, str):
            raise InvalidInput(f'instance {i} must be a string or an object with a "text" string')
        texts.append(text)
    return Request(texts, _flag(_parameters(payload.get("parameters")), PROBABILITIES_PARAMETER))


def _split_body(body: bytes, header_length: str | None) -> tuple[Any, bytes]:
    """The JSON header of a V2 body and the binary data after it (none without the header)."""
    if header_length is None:
        return _load_json(body), b""
    if not header_length.isdigit() or int(header_length) > len(body):
        raise InvalidInput(
            f"Inference-Header-Content-Length {header_length!r} is not a length within the "
            f"{len(body)}-byte body"
        )
    size = int(header_length)
    return _load_json(body[:size]), body[size:]


def _decode_bytes(raw: bytes, name: str) -> list[str]:
    texts, offset = [], 0
    try:
        while offset < len(raw):
            (length,) = struct.unpack_from("<I", raw, offset)
            offset += 4
            if offset + length > len(raw):
                raise ValueError("an element runs past the end of its data")
            texts.append(raw[offset : offset + length].decode())
            offset += length
    except (struct.error, ValueError) as exc:
        raise InvalidInput(
            f'input "{name}" has binary data that is not length-prefixed UTF-8 BYTES ({exc})'
        ) from exc
    return texts


def _requested_outputs(value: Any, binary_default: bool) -> dict[str, bool] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise InvalidInput('"outputs" must be a list of objects with a "name"')
    wanted = {}
    for output in value:
        if not isinstance(output, dict) or not isinstance(output.get("name"), str):
            raise InvalidInput('"outputs" must be a list of objects with a "name"')
        parameters = _parameters(output.get("parameters"), f' of output "{output["name"]}"')
        binary = _flag(parameters, "binary_data") if "binary_data" in parameters else None
        wanted[output["name"]] = binary_default if binary is None else binary
    return wanted


def parse_v2(body: bytes, header_length: str | None = None) -> Request:
    """Check a V2 request: one BYTES input named `text` holding a list of texts, in JSON or as
    binary data (`header_length`: the Inference-Header-Content-Length header, if sent)."""
    payload, binary = _split_body(body, header_length)
    if not isinstance(payload, dict) or not isinstance(payload.get("inputs"), list):
        raise InvalidInput('the body must be a JSON object with "inputs": a list of tensors')
    inputs = payload["inputs"]
    if len(inputs) != 1:
        raise InvalidInput(f"expected exactly one input (BYTES, the texts), got {len(inputs)}")
    (tensor,) = inputs
    if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
        raise InvalidInput('the input must be an object with "name", "shape", "datatype", "data"')
    name = tensor["name"]
    if name != TEXT_INPUT:
        raise InvalidInput(f'unknown input "{name}"; name the texts\' input "{TEXT_INPUT}"')
    datatype = tensor.get("datatype")
    if datatype != "BYTES":
        raise InvalidInput(f'input "{name}" has datatype {datatype}; send the texts as BYTES')
    shape = tensor.get("shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise InvalidInput(f'input "{name}" needs a "shape": a list of sizes, e.g. [1]')
    size = _parameters(tensor.get("parameters"), f' of input "{name}"').get("binary_data_size")
    if size is None:
        data = tensor.get("data")
    elif not isinstance(size, int) or size != len(binary):
        raise InvalidInput(
            f'input "{name}" says binary_data_size {size!r} but {len(binary)} bytes follow the '
            "JSON header"
        )
    else:
        data = _decode_bytes(binary, name)
    if not isinstance(data, list) or not data or not all(isinstance(t, str) for t in data):
        raise InvalidInput(f'input "{name}" must hold a non-empty list of strings')
    if int(np.prod(shape)) != len(data):
        raise InvalidInput(
            f'input "{name}" has shape {shape} but {len(data)} texts; use shape [{len(data)}]'
        )
    request_id = payload.get("id", "")
    if not isinstance(request_id, str):
        raise InvalidInput(f'"id" must be a string, got {request_id!r}')
    parameters = _parameters(payload.get("parameters"))
    binary_outputs = _flag(parameters, "binary_data_output")
    return Request(
        data,
        _flag(parameters, PROBABILITIES_PARAMETER),
        request_id,
        _requested_outputs(payload.get("outputs"), binary_outputs),
        binary_outputs,
    )


def _raw(tensor: Tensor) -> bytes:
    if tensor.datatype == "BYTES":
        encoded = [str(value).encode() for value in tensor.data]
        return b"".join(struct.pack("<I", len(value)) + value for value in encoded)
    dtype = {"FP32": "<f4", "BOOL": "?"}[tensor.datatype]
    return np.asarray(tensor.data, dtype=dtype).tobytes()


def v2_body(
    model_name: str, model_version: str, request_id: str, outputs: list[Tensor], binary: set[str]
) -> tuple[bytes, dict[str, str]]:
    """A V2 inference response and its headers; the outputs named in `binary` travel as binary
    data after the JSON header."""
    described, raw = [], []
    for tensor in outputs:
        entry: dict[str, Any] = {
            "name": tensor.name,
            "datatype": tensor.datatype,
            "shape": tensor.shape,
        }
        parameters = dict(tensor.parameters)
        if tensor.name in binary:
            raw.append(_raw(tensor))
            parameters["binary_data_size"] = len(raw[-1])
        else:
            entry["data"] = tensor.data
        if parameters:
            entry["parameters"] = parameters
        described.append(entry)
    header = json.dumps(
        {
            "model_name": model_name,
            "model_version": model_version,
            "id": request_id,
            "outputs": described,
        },
        separators=(",", ":"),
    ).encode()
    if not raw:
        return header, {"content-type": "application/json"}
    return header + b"".join(raw), {
        "content-type": BINARY_CONTENT_TYPE,
        HEADER_LENGTH: str(len(header)),
    }
