"""The component image, defined once.

Every component runs in this image. Companies push it to their own registry, so the reference can
be overridden when pipelines are compiled: `kfp-nlp compile --image REF` or the `KFP_NLP_IMAGE`
environment variable (read when components are first imported).
"""

import os

from components import __version__

DEFAULT_IMAGE = f"ghcr.io/kfp-nlp/kfp-nlp:{__version__}"
IMAGE = os.environ.get("KFP_NLP_IMAGE", DEFAULT_IMAGE)
