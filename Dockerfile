# The one image every kfp-nlp component runs in. `make image` builds it (scripts/build-image.sh
# picks the engine, base image and torch source for the machine and says which); by hand:
#
#   CPU (default):  docker build -t ghcr.io/kfp-nlp/kfp-nlp:0.1.0 .
#   CUDA:           docker build --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 \
#                       -t ghcr.io/kfp-nlp/kfp-nlp:0.1.0-cuda .
#
# The CUDA wheels of torch carry the CUDA runtime, so both variants share the Python base; a GPU
# node only needs its driver. Push to your registry and compile with `kfp-nlp compile --image`.
#
# Layers go from the slowest-changing to the fastest: Python, torch, the locked dependencies, and
# last the project's code, so a code change rebuilds in seconds.

# Any Debian-based image with Python 3.11 and its venv module.
ARG BASE_IMAGE=docker.io/library/python:3.11.10-slim-bookworm

# An empty stage by default. Where the PyTorch index cannot be reached, the build passes a folder
# holding the torch wheel as the build context of this name (`--build-context torch-wheels=DIR`)
# and an empty TORCH_INDEX_URL.
FROM scratch AS torch-wheels

FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HOME=/tmp \
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# A named user for the numeric uid (some libraries look the name up), and /tmp the only place
# that user may write, even where the root filesystem is not mounted read-only.
RUN python3 -m venv /opt/venv \
    && groupadd --gid 65532 kfp-nlp \
    && useradd --uid 65532 --gid 65532 --home-dir /tmp --no-create-home \
        --shell /usr/sbin/nologin kfp-nlp \
    && chmod 0755 /var/tmp /run/lock

# pip reaches the network through whatever the build host trusts: the build may pass that CA
# bundle as the secret `pip-ca`, visible to these steps only and never stored in a layer.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
COPY requirements.lock /tmp/lock/
RUN --mount=type=secret,id=pip-ca \
    --mount=type=bind,from=torch-wheels,target=/tmp/torch-wheels \
    --mount=type=cache,target=/root/.cache/pip \
    if [ -f /run/secrets/pip-ca ]; then export PIP_CERT=/run/secrets/pip-ca; fi; \
    if [ -n "${TORCH_INDEX_URL}" ]; then \
        pip install --no-deps -c /tmp/lock/requirements.lock --index-url "${TORCH_INDEX_URL}" torch; \
    else \
        pip install --no-deps -c /tmp/lock/requirements.lock --no-index --find-links /tmp/torch-wheels torch; \
    fi

# The project's runtime dependencies (not its dev tools) at the lock's versions, and the pinned
# setuptools that builds the project offline in the last layer.
COPY pyproject.toml /tmp/lock/
RUN --mount=type=secret,id=pip-ca \
    --mount=type=cache,target=/root/.cache/pip \
    if [ -f /run/secrets/pip-ca ]; then export PIP_CERT=/run/secrets/pip-ca; fi; \
    python3 -c "import tomllib; print('\n'.join(tomllib.load(open('/tmp/lock/pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/lock/runtime.txt \
    && pip install -c /tmp/lock/requirements.lock -r /tmp/lock/runtime.txt setuptools \
    && rm -rf /tmp/lock

# Login shells keep the venv first on PATH too: Debian's /etc/profile resets PATH, and the
# Kubeflow Trainer SDK's container backend starts each node with `bash -lc` (torchrun, python).
RUN echo "PATH=/opt/venv/bin:\$PATH" > /etc/profile.d/kfp-nlp-venv.sh

WORKDIR /opt/kfp-nlp
COPY pyproject.toml README.md ./
COPY components ./components
COPY pipelines ./pipelines
RUN pip install --no-cache-dir --no-deps --no-build-isolation --no-index . \
    && rm -rf build ./*.egg-info

# Numeric non-root user, so Kubernetes can verify runAsNonRoot; the root filesystem can be
# mounted read-only: HOME and scratch files live in /tmp (an emptyDir on the cluster).
USER 65532:65532

ENTRYPOINT []
CMD ["kfp-nlp", "--help"]
