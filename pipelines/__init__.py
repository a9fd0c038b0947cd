"""Pipelines composed from kfp-nlp components, and the `kfp-nlp` command line."""
