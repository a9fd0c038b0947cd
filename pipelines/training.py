"""text_classifier_training: a labelled text table in, a gated, deployed classifier out.

snapshot_source (pin the table's and base model's content) -> prepare_dataset -> resolve_model
(the registry's champion, checked against this data's labels) -> finetune_classifier ->
evaluate_classifier (against the champion, when there is one, and a TF-IDF baseline trained on
the same train split) -> only if approved: export it to
ONNX int8, register it, deploy the registered version to KServe (on int8 when that is as
accurate as fp32, else on PyTorch), and move the champion alias to it.

Caching: the snapshot and champion steps never cache; prepare, fine-tune and evaluate do, keyed
by the content fingerprints, so a recurring run on unchanged data is a series of cache hits.
"""

from typing import Any, NamedTuple

from kfp import dsl
from kfp.dsl import HTML, Dataset, Input, Markdown, Metrics, Model

from components.common.image import IMAGE, IMAGE_ENV
from components.deploy.component import deploy_inference_service
from components.evaluate.component import evaluate_classifier
from components.finetune.component import finetune_classifier
from components.prepare.component import prepare_dataset
from components.registry.component import promote_champion, register_model, resolve_model
from components.serve.component import export_onnx
from components.snapshot.component import snapshot_source
from pipelines.cluster import ClusterSettings, on_gpu, resources, resumable, touches_s3
from pipelines.wiring import inherits, pick


class TrainingOutputs(NamedTuple):
    model: Model
    training_metrics: Metrics
    training_curves: HTML
    evaluation_metrics: Metrics
    evaluation_report: HTML
    predictions: Dataset
    data_report: Markdown
    data_metrics: Metrics
    approved: bool
    reason: str


