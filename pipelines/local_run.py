"""Run a pipeline on this machine with kfp.local: one line per step, full logs in files.

    run = run_pipeline(text_classifier_training, {"data_uri": ...}, Path("local_outputs"))
    run.outputs["model"].path, run.steps, run.log

What comes from kfp.local itself and what is kept hand-written here, and why:
- Results come from the runner: the pipeline task's outputs (parameters, and artifacts with their
  local paths and metadata), and for the steps whose outputs a pipeline does not return (the
  release branch), the KFP `ExecutorOutput` file the runner keeps in each task's folder under the
  pipeline root (`step_outputs`).
- Which step is running and how it ended has no API: kfp.local only logs it ("Executing task
  'x'", "Task 'x' finished with status SUCCESS") through the root logger, whose handlers it
  replaces for every task. A `logging.Filter` on the root logger stays in place through that, so
  `StepMonitor` reads those records there; only their text says which task, so two small regexes
  remain.
- A step's own output (its log, a refusal's one-line error, a crash's traceback, fine-tuning's
  step and ETA) reaches this process only as the lines that kfp.local's SubprocessRunner
  `print()`s to `sys.stdout`; there is no other channel. So `sys.stdout`, and only it, is
  redirected with `contextlib.redirect_stdout` for the run, into the run's log file and each
  step's own file; the terminal (stderr) gets the step lines. The runner's warnings (settings
  it ignores locally) go to the same log through `warnings.showwarning`.
"""

import contextlib
import io
import json
import logging
import re
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from components.common.errors import KfpNlpError

# Seconds between progress lines when stderr is not a terminal (CI, the KFP log view).
PROGRESS_SECONDS = 30.0
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_TASK_START = re.compile(r"^Executing task '([^']+)'")
_TASK_END = re.compile(r"^Task '([^']+)' finished with status (\w+)")
_TRAIN_STEP = re.compile(r"\[finetune\] step (\d+)/(\d+) .*?([\d.]+) samples/s ETA (\S+)\s*$")
# How a step reports bad input: our one-line `error: ...`, or KfpNlpError's traceback line.
_INPUT_ERROR = re.compile(r"^\s*(?:error: |(?:[\w.]+\.)?KfpNlpError: )(.+)$")
_EXCEPTION = re.compile(r"^\s*((?:[\w.]+\.)?\w*(?:Error|Exception|Interrupt)\b.*)$")


def duration(seconds: float) -> str:
    """`75` as `1m 15s`, `9` as `9s`."""
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


@dataclass
class Step:
    """One task of a local run, as the runner reported it."""

    name: str
    log: Path
    started: float = field(default_factory=time.monotonic)
    state: str = "running"
    seconds: float = 0.0
    error: str = ""
    bad_input: bool = False
    progress: str = ""
    shown: float = field(default_factory=time.monotonic)

    def status(self) -> str:
        """`running  1m 05s  step 40/120 (33%)  51.2 samples/s  ETA 2m 10s`, or how it ended."""
        if self.state != "running":
            return f"{self.state}  {duration(self.seconds)}"
        elapsed = duration(time.monotonic() - self.started)
        return f"running  {elapsed}  {self.progress}".rstrip()


class StepFailed(KfpNlpError):
    """A task of a local run failed: which one, its one-line error, and where its log is."""

    def __init__(self, step: Step):
        where = f"its log: {step.log}"
        super().__init__(f"step {step.name} failed: {step.error or 'see its log'}; {where}")
        self.step = step


class _Lines(io.TextIOBase):
    """The text stream that stands in for sys.stdout: whole lines go to `on_line`."""

    def __init__(self, on_line: Any, echo: TextIO | None):
        super().__init__()
        self._on_line = on_line
        self._echo = echo
        self._partial = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if self._echo is not None:
            self._echo.write(text)
        lines = (self._partial + _ANSI.sub("", text)).split("\n")
        self._partial = lines.pop()
        for line in lines:
            self._on_line(line)
        return len(text)

    def close(self) -> None:
        if self._partial:
            self._on_line(self._partial)
            self._partial = ""
        super().close()


