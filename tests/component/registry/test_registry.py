"""The model registry on a local folder and on a real S3 HTTP endpoint (moto on loopback)."""

import json
import threading
from pathlib import Path

import pytest

from components.common import uri
from components.common.errors import KfpNlpError
from components.registry import registry
from components.registry.__main__ import main as registry_cli


def test_register_copies_the_model_and_is_idempotent(registry_root: str, model_dir: Path) -> None:
    version = registry.register_version(registry_root, "intents", model_dir, {"f1": 0.91})

    assert registry.list_versions(registry_root, "intents") == [version]
    stored = registry.version_uri(registry_root, "intents", version)
    assert uri.list_files(stored) == [
        "config.json",
        "kfp_nlp_manifest.json",
        "model.safetensors",
        "registration.json",
    ]
    record = registry.registration(registry_root, "intents", version)
    assert record["metadata"] == {"f1": 0.91}
    assert record["provenance"]["base_model"] == "all-MiniLM-L6-v2"

    assert registry.register_version(registry_root, "intents", model_dir) == version
    events = registry.history(registry_root, "intents")
    assert [e["event"] for e in events] == ["registered"]


def test_resolve_explains_what_is_missing(registry_root: str, model_dir: Path) -> None:
    with pytest.raises(KfpNlpError, match="no model named 'intents' is registered"):
        registry.resolve(registry_root, "intents")
    registry.register_version(registry_root, "intents", model_dir)
    with pytest.raises(KfpNlpError, match="has no 'champion' alias yet; promote a version"):
        registry.resolve(registry_root, "intents")


def test_promotions_move_the_champion_and_keep_the_history(
    registry_root: str, model_dir: Path, other_model_dir: Path
) -> None:
    first = registry.register_version(registry_root, "intents", model_dir)
    registry.set_alias(registry_root, "intents", "champion", first)
    assert registry.resolve(registry_root, "intents") == registry.version_uri(
        registry_root, "intents", first
    )

    second = registry.register_version(registry_root, "intents", other_model_dir)
    record = registry.set_alias(registry_root, "intents", "champion", second)

    assert record["previous"] == first
    assert registry.resolve(registry_root, "intents").endswith(second)
    assert registry.list_versions(registry_root, "intents") == sorted([first, second])
    events = [
        (e["event"], e["version"], e.get("previous"))
        for e in registry.history(registry_root, "intents")
    ]
    assert events == [
        ("registered", first, None),
        ("alias_set", first, None),
        ("registered", second, None),
        ("alias_set", second, first),
    ]


def test_promoting_an_unknown_version_changes_nothing(registry_root: str, model_dir: Path) -> None:
    version = registry.register_version(registry_root, "intents", model_dir)
    registry.set_alias(registry_root, "intents", "champion", version)
    unknown = "20000101-000000-0123456789ab"

    with pytest.raises(
        KfpNlpError, match=f"version {unknown} of model 'intents' is not registered"
    ):
        registry.set_alias(registry_root, "intents", "champion", unknown)
    with pytest.raises(KfpNlpError, match="is not a registry version"):
        registry.set_alias(registry_root, "intents", "champion", "latest")

    assert registry.current_version(registry_root, "intents") == version
    assert len(registry.history(registry_root, "intents")) == 2


def test_a_corrupted_model_is_refused_and_nothing_is_written(
    registry_root: str, model_dir: Path
) -> None:
    (model_dir / "model.safetensors").write_bytes(b"changed after the manifest was written")

    with pytest.raises(KfpNlpError, match="does not match its manifest hash"):
        registry.register_version(registry_root, "intents", model_dir)

    assert uri.list_files(registry_root) == []


def test_an_unfinished_upload_is_not_a_version(registry_root: str, model_dir: Path) -> None:
    partial = registry.version_uri(registry_root, "intents", "20260101-000000-0123456789ab")
    uri.upload_dir(model_dir, partial)  # files without registration.json: an upload that died

    assert registry.list_versions(registry_root, "intents") == []
    with pytest.raises(KfpNlpError, match="is not registered"):
        registry.set_alias(registry_root, "intents", "champion", "20260101-000000-0123456789ab")


def test_concurrent_promotions_lose_no_history(
    registry_root: str, model_dir: Path, other_model_dir: Path
) -> None:
    versions = [
        registry.register_version(registry_root, "intents", model_dir),
        registry.register_version(registry_root, "intents", other_model_dir),
    ]
    errors: list[BaseException] = []

    def promote(i: int) -> None:
        try:
            registry.set_alias(registry_root, "intents", "champion", versions[i % 2])
        except BaseException as exc:  # surfaced below; a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=promote, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    alias_events = [
        e for e in registry.history(registry_root, "intents") if e["event"] == "alias_set"
    ]
    assert len(alias_events) == 8
    assert registry.current_version(registry_root, "intents") in versions


@pytest.mark.parametrize("name", ["Intents", "my model", "-intents", ""])
def test_bad_model_names_are_refused(registry_root: str, model_dir: Path, name: str) -> None:
    with pytest.raises(KfpNlpError, match="is not valid; use 1-63 lowercase letters"):
        registry.register_version(registry_root, name, model_dir)


def test_command_line_round_trip(
    registry_root: str, model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--registry-root", registry_root, "--model-name", "intents"]
    registry_cli(["register", str(model_dir), *common, "--metadata", '{"run": "r1"}'])
    version = capsys.readouterr().out.strip()
    registry_cli(["promote", version, *common])
    assert json.loads(capsys.readouterr().out)["version"] == version
    registry_cli(["resolve", *common])
    assert capsys.readouterr().out.strip() == registry.version_uri(
        registry_root, "intents", version
    )


def test_command_line_bad_input_is_one_line_and_exit_2(registry_root: str) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "components.registry",
            "resolve",
            "--registry-root",
            registry_root,
            "--model-name",
            "intents",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: no model named 'intents' is registered")
    assert result.stderr.count("\n") == 1
