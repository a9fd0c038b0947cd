"""`kfp-nlp schedule` with the real kfp.Client against the local KFP API stand-in (conftest.py).

A real KFP backend is not exercised: the stand-in validates and records what the client sends
(bodies parsed into kfp-server-api models, uploads into the PipelineSpec proto) but nothing is
scheduled or run, and the scheduledworkflow controller that evaluates cron is not involved.
"""

import argparse
from pathlib import Path
from typing import Any

import pytest
import yaml
from kfp import compiler, dsl
from kfp_standin import KfpStandIn

from components import __version__
from components.common.errors import KfpNlpError
from pipelines import schedule
from pipelines.kfp_remote import load_package
from pipelines.schedules_file import load_schedules, normalize_cron

REPO = Path(__file__).resolve().parents[3]


def write_schedules(path: Path, entries: list[dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump(entries, sort_keys=False))
    return path


def nightly(**changes: Any) -> dict[str, Any]:
    entry = {
        "name": "nightly-retrain",
        "pipeline": "tiny-pipeline",
        "cron": "0 3 * * *",
        "timezone": "UTC",
        "experiment": "intents",
        "enabled": True,
        "params": {"message": "hi", "times": 3, "ratio": 1},
        "service_account": "kfp-nlp-runner",
    }
    return {**entry, **changes}


def weekly(**changes: Any) -> dict[str, Any]:
    entry = {
        "name": "weekly-audit",
        "pipeline": "tiny-pipeline",
        "cron": "30 6 * * MON",
        "timezone": "UTC",
        "experiment": "intents",
        "enabled": False,
        "params": {"message": "audit"},
    }
    return {**entry, **changes}


def apply(
    kfp_api: KfpStandIn, compiled_dir: Path, path: Path, **flags: Any
) -> list[schedule.Action]:
    args = argparse.Namespace(
        schedules=path,
        host=flags.get("host", kfp_api.url),
        namespace=None,
        compiled_dir=compiled_dir,
        cluster_timezone=flags.get("cluster_timezone", "UTC"),
        dry_run=flags.get("dry_run", False),
        prune=flags.get("prune", False),
    )
    kfp_api.requests.clear()
    return schedule.run(args)


def kinds(actions: list[schedule.Action]) -> list[tuple[str, str]]:
    return [(a.kind, a.target) for a in actions]


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("0 3 * * 1", "0 0 3 * * 1"),
        ("*/15 * * * *", "0 */15 * * * *"),
        ("30 0 3 ? * MON-FRI", "30 0 3 ? * MON-FRI"),
        ("0 9 1,15 JAN-MAR *", "0 0 9 1,15 JAN-MAR *"),
        ("@daily", "0 0 0 * * *"),
        ("  0   3 * * *  ", "0 0 3 * * *"),
    ],
)
def test_cron_is_normalised_to_kfps_six_fields(cron: str, expected: str) -> None:
    assert normalize_cron(cron) == expected


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("61 * * * *", "'61' is not a valid minute"),
        ("0 3 * * 8", "'8' is not a valid day of week"),
        ("0 3 * *", "has 4 fields"),
        ("0 0 0 3 * * * *", "has 8 fields"),
        ("? 3 * * *", r"'\?' is not a valid minute \(0-59\)"),
        ("0 3 L * *", "'L' is not a valid day of month"),
        ("0 3 * * 1#2", "'1#2' is not a valid day of week"),
        ("0 3 1-40 * *", "'1-40' is not a valid day of month"),
        ("*/0 3 * * *", "'\\*/0' is not a valid minute"),
        ("0 3 * FOO *", "'FOO' is not a valid month"),
        ("0 3 x * *", "'x' is not a valid day of month"),
    ],
)
def test_bad_cron_is_refused(cron: str, message: str) -> None:
    with pytest.raises(KfpNlpError, match=message):
        normalize_cron(cron)


