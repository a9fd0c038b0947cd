# The one image every kfp-nlp component runs in.
#
#   CPU (default):  docker build -t ghcr.io/kfp-nlp/kfp-nlp:0.1.0 .
#   CUDA:           docker build --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 \
#                       -t ghcr.io/kfp-nlp/kfp-nlp:0.1.0-cuda .
#
# The CUDA wheels of torch carry the CUDA runtime, so both variants share the Python base; a GPU
# node only needs its driver. Push to your registry and compile with `kfp-nlp compile --image`.
ARG BASE_IMAGE=python:3.11.10-slim-bookworm
FROM ${BASE_IMAGE}

ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HOME=/tmp

WORKDIR /opt/kfp-nlp
COPY pyproject.toml requirements.lock README.md ./
COPY components ./components
COPY pipelines ./pipelines

# torch first, from the chosen index and at the locked version; then the package, constrained
# by the same lock file `make` uses.
RUN pip install --no-cache-dir --index-url "${TORCH_INDEX_URL}" "torch==2.13.0" \
    && pip install --no-cache-dir -c requirements.lock .

# Numeric non-root user, so Kubernetes can verify runAsNonRoot; the root filesystem can be
# mounted read-only: HOME and scratch files live in /tmp (an emptyDir on the cluster).
USER 65532:65532

ENTRYPOINT []
CMD ["kfp-nlp", "--help"]
