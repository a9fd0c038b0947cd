"""Every command in the shell blocks of README.md and docs/*.md runs, so a documented command that
stops working fails.

The pages are parsed generically: each ```sh/```bash block is split into commands (backslash
continuations and quoted newlines joined, comments dropped) and each command goes to the first
entry of RUNNERS or SKIPPED whose pattern matches it. A command that matches neither fails the
test: a new block needs a way to run here or a written reason why it cannot.

What runs, and in which form:
- local commands (`python -m components.prepare`, `kfp-nlp compile`, `kfp-nlp ... --help`) run
  verbatim in a scratch folder, on a small table of the sample data where they name one;
- `kfp-nlp run ... --local` runs with `--dry-run` added: the parameters are parsed and typed
  exactly as for a run, but no training starts (a full run takes minutes;
  tests/docs/test_walkthrough.py runs the README's quick start, own-data and monitoring commands
  for real, in order);
- `kfp-nlp submit` and `kfp-nlp schedule` run verbatim against the KFP API stand-in of
  tests/pipeline/remote (a real HTTP server that parses requests into kfp-server-api models and
  the uploaded pipeline spec into the PipelineSpec proto; a real KFP backend is not exercised);
- `kubectl apply -k DIR` is rendered offline with `kubectl kustomize DIR` (no API server here);
- `make demo` and `make test` are checked with `make -n` (what they would run) plus the cheap
  part: `kfp-nlp demo --help`. Running them would train for minutes (demo, which
  tests/docs/test_walkthrough.py runs) or recurse into this very suite (test).
"""

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
PAGES = [README, *sorted((REPO / "docs").glob("*.md"))]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO / "tests" / "pipeline" / "remote"))

from kfp_standin import KfpStandIn, serve  # noqa: E402

pytestmark = pytest.mark.pipeline

SHELL_BLOCK = re.compile(r"^```(?:sh|bash|shell|console)\s*\n(.*?)^```", re.M | re.S)
DOCUMENTED_HOST = "http://localhost:8888"


def shell_commands(text: str) -> list[str]:
    """The commands of every shell block, continuation lines joined, comments removed."""
    commands = []
    for block in SHELL_BLOCK.findall(text):
        pending = ""
        for line in block.splitlines():
            pending = f"{pending} {line.strip()}" if pending else line.strip()
            if pending.endswith("\\"):
                pending = pending[:-1].rstrip()
                continue
            try:
                words = shlex.split(pending, comments=True)
            except ValueError:  # an open quote: the command goes on on the next line
                continue
            if words:
                commands.append(shlex.join(words))
            pending = ""
        assert not pending, f"unterminated command in a shell block: {pending!r}"
    return commands