def test_first_apply_creates_everything(
    kfp_api: KfpStandIn, compiled_dir: Path, tmp_path: Path
) -> None:
    path = write_schedules(tmp_path / "schedules.yaml", [nightly(), weekly()])

    actions = apply(kfp_api, compiled_dir, path)

    version_name = f"{__version__}-{load_package('tiny-pipeline', compiled_dir).sha256[:12]}"
    assert kinds(actions) == [
        ("upload", "pipeline tiny-pipeline"),
        ("upload", f"pipeline tiny-pipeline version {version_name}"),
        ("create", "experiment intents"),
        ("create", "nightly-retrain"),
        ("create", "weekly-audit"),
    ]
    (ours,) = [v for v in kfp_api.versions.values() if v.display_name == version_name]
    runs = {r.display_name: r for r in kfp_api.recurring_runs.values()}
    assert set(runs) == {"nightly-retrain", "weekly-audit"}
    nightly_run = runs["nightly-retrain"]
    assert nightly_run.trigger.cron_schedule.cron == "0 0 3 * * *"
    assert nightly_run.max_concurrency == "1"
    assert nightly_run.no_catchup is True
    assert nightly_run.service_account == "kfp-nlp-runner"
    assert nightly_run.mode == "ENABLE"
    assert nightly_run.runtime_config.parameters == {"message": "hi", "times": 3, "ratio": 1.0}
    assert nightly_run.pipeline_version_reference.pipeline_version_id == ours.pipeline_version_id
    assert "timezone UTC" in nightly_run.description
    assert runs["weekly-audit"].mode == "DISABLE"
    assert runs["weekly-audit"].trigger.cron_schedule.cron == "0 30 6 * * MON"


def test_second_apply_changes_nothing(
    kfp_api: KfpStandIn, compiled_dir: Path, tmp_path: Path
) -> None:
    path = write_schedules(tmp_path / "schedules.yaml", [nightly(), weekly()])
    apply(kfp_api, compiled_dir, path)
    before = {k: v.to_dict() for k, v in kfp_api.recurring_runs.items()}

    actions = apply(kfp_api, compiled_dir, path)

    assert kinds(actions) == [("unchanged", "nightly-retrain"), ("unchanged", "weekly-audit")]
    assert kfp_api.writes() == []
    assert {r.method for r in kfp_api.requests} == {"GET"}
    assert {k: v.to_dict() for k, v in kfp_api.recurring_runs.items()} == before


def test_a_changed_cron_creates_the_new_run_before_deleting_the_old(
    kfp_api: KfpStandIn, compiled_dir: Path, tmp_path: Path
) -> None:
    path = write_schedules(tmp_path / "schedules.yaml", [nightly(), weekly()])
    apply(kfp_api, compiled_dir, path)
    (old_id,) = [
        k for k, v in kfp_api.recurring_runs.items() if v.display_name == "nightly-retrain"
    ]

    write_schedules(path, [nightly(cron="0 4 * * *"), weekly()])
    actions = apply(kfp_api, compiled_dir, path)

    assert kinds(actions) == [
        ("replace", "nightly-retrain"),
        ("delete", "nightly-retrain"),
        ("unchanged", "weekly-audit"),
    ]
    assert kfp_api.writes() == [
        ("POST", "/apis/v2beta1/recurringruns"),
        ("DELETE", f"/apis/v2beta1/recurringruns/{old_id}"),
    ]
    runs = [r for r in kfp_api.recurring_runs.values() if r.display_name == "nightly-retrain"]
    assert [r.trigger.cron_schedule.cron for r in runs] == ["0 0 4 * * *"]


def test_moving_a_schedule_to_another_experiment_moves_its_run(
    kfp_api: KfpStandIn, compiled_dir: Path, tmp_path: Path
) -> None:
    path = write_schedules(tmp_path / "schedules.yaml", [nightly(), weekly()])
    apply(kfp_api, compiled_dir, path)

    write_schedules(path, [nightly(experiment="intents-v2"), weekly()])
    actions = apply(kfp_api, compiled_dir, path)

    assert kinds(actions) == [
        ("create", "experiment intents-v2"),
        ("replace", "nightly-retrain"),
        ("delete", "nightly-retrain"),
        ("unchanged", "weekly-audit"),
    ]
    experiments = {e.experiment_id: e.display_name for e in kfp_api.experiments.values()}
    assert sorted(
        (r.display_name, experiments[r.experiment_id]) for r in kfp_api.recurring_runs.values()
    ) == [("nightly-retrain", "intents-v2"), ("weekly-audit", "intents")]