def make_training_pipeline(settings: ClusterSettings | None = None) -> Any:
    """Build the training pipeline for the given cluster settings."""
    settings = settings or ClusterSettings()

    @dsl.pipeline(name="release-if-approved")
    @inherits(
        deploy_inference_service,
        wired=("model_uri", "name", "namespace", "backend", "dry_run", "image"),
    )
    def release_if_approved(
        approved: bool,
        model: Input[Model],
        test: Input[Dataset],
        max_int8_accuracy_drop: float,
        registry_uri: str,
        model_name: str,
        serving_namespace: str,
        deploy_dry_run: bool,
        serving_image: str,
        payload_log_uri: str,
        **inherited: Any,
    ):
        """Register the model, deploy it, and make it the champion, only when the gate approved it.

        A nested pipeline so that the condition reads a parameter: this runs the same way on a
        cluster and under kfp.local, which can only branch on parameters and `Output` outputs.
        The champion alias moves last, after the deployment succeeded.
        """
        with dsl.If(approved == True):  # noqa: E712 - a KFP condition, not a Python comparison
            # The release carries an ONNX int8 copy and serves it when it is as accurate as fp32.
            exported = export_onnx(
                model=model, test=test, max_int8_accuracy_drop=max_int8_accuracy_drop
            )
            touches_s3(
                resources(exported.set_display_name("Export ONNX int8"), "2", "8Gi"), settings
            )
            model = exported.outputs["onnx_model"]
            registered = register_model(
                model=model, registry_root=registry_uri, model_name=model_name
            )
            registered.set_display_name("Register model").set_caching_options(False)
            touches_s3(registered, settings)
            deployed = deploy_inference_service(
                model_uri=registered.outputs["uri"],
                name=model_name,
                namespace=serving_namespace,
                backend=exported.outputs["backend"],
                dry_run=deploy_dry_run,
                image=serving_image,
                payload_log_uri=payload_log_uri,
                **pick(inherited, deploy_inference_service),
            )
            deployed.set_display_name("Deploy to KServe").set_caching_options(False)
            touches_s3(deployed, settings)
            promoted = promote_champion(
                registry_root=registry_uri,
                model_name=model_name,
                version=registered.outputs["version"],
            ).after(deployed)
            promoted.set_display_name("Promote to champion").set_caching_options(False)
            touches_s3(promoted, settings)

    @dsl.pipeline(
        name="text-classifier-training",
        description="Prepare a labelled text table, fine-tune a transformer classifier, evaluate "
        "it against the champion and, if approved, register it as the new champion.",
    )
    # Every other setting of these steps is a parameter of this pipeline too, with the step's
    # own default and description (pipelines/wiring.py), forwarded by `pick` below.
    @inherits(
        prepare_dataset,
        finetune_classifier,
        evaluate_classifier,
        release_if_approved,
        wired=(
            "source_uri",
            "source_fingerprint",
            "text_columns",
            "format",
            "base_model",
            "base_model_fingerprint",
            "check_only",
            "champion_uri",
            "approved",
        ),
    )
    def text_classifier_training(
        data_uri: str,
        registry_uri: str,
        model_name: str = "text-classifier",
        text_column: str = "text",
        label_column: str = "label",
        group_column: str = "",
        time_column: str = "",
        base_model_uri: str = "",
        batch_size: int = 32,
        max_length: int = 128,
        precision: str = "auto",
        thresholds: str = "macro_f1>=0.5",
        max_regression: float = 0.01,
        require_beat_baseline: bool = True,
        max_int8_accuracy_drop: float = 0.01,
        slice_columns: str = "text_length",
        serving_namespace: str = "kfp-nlp-dev",
        deploy_dry_run: bool = True,
        seed: int = 42,
        data_format: str = "auto",
        delimiter: str = "",
        label_delimiter: str = "",
        keep_columns: list = [],  # noqa: B006 - KFP reads the default from the signature
        serving_image: str = IMAGE,
        payload_log_uri: str = "",
        **inherited: Any,
    ) -> TrainingOutputs:
        """Train a text classifier on a table of labelled texts and release it if it is better.

        Args:
            data_uri: The labelled table: s3://bucket/key or a local path; CSV, TSV, JSON Lines
                or Parquet (gzip allowed).
            registry_uri: Model registry root (s3:// prefix or folder); its champion is the
                model to beat, and an approved model becomes the new champion.
            model_name: Name of the model in the registry; one name per task (labels): a
                champion for other labels stops the run before fine-tuning.
            text_column: Column holding the text.
            label_column: Column holding the label.
            group_column: Optional column (e.g. customer id) whose rows must stay in one split.
            time_column: Optional timestamp column: split by time instead of at random.
            base_model_uri: Hugging Face model folder or s3:// prefix to fine-tune; empty uses
                the bundled all-MiniLM-L6-v2.
            batch_size: Examples per batch.
            max_length: Longest tokenised text; longer texts are truncated.
            precision: auto, fp32, bf16 or fp16 (auto uses bf16 where the hardware runs it).
            thresholds: Absolute gate, e.g. "macro_f1>=0.8,ece<=0.1".
            max_regression: Largest drop in macro-F1 against the champion still approved.
            require_beat_baseline: Approve only a model whose macro-F1 on the test split is
                above that of TF-IDF + logistic regression trained on the same train split.
            max_int8_accuracy_drop: Deploy the ONNX int8 model when its test accuracy is at most
                this far below fp32's (0.01: one point); otherwise the PyTorch one.
            slice_columns: Comma-separated columns to report metrics by, e.g.
                "text_length,channel" (text_length is built in); checked before training.
            serving_namespace: Kubernetes namespace of the InferenceService named model_name
                (kfp-nlp-dev is the namespace of manifests/overlays/dev).
            deploy_dry_run: Only render the InferenceService (kept as an artifact); set false on
                a cluster with KServe to create or patch it.
            seed: Seed for the split and the training run.
            data_format: Format of data_uri: auto (from its name or content), csv, tsv, jsonl
                or parquet.
            delimiter: Field separator of a CSV source, e.g. ";" for a spreadsheet export
                (empty: "," for csv, tab for tsv).
            label_delimiter: Multi-label: the separator of the labels in one label cell, e.g.
                "|" for "complaint|discount" (empty: single-label, unless the label column
                holds lists, as Parquet and JSON Lines can).
            keep_columns: More source columns to carry into the splits and the predictions
                (slice columns are kept anyway).
            serving_image: Image of the deployed model server; defaults to the image the
                pipeline was compiled with (`kfp-nlp compile --image`).
            payload_log_uri: s3:// prefix where the deployed model server logs every scored
                text (hashed) for text_classifier_monitoring; empty: no payload log.
        """
        # Content identities, never cached: they key the cached steps that read these locations.
        data_snapshot = snapshot_source(location=data_uri)
        base_snapshot = snapshot_source(location=base_model_uri)
        for snap, name in ((data_snapshot, "Pin data"), (base_snapshot, "Pin base model")):
            touches_s3(snap.set_display_name(name).set_caching_options(False), settings)

        prepared = prepare_dataset(
            source_uri=data_uri,
            source_fingerprint=data_snapshot.output,
            text_columns=[text_column],
            label_column=label_column,
            group_column=group_column,
            time_column=time_column,
            seed=seed,
            keep_columns=keep_columns,
            format=data_format,
            delimiter=delimiter,
            label_delimiter=label_delimiter,
            slice_columns=slice_columns,
            **pick(inherited, prepare_dataset),
        )
        touches_s3(resources(prepared.set_display_name("Prepare data"), "2", "8Gi"), settings)

        champion = resolve_model(
            registry_root=registry_uri, model_name=model_name, dataset=prepared.outputs["train"]
        )
        # The champion can change between runs, so its lookup is never served from the cache;
        # it runs before fine-tuning so that a champion for other labels stops the run early.
        champion.set_display_name("Find champion").set_caching_options(False)
        touches_s3(champion, settings)

        tuning = dict(
            train=prepared.outputs["train"],
            validation=prepared.outputs["validation"],
            base_model=base_model_uri,
            base_model_fingerprint=base_snapshot.output,
            batch_size=batch_size,
            max_length=max_length,
            precision=precision,
            seed=seed,
            **pick(inherited, finetune_classifier),
        )
        # KFP retries every failure of the fine-tune (a preempted node resumes from its
        # checkpoint) and cannot tell a bad setting from an evicted pod: the same step first
        # checks the settings and inputs once, without retries, and trains nothing.
        trained = finetune_classifier(**tuning)
        checked = finetune_classifier(check_only=True, **tuning).after(champion)
        for task in (checked, trained):
            # With launcher=trainjob the nodes run the image this step runs in.
            task.set_env_variable(IMAGE_ENV, IMAGE)
        touches_s3(resources(checked.set_display_name("Check fine-tune"), "1", "4Gi"), settings)
        trained.after(checked)
        touches_s3(resources(trained.set_display_name("Fine-tune"), "4", "16Gi"), settings)
        on_gpu(resumable(trained), settings)

        evaluated = evaluate_classifier(
            model=trained.outputs["model"],
            test=prepared.outputs["test"],
            train=prepared.outputs["train"],
            champion_uri=champion.outputs["uri"],
            thresholds=thresholds,
            max_regression=max_regression,
            require_beat_baseline=require_beat_baseline,
            slice_columns=slice_columns,
            seed=seed,
            max_length=max_length,
            **pick(inherited, evaluate_classifier),
        )
        evaluated.set_display_name("Evaluate and gate")
        touches_s3(resources(evaluated, "2", "8Gi"), settings)

        release_if_approved(
            approved=evaluated.outputs["approved"],
            model=trained.outputs["model"],
            test=prepared.outputs["test"],
            max_int8_accuracy_drop=max_int8_accuracy_drop,
            registry_uri=registry_uri,
            model_name=model_name,
            serving_namespace=serving_namespace,
            deploy_dry_run=deploy_dry_run,
            serving_image=serving_image,
            payload_log_uri=payload_log_uri,
            **pick(inherited, release_if_approved),
        ).set_display_name("Release if approved")

        return TrainingOutputs(
            model=trained.outputs["model"],
            training_metrics=trained.outputs["metrics"],
            training_curves=trained.outputs["training_curves"],
            evaluation_metrics=evaluated.outputs["metrics"],
            evaluation_report=evaluated.outputs["report"],
            predictions=evaluated.outputs["predictions"],
            data_report=prepared.outputs["report"],
            data_metrics=prepared.outputs["metrics"],
            approved=evaluated.outputs["approved"],
            reason=evaluated.outputs["reason"],
        )

    return text_classifier_training


text_classifier_training = make_training_pipeline()
