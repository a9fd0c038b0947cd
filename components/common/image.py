"""The component image, defined once.

Every component runs in this image. Companies push it to their own registry, so the reference can
be overridden when pipelines are compiled: `kfp-nlp compile --image REF` or the `KFP_NLP_IMAGE`
environment variable (read when components are first imported).

The image runs as one numeric non-root user, RUNTIME_UID (uid and gid): the Dockerfile's `USER`,
the pod security contexts in manifests/ and every container the deploy step renders use it.
"""

import os

from components import __version__

DEFAULT_IMAGE = f"ghcr.io/kfp-nlp/kfp-nlp:{__version__}"
IMAGE_ENV = "KFP_NLP_IMAGE"
IMAGE = os.environ.get(IMAGE_ENV, DEFAULT_IMAGE)

# Numeric, so Kubernetes can verify runAsNonRoot; the Dockerfile creates this user.
RUNTIME_UID = 65532