def test_changing_only_enabled_pauses_in_place(
    kfp_api: KfpStandIn, compiled_dir: Path, tmp_path: Path
) -> None:
    path = write_schedules(tmp_path / "schedules.yaml", [nightly(), weekly()])
    apply(kfp_api, compiled_dir, path)
    ids = {v.display_name: k for k, v in kfp_api.recurring_runs.items()}

    write_schedules(path, [nightly(enabled=False), weekly(enabled=True)])
    apply(kfp_api, compiled_dir, path)

    assert kfp_api.writes() == [
        ("POST", f"/apis/v2beta1/recurringruns/{ids['nightly-retrain']}:disable"),
        ("POST", f"/apis/v2beta1/recurringruns/{ids['weekly-audit']}:enable"),
    ]
    assert {v.display_name: v.mode for v in kfp_api.recurring_runs.values()} == {
        "nightly-retrain": "DISABLE",
        "weekly-audit": "ENABLE",
    }


@dsl.component(base_image="python:3.11-slim")
def _shout(message: str) -> str:
    return message.upper()


@dsl.pipeline(name="tiny-pipeline")
def tiny_pipeline_v2(message: str, times: int = 2, ratio: float = 0.5, verbose: bool = False):
    _shout(message=message)


def test_a_new_pipeline_build_is_uploaded_once_and_the_runs_move_to_it(
    kfp_api: KfpStandIn, compiled_dir: Path, tmp_path: Path
) -> None:
    path = write_schedules(tmp_path / "schedules.yaml", [nightly(), weekly()])
    apply(kfp_api, compiled_dir, path)
    compiler.Compiler().compile(tiny_pipeline_v2, str(compiled_dir / "tiny-pipeline.yaml"))

    actions = apply(kfp_api, compiled_dir, path)

    new_version = f"{__version__}-{load_package('tiny-pipeline', compiled_dir).sha256[:12]}"
    assert [a.kind for a in actions] == ["upload", "replace", "delete", "replace", "delete"]
    (uploaded,) = [v for v in kfp_api.versions.values() if v.display_name == new_version]
    assert {
        r.pipeline_version_reference.pipeline_version_id for r in kfp_api.recurring_runs.values()
    } == {uploaded.pipeline_version_id}
    assert len(kfp_api.recurring_runs) == 2


def test_prune_deletes_only_runs_this_command_made(
    kfp_api: KfpStandIn, compiled_dir: Path, tmp_path: Path
) -> None:
    path = write_schedules(tmp_path / "schedules.yaml", [nightly(), weekly()])
    apply(kfp_api, compiled_dir, path)
    experiment_id = next(iter(kfp_api.experiments))
    client = schedule.connect(kfp_api.url)
    client.create_recurring_run(
        experiment_id=experiment_id,
        job_name="hand-made",
        cron_expression="0 0 1 * * *",
        pipeline_package_path=str(compiled_dir / "tiny-pipeline.yaml"),
        params={"message": "mine"},
    )

    write_schedules(path, [nightly()])
    actions = apply(kfp_api, compiled_dir, path, prune=True)

    assert kinds(actions) == [("unchanged", "nightly-retrain"), ("delete", "weekly-audit")]
    assert sorted(r.display_name for r in kfp_api.recurring_runs.values()) == [
        "hand-made",
        "nightly-retrain",
    ]


