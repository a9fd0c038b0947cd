"""Serving a Model artifact: a KServe model server (V1 and V2 REST), the ONNX int8 export, and
the choice of backend a release serves."""
