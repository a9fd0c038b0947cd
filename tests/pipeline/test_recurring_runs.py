"""Recurring training runs through kfp.local, as a weekly schedule and a new user meet them.

`kfp-nlp run --local` runs kfp.local with its cache off (test_cache_keys.py replays the cache), so
every run here trains; the runs are tiny (a few hundred rows, one epoch, 32 tokens).

The sequence: a run with `kfp-nlp demo`'s model name and registry; then a user's own table with
other columns and labels and the default registry and gate settings; the same table replaced
behind the same path by a bigger one, released only after the champion comparison at the default
allowed regression; that table once more, unchanged; and that table under the demo's model name,
which must stop before fine-tuning.
"""

import random
from pathlib import Path
from typing import Any

import pytest

from components.registry import registry
from components.sample_data import write_sample
from pipelines.cli import DEMO_PARAMS, StepFailed, run_local

pytestmark = pytest.mark.slow

# Tiny training on 300 rows is not held to the default macro-F1 threshold nor to beating the TF-IDF
# baseline; these runs are about recurring releases, so the gate's other checks remain and the
# baseline is still scored and reported.
TINY = {
    "epochs": 1,
    "max_length": 32,
    "batch_size": 32,
    "learning_rate": 1e-4,
    "thresholds": "",
    "require_beat_baseline": False,
}
TICKETS = {
    "Billing": ["i was charged twice for {x}", "refund my {x} payment", "wrong invoice for {x}"],
    "Shipping": ["my {x} has not arrived", "where is the {x} i ordered", "{x} delivery is late"],
    "Praise": ["love the {x} thank you", "the {x} is great", "best {x} i ever bought"],
}
ITEMS = ["lamp", "chair", "kettle", "jacket", "phone", "desk", "mug", "scarf"]


def write_tickets(path: Path, rows: int) -> None:
    """A user's own table: other column names, other labels than the demo's."""
    rng = random.Random(rows)
    lines = ["Ticket Body,Agent Tag"]
    for i in range(rows):
        tag = sorted(TICKETS)[i % 3]
        text = rng.choice(TICKETS[tag]).format(x=rng.choice(ITEMS))
        lines.append(f"{text} #{i},{tag}")
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("work")
    local_registry = str((work / "registry").resolve())
    demo_data = write_sample(str(work / "data" / "replies.csv"), rows=300)
    demo = run_local(
        "text_classifier_training",
        {"data_uri": demo_data, "registry_uri": local_registry, **DEMO_PARAMS, **TINY},
        work,
    )
    table = work / "tickets" / "latest.csv"
    table.parent.mkdir()
    # `kfp-nlp run --local` defaults: the registry beside the runs, the default model name.
    user = {
        "data_uri": str(table),
        "registry_uri": local_registry,
        "text_column": "Ticket Body",
        "label_column": "Agent Tag",
        **TINY,
    }
    write_tickets(table, 150)
    first = run_local("text_classifier_training", user, work)
    write_tickets(table, 240)
    changed = run_local("text_classifier_training", user, work)
    unchanged = run_local("text_classifier_training", user, work)
    return {
        "work": work,
        "user": user,
        "registry": local_registry,
        "demo": demo["outputs"],
        "first": first["outputs"],
        "changed": changed["outputs"],
        "unchanged": unchanged["outputs"],
    }


def _rows(outputs: dict[str, Any]) -> dict[str, Any]:
    return outputs["data_metrics"]["metadata"]


def test_a_users_own_table_after_the_demo_trains_under_its_own_model_name(runs):
    assert runs["demo"]["approved"] is True, runs["demo"]["reason"]
    assert runs["first"]["approved"] is True, runs["first"]["reason"]
    assert registry.current_version(runs["registry"], DEMO_PARAMS["model_name"])
    assert registry.current_version(runs["registry"], "text-classifier")


def test_a_table_replaced_behind_the_same_uri_is_trained_on(runs):
    assert _rows(runs["first"])["rows_read"] == 150
    assert _rows(runs["changed"])["rows_read"] == 240
    assert _rows(runs["changed"])["train_rows"] > _rows(runs["first"])["train_rows"]
    reason = runs["changed"]["reason"]
    assert runs["changed"]["approved"] is True, reason
    # Released against the first table's model, at the default allowed regression.
    assert "vs champion" in reason, reason
    assert "meets a lower bound of at least -0.0100 (max_regression)" in reason, reason


def test_a_retrain_on_unchanged_data_is_not_a_release(runs):
    outputs = runs["unchanged"]
    assert outputs["approved"] is False
    assert outputs["reason"].startswith("unchanged:"), outputs["reason"]
    history = registry.history(runs["registry"], "text-classifier")
    assert [e["event"] for e in history].count("registered") == 2


def test_a_champion_for_other_labels_stops_the_run_before_fine_tuning(runs):
    # A user who reuses the demo's model name for the tickets table.
    params = {**runs["user"], "model_name": DEMO_PARAMS["model_name"]}
    started = set(runs["work"].glob("runs/*"))
    with pytest.raises(StepFailed) as failed:
        run_local("text_classifier_training", params, runs["work"])
    step = failed.value.step
    assert step.name == "resolve-model" and step.bad_input
    assert "cannot be compared, so nothing was trained" in step.error
    log = step.log.read_text()
    assert [line.strip() for line in log.splitlines() if "error: " in line] == [
        f"error: {step.error}"
    ]
    assert "Traceback" not in log
    (run,) = set(runs["work"].glob("runs/*")) - started
    assert (run / "prepare-dataset").is_dir()
    assert not (run / "finetune-classifier").exists()
