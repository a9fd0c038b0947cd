"""Serving a Model artifact: a model server for KServe (V1 and Open Inference Protocol REST),
the ONNX int8 export, and the choice of backend a release serves."""
