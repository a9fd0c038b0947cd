"""`kfp-nlp submit` with the real kfp.Client against the local KFP API stand-in (conftest.py).

A real KFP backend is not exercised: the stand-in validates and records what the client sends
(bodies parsed into kfp-server-api models, the pipeline spec into the PipelineSpec proto) but
schedules and runs nothing.
"""

import argparse
import socket
from pathlib import Path

import pytest
from kfp_standin import KfpStandIn

from components.common.errors import KfpNlpError, TransientError, run_cli
from pipelines import schedule, submit
from pipelines.kfp_remote import connect, kfp_errors, load_package


def parser() -> argparse.ArgumentParser:
    """A command line with the `submit` and `schedule` subcommands, as kfp-nlp adds them."""
    cli = argparse.ArgumentParser(prog="kfp-nlp")
    commands = cli.add_subparsers(required=True)
    submit.add_parser(commands)
    schedule.add_parser(commands)
    return cli


def kfp_nlp(argv: list[str]) -> None:
    """Run the command line as the kfp-nlp entry point does (errors: one line, exit 2)."""

    def dispatch(args: list[str] | None) -> None:
        parsed = parser().parse_args(args)
        parsed.func(parsed)

    run_cli(dispatch, argv)


def test_submit_creates_one_typed_run_in_the_experiment(
    kfp_api: KfpStandIn, compiled_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--host", kfp_api.url, "--compiled-dir", str(compiled_dir)]
    kfp_nlp(
        [
            *("submit", "tiny-pipeline", *common, "--experiment", "intents", "--run-name", "first"),
            *("--param", "message=hi", "--param", "times=3", "--param", "verbose=true"),
            *("--service-account", "kfp-nlp-runner"),
        ]
    )
    kfp_nlp(["submit", "tiny-pipeline", *common, "--experiment", "intents", "--param", "message=x"])

    assert [e.display_name for e in kfp_api.experiments.values()] == ["intents"]
    first, second = kfp_api.runs.values()
    assert first.display_name == "first"
    assert first.service_account == "kfp-nlp-runner"
    assert first.runtime_config.parameters == {"message": "hi", "times": 3, "verbose": True}
    assert first.pipeline_spec["pipelineInfo"]["name"] == "tiny-pipeline"
    assert first.experiment_id == second.experiment_id
    assert second.runtime_config.parameters == {"message": "x"}
    assert f"submitted run {first.run_id} of tiny-pipeline" in capsys.readouterr().out


def test_submit_takes_a_path_to_a_compiled_yaml(kfp_api: KfpStandIn, compiled_dir: Path) -> None:
    path = compiled_dir / "tiny-pipeline.yaml"
    kfp_nlp(["submit", str(path), "--host", kfp_api.url, "--param", "message=hi"])

    (run,) = kfp_api.runs.values()
    assert kfp_api.experiments[run.experiment_id].display_name == "kfp-nlp"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--param", "mesage=hi"], "has no parameter 'mesage'; its parameters: message, "),
        (["--param", "message=hi", "--param", "times=three"], "times='three' is not a whole num"),
        (["--param", "message=hi", "--param", "ratio=half"], "ratio='half' is not a number"),
        (["--param", "message=hi", "--param", "verbose=maybe"], "verbose='maybe' is not true or"),
        ([], "needs a value for message"),
        (["--param", "message"], "--param 'message' is not NAME=VALUE"),
    ],
)
def test_bad_parameters_are_refused_before_anything_is_sent(
    kfp_api: KfpStandIn,
    compiled_dir: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    common = ["--host", kfp_api.url, "--compiled-dir", str(compiled_dir)]
    with pytest.raises(SystemExit) as exit_info:
        kfp_nlp(["submit", "tiny-pipeline", *common, *argv])

    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert kfp_api.requests == []


def test_unknown_pipeline_names_the_compiled_ones(kfp_api: KfpStandIn, compiled_dir: Path) -> None:
    with pytest.raises(
        KfpNlpError, match=r"no compiled pipeline 'trainng'.*compiled: tiny-pipeline"
    ):
        load_package("trainng", compiled_dir)


def test_a_file_that_is_not_a_compiled_pipeline_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.yaml"
    path.write_text("just: some yaml\n")
    with pytest.raises(KfpNlpError, match="is not a compiled KFP pipeline"):
        load_package(str(path))


def test_an_unreachable_endpoint_is_one_clear_error(compiled_dir: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = argparse.Namespace(
        pipeline="tiny-pipeline",
        compiled_dir=compiled_dir,
        host=f"http://127.0.0.1:{port}",
        namespace=None,
        experiment="intents",
        run_name=None,
        service_account=None,
        param=["message=hi"],
    )
    with pytest.raises(
        TransientError, match=f"cannot reach the KFP API at http://127.0.0.1:{port}"
    ):
        submit.run(args)


def test_a_host_that_is_not_a_url_is_refused() -> None:
    with pytest.raises(KfpNlpError, match="is not an http\\(s\\) URL; pass --host"):
        connect("localhost:8888")


def test_server_refusals_become_one_line_errors_and_the_server_stays_up(
    kfp_api: KfpStandIn,
) -> None:
    client = connect(kfp_api.url)
    refused = pytest.raises(KfpNlpError, match="answered HTTP 404: recurring run 'nope' not found")
    with refused, kfp_errors(kfp_api.url):
        client.delete_recurring_run("nope")
    assert client.get_kfp_healthz().multi_user is False


def test_the_token_from_the_environment_is_sent(
    kfp_api: KfpStandIn, compiled_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kfp_api.token = "s3cret"
    argv = ["submit", "tiny-pipeline", "--host", kfp_api.url, "--compiled-dir", str(compiled_dir)]
    argv += ["--namespace", "team-a", "--param", "message=hi"]
    monkeypatch.delenv("KFP_NLP_TOKEN", raising=False)
    with pytest.raises(KfpNlpError, match=r"refused access \(HTTP 401.*set KFP_NLP_TOKEN"):
        submit.run(parser().parse_args(argv))

    monkeypatch.setenv("KFP_NLP_TOKEN", "s3cret")
    submit.run(parser().parse_args(argv))
    assert len(kfp_api.runs) == 1
