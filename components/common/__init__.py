"""Shared building blocks: URIs, tables, artifacts, errors, the component image."""