def test_dry_run_plans_and_writes_nothing(
    kfp_api: KfpStandIn, compiled_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_schedules(tmp_path / "schedules.yaml", [nightly(), weekly()])

    actions = apply(kfp_api, compiled_dir, path, dry_run=True)

    assert [a.kind for a in actions] == ["upload", "upload", "create", "create", "create"]
    assert kfp_api.writes() == []
    assert "create     nightly-retrain  cron '0 0 3 * * *' (UTC)" in capsys.readouterr().out


def test_dry_run_without_an_endpoint_checks_the_file_offline_and_says_so(
    kfp_api: KfpStandIn, compiled_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_schedules(tmp_path / "schedules.yaml", [nightly(), weekly()])

    actions = apply(kfp_api, compiled_dir, path, dry_run=True, host=None)

    assert kinds(actions) == [("apply", "nightly-retrain"), ("apply", "weekly-audit")]
    assert kfp_api.requests == []
    shown = capsys.readouterr().out
    assert shown.startswith("offline: no KFP API") and "give --host to see what differs" in shown
    version = f"{__version__}-{load_package('tiny-pipeline', compiled_dir).sha256[:12]}"
    assert (
        f"apply      nightly-retrain  cron '0 0 3 * * *' (UTC), tiny-pipeline version {version}, "
        'experiment intents, enabled, params {"message": "hi", "ratio": 1.0, "times": 3}'
    ) in shown
    assert "weekly-audit  cron '0 30 6 * * MON' (UTC)" in shown and ", paused," in shown


def test_dry_run_offline_still_refuses_a_bad_file(
    kfp_api: KfpStandIn, compiled_dir: Path, tmp_path: Path
) -> None:
    path = write_schedules(tmp_path / "schedules.yaml", [nightly(cron="0 3 * * 9")])
    with pytest.raises(KfpNlpError, match="'9' is not a valid day of week"):
        apply(kfp_api, compiled_dir, path, dry_run=True, host=None)


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([nightly(crn="0 3 * * *")], "unknown key 'crn'"),
        ([nightly(timezone="Europe/Berlin")], "timezone Europe/Berlin differs from the cluster"),
        ([nightly(timezone="Mars/Olympus")], "timezone 'Mars/Olympus' is unknown"),
        ([{k: v for k, v in nightly().items() if k != "timezone"}], "has no 'timezone'"),
        ([nightly(), nightly()], "schedule name 'nightly-retrain' is used twice"),
        ([nightly(params={"mesage": "hi"})], "has no parameter 'mesage'"),
        (
            [nightly(params={"message": "hi", "times": "3"})],
            r"times='3' is not a whole number; give e.g. times=3 \(quote text",
        ),
        ([nightly(params={"message": 7})], "message=7 is not text; .*quote text in YAML"),
        ([nightly(pipeline="training")], "no compiled pipeline 'training'"),
        ([nightly(cron="0 25 * * *")], "'25' is not a valid hour"),
        ([nightly(enabled="yes")], "enabled must be true or false"),
        ({"nightly": nightly()}, "must hold a YAML list of schedules"),
    ],
)
def test_bad_schedules_are_refused_before_anything_is_sent(
    kfp_api: KfpStandIn, compiled_dir: Path, tmp_path: Path, entries: Any, message: str
) -> None:
    path = tmp_path / "schedules.yaml"
    path.write_text(yaml.safe_dump(entries))

    with pytest.raises(KfpNlpError, match=message):
        apply(kfp_api, compiled_dir, path)

    assert kfp_api.requests == []


def test_a_cron_written_for_the_clusters_own_timezone_is_accepted(
    kfp_api: KfpStandIn, compiled_dir: Path, tmp_path: Path
) -> None:
    path = write_schedules(tmp_path / "schedules.yaml", [nightly(timezone="Europe/Berlin")])

    apply(kfp_api, compiled_dir, path, cluster_timezone="Europe/Berlin")

    (run,) = kfp_api.recurring_runs.values()
    assert "timezone Europe/Berlin" in run.description


def test_the_repositorys_schedules_file_is_valid() -> None:
    """manifests/schedules/schedules.yaml names compiled pipelines and valid parameters."""
    schedules = load_schedules(
        REPO / "manifests" / "schedules" / "schedules.yaml",
        REPO / "pipelines" / "compiled",
        "UTC",
    )
    assert schedules and all(len(s.cron.split()) == 6 for s in schedules)
