"""Pipeline definitions and the `kfp-nlp` command line."""
