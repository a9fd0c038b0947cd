"""kfp-nlp: Kubeflow Pipelines components for transformer text classifiers."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("kfp-nlp")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
