"""prepare_dataset as a KFP component: compiled to IR YAML, and run by the real kfp.local runner.

kfp.local's SubprocessRunner runs the component's real command line in a subprocess, exactly as
the container entrypoint would, minus the container: the image itself is not exercised here.
"""

from pathlib import Path

import pandas as pd
import pytest
import yaml
from kfp import compiler, components, dsl, local

from components.common.image import IMAGE
from components.prepare.component import prepare_dataset
from components.prepare.config import PrepareConfig
from components.sample_data import write_sample


@pytest.fixture
def local_runner(tmp_path: Path) -> Path:
    root = tmp_path / "pipeline_root"
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root))
    return root


def test_signature_mirrors_the_config_defaults():
    inputs = prepare_dataset.component_spec.inputs
    for name, value in vars(PrepareConfig()).items():
        assert inputs[name].default == value, name


def test_compiles_and_loads_back(tmp_path: Path):
    path = tmp_path / "prepare_dataset.yaml"
    compiler.Compiler().compile(prepare_dataset, str(path))
    spec = yaml.safe_load(path.read_text())
    executor = next(iter(spec["deploymentSpec"]["executors"].values()))
    assert executor["container"]["image"] == IMAGE
    assert ":latest" not in IMAGE
    assert "pip install" not in " ".join(executor["container"]["command"])
    loaded = components.load_component_from_file(str(path))
    assert set(loaded.component_spec.outputs) == {
        "train",
        "validation",
        "test",
        "metrics",
        "report",
    }


def test_runs_under_kfp_local_from_s3(local_runner: Path, s3_bucket: str):
    source = write_sample(f"s3://{s3_bucket}/raw/replies.csv", rows=1200)
    task = prepare_dataset(
        source_uri=source,
        text_columns=["reply_text"],
        label_column="intent",
        keep_columns=["channel"],
    )
    train = task.outputs["train"]
    frame = pd.read_parquet(train.path)
    assert train.metadata["rows"] == len(frame) > 500
    assert train.metadata["labels"] == sorted(frame["label"].unique())
    assert train.metadata["source_uri"] == source
    assert task.outputs["metrics"].metadata["rows_read"] == 1200
    report = Path(task.outputs["report"].path).read_text()
    assert report.startswith("# Data report")


def test_takes_a_dataset_artifact_in_a_pipeline(local_runner: Path, tmp_path: Path):
    source = write_sample(str(tmp_path / "replies.parquet"), rows=800)

    @dsl.pipeline
    def prepare_from_artifact(uri: str) -> dsl.Dataset:
        raw = dsl.importer(artifact_uri=uri, artifact_class=dsl.Dataset, reimport=False)
        prepared = prepare_dataset(
            source=raw.output, text_columns=["reply_text"], label_column="intent"
        )
        return prepared.outputs["test"]

    run = prepare_from_artifact(uri=source)
    test = run.output
    assert len(pd.read_parquet(test.path)) == test.metadata["rows"] > 40


def test_bad_input_fails_the_task_with_one_clear_line(
    local_runner: Path, tmp_path: Path, capfd: pytest.CaptureFixture
):
    source = tmp_path / "t.csv"
    pd.DataFrame({"body": ["a", "b"], "label": ["x", "y"]}).to_csv(source, index=False)
    with pytest.raises(RuntimeError, match="FAILURE"):
        prepare_dataset(source_uri=str(source))
    logs = capfd.readouterr()
    errors = [line for line in (logs.out + logs.err).splitlines() if "error: " in line]
    assert len(errors) == 1, errors
    assert "has no column 'text'; its columns are 'body', 'label'" in errors[0]
    assert "Traceback" not in logs.out + logs.err
    assert not list(local_runner.rglob("train"))