class StepMonitor(logging.Filter):
    """Follows a kfp.local run: steps from the runner's log records, their output from stdout.

    All output goes to `folder/run.log` and each step's part also to `folder/<step>.log`. The
    terminal gets one line per finished step (name, state, elapsed); while a step runs, a live
    line on a terminal, or a progress line every `progress_every` seconds otherwise (elapsed, and
    step, percent, samples/s and ETA where the step reports them). `verbose` streams everything.
    """

    def __init__(self, folder: Path, terminal: TextIO, verbose: bool, progress_every: float):
        super().__init__()
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.path = folder / "run.log"
        self.terminal = terminal
        self.verbose = verbose
        self.live = not verbose and terminal.isatty()
        self.steps: list[Step] = []
        self.output = _Lines(self._line, terminal if verbose else None)
        self._file = self.path.open("a", encoding="utf-8", buffering=1)
        self._step_file: TextIO | None = None
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self.progress_every = progress_every
        self._ticker = threading.Thread(target=self._tick, daemon=True)
        if not verbose:
            self._ticker.start()

    @property
    def running(self) -> Step | None:
        step = self.steps[-1] if self.steps else None
        return step if step is not None and step.state == "running" else None

    def filter(self, record: logging.LogRecord) -> bool:
        """Note a step starting or ending from kfp.local's record; the record itself goes on."""
        message = _ANSI.sub("", record.getMessage())
        with self._lock:
            if (start := _TASK_START.match(message)) is not None:
                self._end_step_file()
                step = Step(start[1], self.folder / f"{start[1]}.log")
                self.steps.append(step)
                # A retried step appends to the same file.
                self._step_file = step.log.open("a", encoding="utf-8", buffering=1)
                self._show(step)
            elif (end := _TASK_END.match(message)) is not None:
                step = self.running
                if step is not None and step.name == end[1]:
                    self._finish(step, "done" if end[2] == "SUCCESS" else "failed")
        return True

    def warning(
        self,
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        """`warnings.showwarning` for the run: a warning is a line of the log, not the terminal."""
        self.output.write(warnings.formatwarning(message, category, filename, lineno, line))

    def fail_running(self) -> Step | None:
        """The step a failed run ended in, marked failed (the runner may not have logged it)."""
        with self._lock:
            step = self.running
            if step is not None:
                self._finish(step, "failed")
            return next((s for s in reversed(self.steps) if s.state == "failed"), None)

    def close(self) -> None:
        self._stop.set()
        if self._ticker.is_alive():
            self._ticker.join()
        with self._lock:
            self.output.close()
            self._end_step_file()
            self._file.close()

    def _finish(self, step: Step, state: str) -> None:
        step.seconds = time.monotonic() - step.started
        step.state = state
        self._show(step, final=True)
        self._end_step_file()

    def _end_step_file(self) -> None:
        if self._step_file is not None:
            self._step_file.close()
            self._step_file = None

    def _line(self, line: str) -> None:
        with self._lock:
            self._file.write(line + "\n")
            if self._step_file is not None:
                self._step_file.write(line + "\n")
            step = self.running
            if step is None:
                return
            if (error := _INPUT_ERROR.match(line)) is not None:
                step.error, step.bad_input = error[1].strip(), True
            elif not step.bad_input and (crash := _EXCEPTION.match(line)) is not None:
                step.error = crash[1].strip()
            elif (training := _TRAIN_STEP.search(line)) is not None:
                done, total = int(training[1]), int(training[2])
                step.progress = (
                    f"step {done}/{total} ({100 * done // max(1, total)}%)  "
                    f"{training[3]} samples/s  ETA {training[4]}"
                )
                if self.live:
                    self._show(step)

    def _tick(self) -> None:
        """Each second: refresh a terminal's live line; otherwise print a line for a step
        that has run `progress_every` seconds since it started or was last shown."""
        while not self._stop.wait(min(1.0, self.progress_every)):
            with self._lock:
                step = self.running
                if step is not None and (
                    self.live or time.monotonic() - step.shown >= self.progress_every
                ):
                    step.shown = time.monotonic()
                    self._show(step, tick=True)

    def _show(self, step: Step, final: bool = False, tick: bool = False) -> None:
        """A terminal's live line follows every change; other output gets a line per finished
        step and one per tick of the progress interval."""
        if self.verbose:
            return
        text = f"  {step.name:<28} {step.status()}"
        if self.live:
            self.terminal.write(f"\r\x1b[K{text}" + ("\n" if final else ""))
        elif final or tick:
            self.terminal.write(text + "\n")
        self.terminal.flush()


@dataclass
class LocalRun:
    """What a local run returned: the pipeline's outputs, its steps, its log and its folder."""

    outputs: dict[str, Any]
    steps: list[Step]
    log: Path
    folder: Path | None


def _run_folder(root: Path, outputs: dict[str, Any]) -> Path | None:
    """The run's folder under the pipeline root, from where the runner put its artifacts."""
    for value in outputs.values():
        if hasattr(value, "path") and Path(value.path).is_relative_to(root):
            return root / Path(value.path).relative_to(root).parts[0]
    return None


def step_outputs(run: LocalRun, component: str) -> dict[str, Any] | None:
    """A step's outputs as the runner recorded them (`parameters`, `artifacts` by name with
    their `path` and `metadata`), or None when the step did not run."""
    if run.folder is None:
        return None
    path = run.folder / component / "executor_output.json"
    if not path.is_file():
        return None
    recorded = json.loads(path.read_text())
    artifacts = {
        name: {"path": first["uri"], "metadata": first.get("metadata", {})}
        for name, entry in recorded.get("artifacts", {}).items()
        for first in entry.get("artifacts", [])[:1]
    }
    return {"parameters": recorded.get("parameterValues", {}), "artifacts": artifacts}


def run_pipeline(
    pipeline: Any,
    params: dict[str, Any],
    workdir: Path,
    verbose: bool = False,
    progress_every: float = PROGRESS_SECONDS,
) -> LocalRun:
    """Run `pipeline` with kfp.local's subprocess runner, one line per step on stderr.

    Every step's full output is kept under `workdir/logs/` (and streamed to stderr when
    `verbose`); artifacts go under `workdir/runs/`. A failed step raises StepFailed.
    """
    from kfp import local

    root = (workdir / "runs").resolve()
    root.mkdir(parents=True, exist_ok=True)
    folder = (workdir / "logs" / f"{pipeline.name}-{time.strftime('%Y%m%d-%H%M%S')}").resolve()
    monitor = StepMonitor(folder, sys.stderr, verbose, progress_every)
    print(f"{pipeline.name}: one line per step; full log: {monitor.path}", file=sys.stderr)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root))
    runner_log = logging.getLogger()
    runner_log.addFilter(monitor)
    try:
        with contextlib.redirect_stdout(monitor.output), warnings.catch_warnings():
            # The runner's notes (settings it ignores, the image it does not use) go to the log.
            warnings.showwarning = monitor.warning
            task = pipeline(**params)
    except RuntimeError as exc:
        failed = monitor.fail_running()
        if failed is not None:
            raise StepFailed(failed) from exc
        raise KfpNlpError(f"the local run failed ({exc}); full log: {monitor.path}") from exc
    finally:
        runner_log.removeFilter(monitor)
        monitor.close()
    outputs = dict(task.outputs)
    return LocalRun(outputs, monitor.steps, monitor.path, _run_folder(root, outputs))
