"""batch_scoring: score a table with a model from the registry (or any model URI)."""

from typing import Any

from kfp import dsl
from kfp.dsl import Model

from components.batch_predict.component import batch_predict
from components.registry.component import resolve_model
from pipelines.cluster import ClusterSettings, resources, touches_s3


def make_scoring_pipeline(settings: ClusterSettings | None = None) -> Any:
    """Build the batch scoring pipeline for the given cluster settings."""
    settings = settings or ClusterSettings()

    @dsl.pipeline(
        name="batch-scoring",
        description="Score a table of texts with the registry's champion or a given model.",
    )
    def batch_scoring(
        input_uri: str,
        output_uri: str,
        registry_uri: str = "",
        model_name: str = "text-classifier",
        model_uri: str = "",
        text_column: str = "text",
        backend: str = "pytorch",
    ):
        """Score every row of a table and write the predictions where you ask.

        The predictions are written to `output_uri` (and kept as each scoring task's artifact);
        the pipeline itself has no outputs because kfp.local cannot resolve a branch's output.

        Args:
            input_uri: The table to score: s3://bucket/key or a local path; CSV, TSV, JSON Lines or
                Parquet.
            output_uri: Where the predictions go (s3:// or a path; the suffix picks the format).
            registry_uri: Model registry root whose champion scores the table (when no model_uri).
            model_name: Name of the model in the registry.
            model_uri: A model folder or s3:// prefix to use instead of the champion.
            text_column: Column holding the texts.
            backend: pytorch, or onnx for a model exported by export_onnx.
        """
        with dsl.If(model_uri == ""):
            champion = resolve_model(
                registry_root=registry_uri, model_name=model_name, required=True
            )
            champion.set_display_name("Find champion").set_caching_options(False)
            touches_s3(champion, settings)
            # The registered version itself, read where it is: resolving copies nothing.
            registered = dsl.importer(
                artifact_uri=champion.outputs["uri"], artifact_class=Model, reimport=False
            )
            from_registry = batch_predict(
                model=registered.output,
                input_uri=input_uri,
                output_uri=output_uri,
                text_column=text_column,
                backend=backend,
            ).set_display_name("Score with the champion")
        with dsl.Else():
            given = dsl.importer(artifact_uri=model_uri, artifact_class=Model)
            from_uri = batch_predict(
                model=given.output,
                input_uri=input_uri,
                output_uri=output_uri,
                text_column=text_column,
                backend=backend,
            ).set_display_name("Score with the given model")
        for task in (from_registry, from_uri):
            # A scoring run reads a table that may have changed behind the same URI and writes
            # output_uri as a side effect: a cache hit would skip both.
            task.set_caching_options(False)
            touches_s3(resources(task, "2", "4Gi"), settings)

    return batch_scoring


batch_scoring = make_scoring_pipeline()
