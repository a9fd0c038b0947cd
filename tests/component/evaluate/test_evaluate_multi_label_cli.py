"""evaluate_classifier's command line on a real multi-label MiniLM model (the shared trained
test model) and its multi-label test split: the metrics, the predictions table and the report
a user reads, with predictions that are the model's own label sets."""

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from benchmarks.small_classifier import SmallClassifier
from components.common.errors import run_cli
from components.common.inference import label_sets, load_classifier, predict_proba
from components.common.splits import read_split
from components.evaluate.__main__ import main


def test_a_multi_label_model_is_evaluated_on_its_label_sets(
    small_multi_label_model: SmallClassifier, tmp_path: Path
) -> None:
    model, test = small_multi_label_model.model_dir, small_multi_label_model.test_path
    out = tmp_path / "out"
    run_cli(
        main,
        [
            *("--model", str(model), "--test", str(test), "--output-dir", str(out)),
            *("--thresholds", "macro_f1>=0.3,hamming_loss<=0.3"),
        ],
    )
    summary = json.loads((out / "summary.json").read_text())
    metrics = summary["challenger"]
    assert summary["multi_label"] and summary["approved"], summary["reason"]
    assert 0.3 <= metrics["macro_f1"] <= 1 and 0 <= metrics["hamming_loss"] <= 0.3
    assert {"subset_accuracy", "micro_f1", "weighted_f1", "roc_auc", "pr_auc"} <= set(metrics)
    assert [row["label"] for row in metrics["per_class"]] == sorted(summary["decision_thresholds"])

    # The predictions are what label_sets gives for the model's probabilities on this host.
    split = read_split(test, "test")
    classifier = load_classifier(model)
    expected = label_sets(classifier, predict_proba(classifier, split.texts))
    table = pq.read_table(out / "predictions.parquet")
    assert table.column("predicted_labels").to_pylist() == expected
    assert any(len(row) == 2 for row in expected)
    right = [set(p) == set(t) for p, t in zip(expected, split.labels, strict=True)]
    assert table.column("correct").to_pylist() == right
    assert metrics["subset_accuracy"] == pytest.approx(sum(right) / len(right))

    report = (out / "report.html").read_text()
    assert "Per label" in report and "<th>threshold</th>" in report


def test_a_multi_label_model_on_a_single_label_test_set_is_refused(
    small_multi_label_model: SmallClassifier, evaluate_test_set: Path, tmp_path: Path, capsys
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_cli(
            main,
            [
                *("--model", str(small_multi_label_model.model_dir)),
                *("--test", str(evaluate_test_set), "--output-dir", str(tmp_path / "out")),
            ],
        )
    assert exit_info.value.code == 2
    (line,) = [x for x in capsys.readouterr().err.splitlines() if x.startswith("error: ")]
    assert "is multi-label but the test set" in line and "is single-label" in line
    assert not (tmp_path / "out").exists()
