# Every target that runs code first brings .venv up to date by itself: a fresh clone needs only
# Python 3.11 and pip. torch is installed first and pinned, so no dependency can pull a CUDA build.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# kubectl (kustomize) and checkov for the manifest tests, pinned apart from the project's lock.
TOOLS_STAMP := .venv-tools/.installed

.PHONY: demo test test-fast lint compile bench tools image clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock torch==2.13.0
	$(PY) -m pip install --quiet -c requirements.lock -e ".[dev]"
	touch $(STAMP)

$(TOOLS_STAMP): requirements-tools.lock scripts/install-tools.sh
	PYTHON=$(PYTHON) scripts/install-tools.sh

tools: $(TOOLS_STAMP)

demo: $(STAMP)
	$(VENV)/bin/kfp-nlp demo

test: $(STAMP) $(TOOLS_STAMP)
	$(MAKE) lint
	$(PY) -m pytest -q --durations=25

# The unit tier alone (plain functions on small data, no training): a quick check while editing.
test-fast: $(STAMP) $(TOOLS_STAMP)
	$(PY) -m pytest -q tests/unit

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/hadolint Dockerfile

compile: $(STAMP)
	$(VENV)/bin/kfp-nlp compile

# The component image, with Docker or podman (scripts/build-image.sh says which, and why).
image:
	scripts/build-image.sh

bench: $(STAMP)
	$(PY) -m benchmarks.prepare_dataset
	$(PY) -m benchmarks.finetune --threads 1
	$(PY) -m benchmarks.evaluate_bootstrap
	$(PY) -m benchmarks.serving

clean:
	rm -rf $(VENV) .venv-tools local_outputs .pytest_cache .ruff_cache
