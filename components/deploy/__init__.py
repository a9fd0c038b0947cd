"""Deploying a Model artifact as a KServe InferenceService, safely."""