@dataclass
class Scratch:
    """A folder to run documented commands in, with the repository's paths reachable."""

    path: Path
    env: dict[str, str]

    def run(self, words: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
        done = subprocess.run(
            words, cwd=cwd or self.path, env=self.env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"{shlex.join(words)} failed:\n{done.stdout}\n{done.stderr}"
        return done


def program(words: list[str]) -> list[str]:
    """The words with `.venv/bin/X`, `kfp-nlp` and `python` pointing at this interpreter's."""
    head = words[0]
    if head.startswith(".venv/bin/"):
        head = head.removeprefix(".venv/bin/")
    if head == "python":
        return [sys.executable, *words[1:]]
    if (BIN / head).exists():
        return [str(BIN / head), *words[1:]]
    return words


def run_verbatim(words: list[str], scratch: Scratch) -> None:
    scratch.run(program(words))


def show_help(words: list[str], scratch: Scratch) -> None:
    done = scratch.run(program(words))
    assert done.stdout.startswith("usage: kfp-nlp")


def run_dry(words: list[str], scratch: Scratch) -> None:
    done = scratch.run(program([*words, "--dry-run"]))
    assert '"parameters"' in done.stdout


def run_against_standin(words: list[str], scratch: Scratch) -> None:
    state = KfpStandIn()
    server = serve(state)
    try:
        scratch.run(program([state.url if w == DOCUMENTED_HOST else w for w in words]), REPO)
    finally:
        server.shutdown()
        server.server_close()
    if "--dry-run" not in words:
        assert state.writes(), f"{shlex.join(words)} sent nothing to the KFP API"


def render_kustomization(words: list[str], scratch: Scratch) -> None:
    kubectl = REPO / ".venv-tools" / "bin" / "kubectl"
    if not kubectl.exists():
        reason = f"{kubectl} is missing; install the manifest tools with `make tools`"
        pytest.fail(reason) if os.environ.get("CI") else pytest.skip(reason)
    folder = words[words.index("-k") + 1]
    done = scratch.run([str(kubectl), "kustomize", folder], REPO)
    assert "kind: InferenceService" in done.stdout


def check_make(words: list[str], scratch: Scratch) -> None:
    done = scratch.run(["make", "-n", *words[1:]], REPO)
    if words[1:] == ["demo"]:
        assert ".venv/bin/kfp-nlp demo" in done.stdout
        scratch.run([str(BIN / "kfp-nlp"), "demo", "--help"])
    elif words[1:] == ["image"]:
        # tests/container builds the image with this very script.
        assert "scripts/build-image.sh" in done.stdout
    else:
        assert "pytest" in done.stdout


def compile_elsewhere(words: list[str], scratch: Scratch) -> None:
    """Compile verbatim, but into the scratch folder: the committed YAML must stay as it is."""
    out = scratch.path / "compiled"
    scratch.run(program([*words, "--output-dir", str(out)]))
    training = (out / "text_classifier_training.yaml").read_text()
    if "--image" in words:
        assert f"image: {words[words.index('--image') + 1]}" in training


Runner = Callable[[list[str], Scratch], None]
# The first matching pattern decides how a documented command is run here.
RUNNERS: list[tuple[str, Runner]] = [
    (r"^make (demo|test|image)$", check_make),
    (r"kfp-nlp\b.* --help$", show_help),
    (r"kfp-nlp run .*--local", run_dry),
    (r"kfp-nlp (submit|schedule) ", run_against_standin),
    (r"kfp-nlp compile", compile_elsewhere),
    (r"^kubectl apply -k ", render_kustomization),
    (r"^(\.venv/bin/)?python -m components\.(prepare|sample_data)\b", run_verbatim),
]
# Commands that cannot run here, each with the reason.
SKIPPED: dict[str, str] = {
    r"^kubectl port-forward ": "needs a cluster; the commands after it talk to the KFP API "
    "stand-in instead of the forwarded port",
    r"kfp-nlp serve |^curl ": "the model server and its curl examples are started and called "
    "over HTTP by tests/component/serving, which owns a trained model to serve",
    r"^docker (tag|push) ": "pushing needs a container registry and none is reachable here; "
    "tests/container runs the image under the name make image gives it",
    r"pytest -m soak ": "the soak runs for minutes by design; make test runs one quick round of "
    "it (tests/reliability/test_soak.py)",
}


@pytest.fixture
def scratch(tmp_path: Path, sample_csv: Path) -> Scratch:
    """A folder with the placeholder files the pages name, `.venv` and `manifests` linked."""
    import pandas as pd

    for name in (".venv", "manifests"):
        (tmp_path / name).symlink_to(REPO / name)
    pd.read_csv(sample_csv, nrows=600).to_csv(tmp_path / "data.csv", index=False)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    return Scratch(tmp_path, env)


def documented_commands() -> list[tuple[str, str]]:
    """(page, command) for every command of every page, the page relative to the repository."""
    return [
        (str(page.relative_to(REPO)), command)
        for page in PAGES
        for command in shell_commands(page.read_text())
    ]


def test_blocks_are_parsed_into_commands():
    commands = shell_commands(README.read_text())
    assert any(c.startswith("make demo") for c in commands)
    assert any("kfp-nlp submit text_classifier_training" in c for c in commands)
    # A JSON body spread over two lines inside quotes is one command.
    serving = shell_commands((REPO / "docs" / "serving.md").read_text())
    assert any(c.startswith("curl") and "/infer" in c for c in serving)


@pytest.mark.parametrize(("page", "command"), documented_commands())
def test_documented_command_runs(page: str, command: str, scratch: Scratch):
    for pattern, reason in SKIPPED.items():
        if re.search(pattern, command):
            pytest.skip(f"not runnable here: {reason}")
    words = shlex.split(command)
    for pattern, runner in RUNNERS:
        if re.search(pattern, command):
            runner(words, scratch)
            return
    pytest.fail(
        f"no way to run this command of {page} here: {command!r}; add it to RUNNERS or SKIPPED "
        "in tests/docs/test_readme.py"
    )
