"""evaluate_classifier's command line on real MiniLM models: a champion read from a real S3
endpoint (moto's server on loopback, through boto3), and every listed bad input failing with one
clear error, a non-zero exit and no output written."""

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import intent_rows, write_dataset
from kfp import dsl

from components.common.errors import KfpNlpError
from components.common.uri import s3_client, upload_dir
from components.evaluate.__main__ import main
from components.evaluate.config import EvaluateConfig
from components.evaluate.evaluation import evaluate
from components.evaluate.kfp_io import run_component

REPO = Path(__file__).resolve().parents[3]
INTENT_LABELS = [
    "complaint",
    "discount_question",
    "order_status",
    "other",
    "positive",
    "product_question",
    "unsubscribe",
]


@pytest.fixture
def small_test_set(evaluate_test_set: Path, dataset_writer: Callable[..., Path]) -> Path:
    """The first 42 rows of the test set: enough for every class, quick to score."""
    return dataset_writer(pd.read_parquet(evaluate_test_set).head(42))


def test_cli_evaluates_against_a_champion_on_s3(
    evaluate_models: dict[str, Path],
    small_test_set: Path,
    s3_bucket: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bucket = s3_bucket
    champion_uri = f"s3://{bucket}/models/production"
    upload_dir(evaluate_models["untrained"], champion_uri)
    s3_client().upload_file(str(small_test_set), bucket, "data/test.parquet")
    out = f"s3://{bucket}/evaluations/run-1"

    main(
        [
            "--model",
            str(evaluate_models["trained"]),
            "--test",
            f"s3://{bucket}/data/test.parquet",
            "--champion",
            champion_uri,
            "--output-dir",
            out,
            "--thresholds",
            "accuracy>=0.5",
            "--slice-columns",
            "locale",
            "--bootstrap-resamples",
            "200",
        ]
    )

    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["approved"] is True
    written = {
        obj["Key"]: obj["Size"]
        for obj in s3_client().list_objects_v2(Bucket=bucket, Prefix="evaluations/")["Contents"]
    }
    assert set(written) == {
        f"evaluations/run-1/{name}"
        for name in ("report.html", "predictions.parquet", "summary.json")
    }

    def read(name: str) -> bytes:
        key = f"evaluations/run-1/{name}"
        return s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()

    summary = json.loads(read("summary.json"))
    assert summary["reason"] == printed["reason"]
    assert summary["champion_source"] == champion_uri
    assert summary["test_source"] == f"s3://{bucket}/data/test.parquet"
    assert summary["challenger"]["n"] == 42
    assert summary["comparison"]["delta_low"] > 0
    assert {row["value"] for row in summary["slices"]} == {"en-US", "en-GB"}
    assert pq.read_metadata(pa.BufferReader(read("predictions.parquet"))).num_rows == 42
    html_text = read("report.html").decode()
    assert champion_uri in html_text
    assert html_text.count("data:image/png;base64,") == 5


def test_plain_csv_without_metadata_reports_absent_classes(
    evaluate_models: dict[str, Path], evaluate_test_set: Path, tmp_path: Path
) -> None:
    """A user's own CSV: the labels come from the model; classes the file lacks are absent."""
    frame = pd.read_parquet(evaluate_test_set)
    frame = frame[~frame["label"].isin(["other", "positive"])].head(30)
    csv = tmp_path / "holdout.csv"
    frame.to_csv(csv, index=False)

    evaluation = evaluate(evaluate_models["trained"], csv, EvaluateConfig(bootstrap_resamples=200))

    report = evaluation.decision.challenger
    assert evaluation.test.labels == sorted(INTENT_LABELS)
    assert report["absent_classes"] == ["other", "positive"]
    assert report["n"] == 30
    recall = {row["label"]: row["recall"] for row in report["per_class"]}
    assert recall["other"] is None and recall["positive"] is None
    assert all(recall[label] is not None for label in set(frame["label"]))


def test_a_model_that_does_not_beat_the_tfidf_baseline_is_refused(
    evaluate_models: dict[str, Path],
    small_test_set: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The baseline is trained on the train split given with --train; a chance-level model
    loses to it and --require-beat-baseline refuses it, saying why."""
    train = write_dataset(intent_rows(12, seed=1), tmp_path / "train.parquet")
    out = tmp_path / "out"
    argv = ["--model", str(evaluate_models["untrained"]), "--test", str(small_test_set)]
    argv += ["--train", str(train), "--bootstrap-resamples", "200"]

    main([*argv, "--require-beat-baseline", "--output-dir", str(out)])

    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["approved"] is False
    assert printed["reason"].startswith("rejected: macro_f1 0.")
    assert "does not beat the TF-IDF + logistic regression baseline's" in printed["reason"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["baseline"]["n"] == 42
    assert summary["baseline_comparison"]["delta"] < 0
    assert "<h2>Classic baseline</h2>" in (out / "report.html").read_text()


def test_require_beat_baseline_without_a_train_split(
    evaluate_models: dict[str, Path], small_test_set: Path, tmp_path: Path
) -> None:
    _assert_fails(
        [
            "--model",
            str(evaluate_models["trained"]),
            "--test",
            str(small_test_set),
            "--require-beat-baseline",
        ],
        tmp_path / "out",
        r"require_beat_baseline needs the train split to train the baseline on",
    )


def _assert_fails(argv: list[str], out: Path, message: str) -> None:
    with pytest.raises(KfpNlpError, match=message) as caught:
        main([*argv, "--output-dir", str(out)])
    assert "\n" not in str(caught.value)
    assert not out.exists(), "a failed evaluation must write nothing"


def test_model_and_test_set_with_different_label_sets(
    evaluate_models: dict[str, Path], small_test_set: Path, tmp_path: Path
) -> None:
    _assert_fails(
        ["--model", str(evaluate_models["other_task"]), "--test", str(small_test_set)],
        tmp_path / "out",
        r"predicts labels \['negative', 'positive'\] but the test set .* has labels "
        r"\['complaint', .*\]; evaluate the model on a test split of the data it was trained for",
    )


def test_empty_test_set(
    evaluate_models: dict[str, Path],
    evaluate_test_set: Path,
    dataset_writer: Callable[..., Path],
    tmp_path: Path,
) -> None:
    empty = dataset_writer(pd.read_parquet(evaluate_test_set).head(0))
    _assert_fails(
        ["--model", str(evaluate_models["trained"]), "--test", str(empty)],
        tmp_path / "out",
        r"the test set .*variant.parquet has no rows; pass the test split written by "
        "prepare_dataset",
    )


def test_missing_text_column(
    evaluate_models: dict[str, Path],
    evaluate_test_set: Path,
    dataset_writer: Callable[..., Path],
    tmp_path: Path,
) -> None:
    renamed = pd.read_parquet(evaluate_test_set).rename(columns={"text": "message"})
    _assert_fails(
        ["--model", str(evaluate_models["trained"]), "--test", str(dataset_writer(renamed))],
        tmp_path / "out",
        r"has no 'text' column \(columns: id, message, label, channel, locale\)",
    )


def test_model_giving_nan_probabilities(
    evaluate_models: dict[str, Path], small_test_set: Path, tmp_path: Path
) -> None:
    _assert_fails(
        ["--model", str(evaluate_models["broken"]), "--test", str(small_test_set)],
        tmp_path / "out",
        r"the challenger model in .*broken gave NaN or infinite probabilities for 42 of 42 "
        r"test texts \(first: row 0\); its weights are broken",
    )


def test_champion_of_a_different_task(
    evaluate_models: dict[str, Path], small_test_set: Path, tmp_path: Path
) -> None:
    argv = ["--model", str(evaluate_models["trained"]), "--test", str(small_test_set)]
    _assert_fails(
        [*argv, "--champion", str(evaluate_models["other_task"])],
        tmp_path / "out",
        r"the champion in .*other_task is a model for a different task \(labels "
        r"\['negative', 'positive'\]",
    )


def test_slice_column_not_in_the_test_set(
    evaluate_models: dict[str, Path], small_test_set: Path, tmp_path: Path
) -> None:
    argv = ["--model", str(evaluate_models["trained"]), "--test", str(small_test_set)]
    _assert_fails(
        [*argv, "--slice-columns", "country"],
        tmp_path / "out",
        r"slice column 'country' is not in the test set",
    )


def test_champion_given_twice_is_refused_before_any_work(tmp_path: Path) -> None:
    outputs = {
        name: kind(name=name, uri=str(tmp_path / name))
        for name, kind in [
            ("metrics", dsl.Metrics),
            ("classification_metrics", dsl.ClassificationMetrics),
            ("report", dsl.HTML),
            ("predictions", dsl.Dataset),
        ]
    }
    with pytest.raises(KfpNlpError, match="pass only one of them"):
        run_component(
            model=dsl.Model(uri=str(tmp_path / "model")),
            test=dsl.Dataset(uri=str(tmp_path / "test.parquet")),
            champion=dsl.Model(uri=str(tmp_path / "champion")),
            champion_uri="s3://bucket/champion",
            **outputs,
        )
    assert list(tmp_path.iterdir()) == []


def test_command_line_exits_2_with_one_line(evaluate_test_set: Path, tmp_path: Path) -> None:
    """The real `python -m components.evaluate` process, as a container would run it."""
    command = [sys.executable, "-m", "components.evaluate", "--model", str(tmp_path / "nowhere")]
    command += ["--test", str(evaluate_test_set), "--output-dir", str(tmp_path / "out")]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: ")
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "nowhere is not a folder" in result.stderr
    assert not (tmp_path / "out").exists()


def test_outputs_appear_together_or_not_at_all(
    evaluate_models: dict[str, Path], small_test_set: Path, tmp_path: Path
) -> None:
    """The report cannot be written (a folder is in its way): no predictions or summary either."""
    out = tmp_path / "evaluation"
    (out / "report.html").mkdir(parents=True)
    with pytest.raises(KfpNlpError, match=r"report\.html is a folder"):
        main(
            [
                "--model",
                str(evaluate_models["trained"]),
                "--test",
                str(small_test_set),
                "--output-dir",
                str(out),
                "--bootstrap-resamples",
                "100",
            ]
        )
    assert sorted(p.name for p in out.iterdir()) == ["report.html"]
