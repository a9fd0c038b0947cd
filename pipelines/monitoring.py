"""text_classifier_monitoring: is the model in production still right? Retrain when it is not.

monitor_classifier (the registry's champion, or a given model, on the last `window_hours` of
its payload log or on a table) -> claim_retrain (at most one retraining per alert window) ->
only when drift was detected and claimed: text_classifier_training on `data_uri`, which
evaluates the new model against the champion and releases it only if the gate approves.

Nothing here is cached: the payload log grows behind the same prefix, and the claim is a side
effect that must run every time.
"""

from typing import Any, NamedTuple

from kfp import dsl
from kfp.dsl import HTML, Metrics

from components.monitor.component import claim_retrain, monitor_classifier
from pipelines.cluster import ClusterSettings, resources, touches_s3
from pipelines.training import make_training_pipeline
from pipelines.wiring import inherits


class MonitoringOutputs(NamedTuple):
    metrics: Metrics
    report: HTML
    drift_detected: bool
    reason: str
    retrain: bool


def make_monitoring_pipeline(settings: ClusterSettings | None = None) -> Any:
    """Build the monitoring pipeline for the given cluster settings."""
    settings = settings or ClusterSettings()
    training = make_training_pipeline(settings)

    @dsl.pipeline(name="retrain-if-drifted")
    @inherits(training)
    def retrain_if_drifted(retrain: bool, data_uri: str, registry_uri: str, **inherited: Any):
        """Run text_classifier_training, with every one of its parameters, when the alert
        claimed its window.

        A nested pipeline so that the condition reads a parameter, which kfp.local can branch on
        as a cluster does (as release_if_approved in the training pipeline).

        Args:
            retrain: Whether the alert claimed its window.
            data_uri: The labelled table to retrain on.
            registry_uri: Model registry root.
        """
        with dsl.If(retrain == True):  # noqa: E712 - a KFP condition, not a Python comparison
            training(data_uri=data_uri, registry_uri=registry_uri, **inherited).set_display_name(
                "Retrain"
            )

    # Every parameter of the training pipeline that is not declared here is a parameter of this
    # one too (deploy_dry_run, payload_log_uri, group_column, ...), and reaches the retrain.
    @dsl.pipeline(
        name="text-classifier-monitoring",
        description="Check the champion's recent traffic for drift and estimated quality loss; "
        "retrain when it drifted.",
    )
    @inherits(training)
    def text_classifier_monitoring(
        current_uri: str,
        model_uri: str = "",
        registry_uri: str = "",
        model_name: str = "text-classifier",
        reference_uri: str = "",
        text_column: str = "text",
        label_column: str = "label",
        window_hours: float = 24.0,
        significance: float = 0.05,
        min_window_size: int = 100,
        max_f1_drop: float = 0.05,
        data_uri: str = "",
        data_text_column: str = "text",
        data_label_column: str = "label",
        **inherited: Any,
    ) -> MonitoringOutputs:
        """Monitor a served classifier and retrain it when its inputs or quality drifted.

        Args:
            current_uri: The payload log (folder or s3:// prefix written by the model server's
                --payload-log-uri), or a table of texts.
            model_uri: The model to monitor; empty: the registry's champion.
            registry_uri: Model registry root (the champion, and where a retrain releases).
            model_name: Name of the model in the registry.
            reference_uri: Table of reference texts; empty: the model's test split.
            text_column: Column holding the texts.
            label_column: Column with true labels, where a window has them.
            window_hours: Monitor the last N hours of the payload log; also the alert window
                in which at most one retraining starts.
            significance: False-alarm rate of the combined drift decision.
            min_window_size: Fewer texts in the window: no decision.
            max_f1_drop: Alert when the estimated macro-F1 is surely this far below the
                reference's.
            data_uri: The labelled table to retrain on; empty: never retrain, only report.
            data_text_column: Column of data_uri holding the texts.
            data_label_column: Column of data_uri holding the labels.
        """
        monitored = monitor_classifier(
            model_uri=model_uri,
            registry_uri=registry_uri,
            model_name=model_name,
            reference_uri=reference_uri,
            current_uri=current_uri,
            text_column=text_column,
            label_column=label_column,
            window_hours=window_hours,
            significance=significance,
            min_window_size=min_window_size,
            max_f1_drop=max_f1_drop,
        )
        monitored.set_display_name("Monitor").set_caching_options(False)
        touches_s3(resources(monitored, "2", "8Gi"), settings)
        claimed = claim_retrain(
            drift_detected=monitored.outputs["drift_detected"],
            reason=monitored.outputs["reason"],
            data_uri=data_uri,
            registry_uri=registry_uri,
            model_name=model_name,
            window_hours=window_hours,
        )
        claimed.set_display_name("Claim the alert window").set_caching_options(False)
        touches_s3(claimed, settings)
        retrain_if_drifted(
            retrain=claimed.outputs["retrain"],
            data_uri=data_uri,
            registry_uri=registry_uri,
            model_name=model_name,
            text_column=data_text_column,
            label_column=data_label_column,
            **inherited,
        ).set_display_name("Retrain if drifted")
        return MonitoringOutputs(
            metrics=monitored.outputs["metrics"],
            report=monitored.outputs["report"],
            drift_detected=monitored.outputs["drift_detected"],
            reason=monitored.outputs["reason"],
            retrain=claimed.outputs["retrain"],
        )

    return text_classifier_monitoring


text_classifier_monitoring = make_monitoring_pipeline()
