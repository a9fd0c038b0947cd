"""Serving a Model artifact: a KServe model server (V1 and V2 REST) and the ONNX int8 export."""
