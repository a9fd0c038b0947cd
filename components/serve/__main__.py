"""`python -m components.serve --model-dir MODEL_DIR --port 8080`: serve a Model artifact."""

from components.common.errors import run_cli
from components.serve.server import main

run_cli(main)
