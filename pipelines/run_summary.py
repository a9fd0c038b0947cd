"""What a local run did, as plain data (`--json`) and as the few lines a person reads after it.

The facts come from the run's outputs (pipelines.local_run): the pipeline's own outputs, and for
the release branch of text_classifier_training, the outputs of its export, register and deploy
steps. After training, the summary ends with the command to run next, one that works whether the
gate released the model or not.
"""

import re
import shlex
import shutil
import time
from pathlib import Path
from typing import Any

from pipelines.catalog import pipelines
from pipelines.local_run import LocalRun, duration, run_pipeline, step_outputs
from pipelines.params import declared_parameters

HEADLINE_METRICS = ("accuracy", "macro_f1", "weighted_f1", "log_loss", "ece")
BACKENDS = {"onnx": "ONNX int8", "pytorch": "PyTorch"}


def run_local(
    name: str, params: dict[str, Any], workdir: Path, verbose: bool = False
) -> dict[str, Any]:
    """Run one of our pipelines locally; return what it did and made as plain data."""
    started = time.monotonic()
    run = run_pipeline(pipelines()[name], params, workdir, verbose)
    summary = {
        "pipeline": name,
        "parameters": params,
        "seconds": round(time.monotonic() - started, 1),
        "outputs": {key: _output_summary(value) for key, value in run.outputs.items()},
        "steps": [
            {"name": s.name, "state": s.state, "seconds": round(s.seconds, 1)} for s in run.steps
        ],
        "log": str(run.log),
    }
    if name == "text_classifier_training":
        summary.update(_release(run, params))
        summary["next"] = _next_commands(summary)
    if name == "text_classifier_monitoring":
        summary.update(_monitoring(summary["outputs"]))
    return summary


def _output_summary(value: Any) -> Any:
    """An artifact as its local path (one a browser or editor opens) and metadata."""
    if not hasattr(value, "path"):
        return value
    suffix = {"system.HTML": ".html", "system.Markdown": ".md"}.get(value.schema_title, "")
    return {"path": _viewable(Path(value.path), suffix), "metadata": dict(value.metadata)}


def _viewable(path: Path, suffix: str) -> str:
    """`path`, or a copy of it beside it named with `suffix` so that it opens as what it is."""
    if not suffix or path.suffix == suffix or not path.is_file():
        return str(path)
    copy = path.with_name(path.name + suffix)
    shutil.copyfile(path, copy)
    return str(copy)


def _release(run: LocalRun, params: dict[str, Any]) -> dict[str, Any]:
    """What the release branch did: the version registered and deployed, on which backend,
    from which folder, and the rendered manifest; `released` is False when the gate refused."""
    declared = declared_parameters(pipelines()["text_classifier_training"])
    model_name = params.get("model_name") or declared["model_name"]["defaultValue"]
    facts: dict[str, Any] = {"model_name": model_name, "released": False}
    registered = step_outputs(run, "register-model")
    if registered is None:
        return facts
    exported = step_outputs(run, "export-onnx") or {"parameters": {}}
    deployed = step_outputs(run, "deploy-inference-service")
    promoted = step_outputs(run, "promote-champion")
    facts.update(
        released=promoted is not None,
        registry_version=registered["parameters"].get("version"),
        served_uri=registered["parameters"].get("uri"),
        backend=exported["parameters"].get("backend", "pytorch"),
        backend_reason=exported["parameters"].get("reason", ""),
    )
    if deployed is not None:
        facts["manifest"] = _viewable(Path(deployed["artifacts"]["manifest"]["path"]), ".yaml")
        facts["endpoint"] = deployed["parameters"].get("Output", "")
    return facts


def _command(*words: str, **params: Any) -> str:
    pairs = [f"--param {shlex.quote(f'{k}={v}')}" for k, v in params.items()]
    return " ".join(["kfp-nlp", *words, *pairs])


def _next_commands(summary: dict[str, Any]) -> dict[str, Any]:
    """What to run after this training run, and why: scoring with what the registry now
    serves, or with this run's own model when nothing was ever released under its name."""
    from components.registry import registry

    params = summary["parameters"]
    scoring = {
        "input_uri": "TABLE.csv",
        "output_uri": "scored.csv",
        "text_column": params.get("text_column", "text"),
    }
    champion = {"registry_uri": params["registry_uri"], "model_name": summary["model_name"]}
    if summary["released"]:
        backend = summary["backend"]
        served = shlex.quote(summary["served_uri"])
        return {
            "why": "score a table with the released model, or serve it:",
            "commands": [
                _command("run", "batch_scoring", "--local", **scoring, **champion, backend=backend),
                f"kfp-nlp serve --model-dir {served} --backend {backend}",
            ],
        }
    current = registry.current_version(champion["registry_uri"], champion["model_name"])
    if current:
        return {
            "why": f"the champion, version {current}, stays in place; score a table with it:",
            "commands": [_command("run", "batch_scoring", "--local", **scoring, **champion)],
        }
    model = summary["outputs"]["model"]["path"]
    return {
        "why": f"nothing is released as {summary['model_name']} yet, so score with this run's "
        "model (to release one: train on more or cleaner data, or relax the gate with "
        "--param thresholds=... or --param require_beat_baseline=false):",
        "commands": [_command("run", "batch_scoring", "--local", **scoring, model_uri=model)],
    }


