"""The scoring backends and the ONNX files the export writes inside a model folder.

The model server, batch scoring and deployment all name a backend and an ONNX file; these are
their one definition.
"""

BACKENDS = ("pytorch", "onnx")
ONNX_FP32 = "onnx/model.onnx"
ONNX_INT8 = "onnx/model_int8.onnx"