def _monitoring(outputs: dict[str, Any]) -> dict[str, Any]:
    """A monitoring run's decision and estimate at the top of the summary."""
    metrics = outputs["metrics"]["metadata"]
    return {
        "drift_detected": outputs["drift_detected"],
        "reason": outputs["reason"],
        "retrain": outputs["retrain"],
        "reference_macro_f1": metrics.get("reference_macro_f1"),
        "estimated_macro_f1": metrics.get("expected_macro_f1"),
        "report": outputs["report"]["path"],
    }


def _data_line(data: dict[str, Any]) -> str:
    kept = ", ".join(
        f"{split} {int(data[f'{split}_rows'])}" for split in ("train", "validation", "test")
    )
    line = f"{int(data['rows_read'])} rows read; kept {kept}"
    dropped = {
        key.removeprefix("dropped_").replace("_", " "): int(value)
        for key, value in data.items()
        if key.startswith("dropped_") and value
    }
    if dropped:
        reasons = ", ".join(f"{count} {reason}" for reason, count in dropped.items())
        line += f"; dropped {sum(dropped.values())} ({reasons}: see the data report)"
    return line


def _release_lines(summary: dict[str, Any]) -> list[str]:
    if not summary.get("registry_version"):
        return []
    backend = BACKENDS.get(summary["backend"], summary["backend"])
    registry_uri = summary["parameters"]["registry_uri"]
    lines = [
        f"release:  {summary['model_name']} version {summary['registry_version']} deployed, "
        f"served with {backend} from {summary['served_uri']}"
    ]
    if summary["released"]:
        lines.append(
            f"registry: version {summary['registry_version']} is the champion in {registry_uri}"
        )
    if summary.get("manifest"):
        applied = (
            f"answers at {summary['endpoint']}"
            if summary.get("endpoint")
            else ("rendered, not applied (deploy_dry_run=true)")
        )
        lines.append(f"deploy:   InferenceService {summary['manifest']}, {applied}")
    return lines


def _monitoring_lines(summary: dict[str, Any]) -> list[str]:
    if "drift_detected" not in summary:
        return []
    drift = "DETECTED" if summary["drift_detected"] else "none"
    lines = [f"drift:    {drift}: {summary['reason']}"]
    if summary.get("estimated_macro_f1") is not None:
        reference = summary.get("reference_macro_f1")
        against = f" (reference {reference:.3f})" if reference is not None else ""
        lines.append(f"estimate: macro_f1 {summary['estimated_macro_f1']:.3f}{against}")
    lines.append(f"retrain:  {'yes' if summary['retrain'] else 'no'}")
    return lines


def _next_lines(summary: dict[str, Any]) -> list[str]:
    if "next" not in summary:
        return []
    commands = summary["next"]["commands"]
    return [f"next:     {summary['next']['why']}", *(f"  {command}" for command in commands)]


def print_summary(summary: dict[str, Any]) -> None:
    """A readable end-of-run summary: where everything is and the numbers that matter."""
    print(f"\n{summary['pipeline']} finished in {duration(summary['seconds'])}")
    if "output_uri" in summary["parameters"]:
        print(f"output:   {summary['parameters']['output_uri']}")
    outputs = summary["outputs"]
    data = outputs.get("data_metrics", {}).get("metadata", {})
    if data:
        print(f"data:     {_data_line(data)}")
    evaluation = outputs.get("evaluation_metrics", {}).get("metadata", {})
    if evaluation:
        shown = [f"{k} {evaluation[k]:.3f}" for k in HEADLINE_METRICS if k in evaluation]
        print(f"test set: {', '.join(shown)}")
    if "approved" in outputs:
        verdict = "APPROVED" if outputs["approved"] else "REJECTED"
        reason = re.sub(r"^(approved|rejected): ", "", outputs["reason"])
        print(f"gate:     {verdict}: {reason}")
    for line in [*_release_lines(summary), *_monitoring_lines(summary)]:
        print(line)
    artifacts = {k: v["path"] for k, v in outputs.items() if isinstance(v, dict)}
    width = max((len(key) for key in artifacts), default=0)
    for key, path in sorted(artifacts.items()):
        print(f"  {key:<{width}}  {path}")
    print(f"log:      {summary['log']}")
    for line in _next_lines(summary):
        print(line)
