"""`kfp-nlp schedule`: declarative recurring runs on a Kubeflow Pipelines endpoint.

    kfp-nlp schedule --host http://localhost:8888 manifests/schedules/schedules.yaml
    kfp-nlp schedule --host ... --dry-run manifests/schedules/schedules.yaml

The file is a list of schedules:

    - name: retrain-intents              # the recurring run's name, unique
      pipeline: text_classifier_training  # name in pipelines/compiled/, or a .yaml path
      cron: "0 3 * * 1"                  # 5 fields (minute first) or KFP's 6 (seconds first)
      timezone: UTC                      # the timezone the cluster's scheduler uses
      experiment: intents                # created if missing (default: Default)
      enabled: true                      # false keeps the recurring run, paused
      params: {data_uri: s3://b/k.csv}   # checked against the pipeline's parameter types
      service_account: kfp-nlp-runner    # service account the runs' pods use (optional)

Applying it is idempotent. The pipeline is uploaded as a version named after the package version
and the compiled file's content hash, only if that version is not there yet. Each recurring run is
created with max_concurrency 1 and no catch-up. A schedule that matches its recurring run makes
no write call at all; one that only changed `enabled` is enabled or disabled in place. Anything
else cannot be edited in place (the v2beta1 API has no update for recurring runs), so the new
recurring run is created first and the old one deleted after it, so a failure never leaves a
schedule with no recurring run. `--prune` also deletes recurring runs this command created
earlier whose schedule is no longer in the file.

KFP's API has no timezone field: cron is evaluated in the timezone of the cluster's
scheduledworkflow controller (its CRON_SCHEDULE_TIMEZONE, UTC unless changed). Each schedule names
its timezone explicitly and it must equal `--cluster-timezone`, so a cron written for another zone
is refused rather than silently shifted.
"""

import argparse
import json
import re
import zoneinfo
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kfp
import yaml
from kfp_server_api import V2beta1RecurringRun

from components import __version__
from components.common.errors import KfpNlpError
from pipelines.kfp_remote import (
    PipelinePackage,
    add_connection_arguments,
    connect,
    kfp_errors,
    load_package,
)
from pipelines.params import typed_parameters

MANAGED = "managed by kfp-nlp schedule"
_KEYS = {
    "name",
    "pipeline",
    "cron",
    "timezone",
    "experiment",
    "enabled",
    "params",
    "service_account",
}
_REQUIRED = ("name", "pipeline", "cron", "timezone")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_MACROS = {
    "@yearly": "0 0 0 1 1 *",
    "@annually": "0 0 0 1 1 *",
    "@monthly": "0 0 0 1 * *",
    "@weekly": "0 0 0 * * 0",
    "@daily": "0 0 0 * * *",
    "@midnight": "0 0 0 * * *",
    "@hourly": "0 0 * * * *",
}
_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
# (field, lowest, highest, names) for KFP's six fields, seconds first.
_FIELDS = (
    ("second", 0, 59, []),
    ("minute", 0, 59, []),
    ("hour", 0, 23, []),
    ("day of month", 1, 31, []),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 6, _DAYS),
)
_PART = re.compile(r"^(?:(\*|\?)|([0-9A-Za-z]+)(?:-([0-9A-Za-z]+))?)(?:/(\d+))?$")


@dataclass(frozen=True)
class Schedule:
    """One recurring run as declared in the schedules file (cron already in KFP's form)."""

    name: str
    package: PipelinePackage
    cron: str
    timezone: str
    experiment: str
    enabled: bool
    params: dict[str, Any]
    service_account: str

    @property
    def description(self) -> str:
        return f"{MANAGED}; timezone {self.timezone}; pipeline {self.package.name}"


@dataclass(frozen=True)
class Action:
    """What applying a schedule did (or, with --dry-run, would do)."""

    kind: str
    target: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind:<10} {self.target}  {self.detail}".rstrip()


def _cron_value(text: str, low: int, high: int, names: list[str], field: str, cron: str) -> int:
    if text.upper() in names:
        return names.index(text.upper()) + low
    if not text.isdigit() or not low <= int(text) <= high:
        raise KfpNlpError(
            f"cron {cron!r}: {text!r} is not a valid {field} ({low}-{high}); fix the schedule"
        )
    return int(text)


def normalize_cron(cron: str) -> str:
    """`cron` in KFP's six-field form (seconds first): 5-field crons get second 0."""
    text = " ".join(str(cron).split())
    fields = _MACROS.get(text.lower(), text).split()
    if len(fields) == 5:
        fields = ["0", *fields]
    if len(fields) != 6:
        raise KfpNlpError(
            f"cron {cron!r} has {len(fields)} fields; write 5 (minute hour day month weekday) "
            "or 6 (second first), e.g. '0 3 * * 1'"
        )
    for value, (field, low, high, names) in zip(fields, _FIELDS, strict=True):
        for part in value.split(","):
            match = _PART.match(part)
            if not match or (
                match.group(1) == "?" and field not in ("day of month", "day of week")
            ):
                raise KfpNlpError(
                    f"cron {cron!r}: {part!r} is not a valid {field} entry; use *, N, N-M, "
                    "lists with ',' and steps with '/'"
                )
            for bound in (match.group(2), match.group(3)):
                if bound is not None:
                    _cron_value(bound, low, high, names, field, cron)
    return " ".join(fields)


def _schedule(entry: Any, where: str, compiled_dir: Path, cluster_timezone: str) -> Schedule:
    if not isinstance(entry, dict):
        raise KfpNlpError(f"{where} is not a mapping; write each schedule as name: ..., cron: ...")
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise KfpNlpError(
            f"{where} has unknown key {unknown[0]!r}; allowed keys: {', '.join(sorted(_KEYS))}"
        )
    missing = [key for key in _REQUIRED if not entry.get(key)]
    if missing:
        raise KfpNlpError(f"{where} has no {missing[0]!r}; every schedule needs {_REQUIRED}")
    name = str(entry["name"])
    where = f"{where} ({name})"
    if not _NAME.match(name):
        raise KfpNlpError(f"{where}: the name may hold letters, digits, '.', '_' and '-' only")
    timezone = str(entry["timezone"])
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise KfpNlpError(
            f"{where}: timezone {timezone!r} is unknown; use an IANA name such as UTC"
        ) from None
    if timezone != cluster_timezone:
        raise KfpNlpError(
            f"{where}: timezone {timezone} differs from the cluster scheduler's "
            f"{cluster_timezone}; KFP evaluates cron in the scheduler's timezone, so write the "
            "cron for it or pass --cluster-timezone with the scheduler's CRON_SCHEDULE_TIMEZONE"
        )
    enabled = entry.get("enabled", True)
    params = entry.get("params") or {}
    if not isinstance(enabled, bool) or not isinstance(params, dict):
        raise KfpNlpError(f"{where}: enabled must be true or false and params a mapping")
    package = load_package(str(entry["pipeline"]), compiled_dir)
    return Schedule(
        name=name,
        package=package,
        cron=normalize_cron(entry["cron"]),
        timezone=timezone,
        experiment=str(entry.get("experiment") or "Default"),
        enabled=enabled,
        params=typed_parameters(package.parameters, params, package.name, where),
        service_account=str(entry.get("service_account") or ""),
    )


def load_schedules(path: Path, compiled_dir: Path, cluster_timezone: str) -> list[Schedule]:
    """Every schedule in the file at `path`, validated; the first problem is a KfpNlpError."""
    try:
        entries = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise KfpNlpError(f"schedules file {path} does not exist; check the path") from None
    except yaml.YAMLError as exc:
        raise KfpNlpError(f"{path} is not valid YAML ({type(exc).__name__}); fix it") from None
    if not isinstance(entries, list):
        raise KfpNlpError(f"{path} must hold a YAML list of schedules (- name: ...)")
    schedules = [
        _schedule(entry, f"{path}: schedule #{i + 1}", compiled_dir, cluster_timezone)
        for i, entry in enumerate(entries)
    ]
    names = [s.name for s in schedules]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise KfpNlpError(f"{path}: schedule name {duplicates[0]!r} is used twice; rename one")
    return schedules


def _equals_filter(name: str) -> str:
    return json.dumps(
        {"predicates": [{"operation": "EQUALS", "key": "display_name", "stringValue": name}]}
    )


def _pages(fetch: Callable[[str], Any], field: str) -> Iterator[Any]:
    token = ""
    while True:
        page = fetch(token)
        yield from getattr(page, field) or []
        token = page.next_page_token or ""
        if not token:
            return


def _canonical(value: Any) -> str:
    """Parameters as the API echoes them back: integral floats come back as integers."""

    def plain(v: Any) -> Any:
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, list):
            return [plain(x) for x in v]
        return v

    return json.dumps(plain(value), sort_keys=True)


class Applier:
    """Brings the recurring runs on one KFP endpoint in line with a list of schedules."""

    def __init__(self, client: kfp.Client, namespace: str | None, dry_run: bool) -> None:
        self.client = client
        self.namespace = namespace
        self.dry_run = dry_run
        self.actions: list[Action] = []
        self._versions: dict[Path, tuple[str, str] | None] = {}
        self._experiments: dict[str, str | None] = {}

    def _do(self, action: Action, call: Callable[[], Any] | None = None) -> Any:
        """Record and print `action`, then make its call unless this is a dry run."""
        self.actions.append(action)
        print(action)
        return None if self.dry_run or call is None else call()

    def pipeline_version(self, package: PipelinePackage) -> tuple[str, str] | None:
        """(pipeline id, version id) of the package, uploaded if missing (None in a dry run)."""
        if package.path in self._versions:
            return self._versions[package.path]
        version_name = f"{__version__}-{package.sha256[:12]}"
        target = f"pipeline {package.name} version {version_name}"
        pipeline_id = self.client.get_pipeline_id(package.name)
        if pipeline_id is None:
            pipeline = self._do(
                Action("upload", f"pipeline {package.name}", "(new pipeline)"),
                lambda: self.client.upload_pipeline(
                    str(package.path),
                    pipeline_name=package.name,
                    description=MANAGED,
                    namespace=self.namespace,
                ),
            )
            pipeline_id = pipeline.pipeline_id if pipeline else None
        else:
            found = self.client.list_pipeline_versions(
                pipeline_id, page_size=1, filter=_equals_filter(version_name)
            ).pipeline_versions
            if found:
                self._versions[package.path] = (pipeline_id, found[0].pipeline_version_id)
                return self._versions[package.path]
        version = self._do(
            Action("upload", target, ""),
            lambda: self.client.upload_pipeline_version(
                str(package.path), version_name, pipeline_id=pipeline_id, description=MANAGED
            ),
        )
        self._versions[package.path] = (
            (pipeline_id, version.pipeline_version_id) if version else None
        )
        return self._versions[package.path]

    def experiment_id(self, name: str) -> str | None:
        """The experiment's id, created if missing (None in a dry run that would create it)."""
        if name not in self._experiments:
            try:
                found = self.client.get_experiment(experiment_name=name, namespace=self.namespace)
                self._experiments[name] = found.experiment_id
            except ValueError:  # the client's "No experiment is found with name ..."
                created = self._do(
                    Action("create", f"experiment {name}", ""),
                    lambda: self.client.create_experiment(name, namespace=self.namespace),
                )
                self._experiments[name] = created.experiment_id if created else None
        return self._experiments[name]

    def _existing(self, schedule: Schedule, experiment_id: str | None) -> list[V2beta1RecurringRun]:
        """The schedule's recurring runs: same name in its experiment, or made by this command
        in another experiment (the schedule moved)."""
        runs = _pages(
            lambda token: self.client.list_recurring_runs(
                page_token=token,
                page_size=50,
                namespace=self.namespace,
                filter=_equals_filter(schedule.name),
            ),
            "recurring_runs",
        )
        return [
            run
            for run in runs
            if run.experiment_id == experiment_id or (run.description or "").startswith(MANAGED)
        ]

    @staticmethod
    def _same_definition(
        run: V2beta1RecurringRun, schedule: Schedule, version: tuple[str, str], experiment_id: str
    ) -> bool:
        reference = run.pipeline_version_reference
        cron = run.trigger.cron_schedule.cron if run.trigger and run.trigger.cron_schedule else ""
        parameters = run.runtime_config.parameters if run.runtime_config else None
        return (
            run.experiment_id == experiment_id
            and " ".join(cron.split()) == schedule.cron
            and reference is not None
            and (reference.pipeline_id, reference.pipeline_version_id) == version
            and _canonical(parameters or {}) == _canonical(schedule.params)
            and int(run.max_concurrency or 0) == 1
            and bool(run.no_catchup)
            and (run.description or "") == schedule.description
            and (run.service_account or "") == schedule.service_account
        )

    def apply(self, schedule: Schedule) -> None:
        version = self.pipeline_version(schedule.package)
        experiment_id = self.experiment_id(schedule.experiment)
        existing = self._existing(schedule, experiment_id)
        mode = "ENABLE" if schedule.enabled else "DISABLE"
        if (
            version is not None
            and experiment_id is not None
            and len(existing) == 1
            and self._same_definition(existing[0], schedule, version, experiment_id)
        ):
            run = existing[0]
            current = run.mode or {"ENABLED": "ENABLE", "DISABLED": "DISABLE"}.get(run.status)
            if current == mode:
                self._do(Action("unchanged", schedule.name, ""))
            elif schedule.enabled:
                self._do(
                    Action("enable", schedule.name, ""),
                    lambda: self.client.enable_recurring_run(run.recurring_run_id),
                )
            else:
                self._do(
                    Action("disable", schedule.name, ""),
                    lambda: self.client.disable_recurring_run(run.recurring_run_id),
                )
            return
        detail = f"cron '{schedule.cron}' ({schedule.timezone}), {schedule.package.name}"
        kind = "replace" if existing else "create"
        self._do(
            Action(kind, schedule.name, detail),
            lambda: self._create(schedule, version, experiment_id),
        )
        for old in existing:
            self._do(
                Action("delete", schedule.name, f"old recurring run {old.recurring_run_id}"),
                lambda old=old: self.client.delete_recurring_run(old.recurring_run_id),
            )

    def _create(
        self, schedule: Schedule, version: tuple[str, str] | None, experiment_id: str | None
    ) -> None:
        assert version and experiment_id  # only missing in a dry run, which creates nothing
        self.client.create_recurring_run(
            experiment_id=experiment_id,
            job_name=schedule.name,
            description=schedule.description,
            cron_expression=schedule.cron,
            max_concurrency=1,
            no_catchup=True,
            params=schedule.params,
            pipeline_id=version[0],
            version_id=version[1],
            enabled=schedule.enabled,
            service_account=schedule.service_account or None,
        )

    def prune(self, keep: set[str]) -> None:
        """Delete recurring runs this command created whose schedule left the file."""
        runs = _pages(
            lambda token: self.client.list_recurring_runs(
                page_token=token, page_size=50, namespace=self.namespace
            ),
            "recurring_runs",
        )
        for run in list(runs):
            if (run.description or "").startswith(MANAGED) and run.display_name not in keep:
                self._do(
                    Action("delete", run.display_name, "no longer in the schedules file"),
                    lambda run=run: self.client.delete_recurring_run(run.recurring_run_id),
                )


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `schedule` subcommand to an argparse subparsers object; it runs `run(args)`."""
    parser = subparsers.add_parser(
        "schedule",
        help="create or update recurring runs from a schedules file",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("schedules", type=Path, help="schedules YAML file")
    add_connection_arguments(parser)
    parser.add_argument(
        "--cluster-timezone",
        default="UTC",
        help="timezone the cluster's scheduledworkflow controller evaluates cron in "
        "(its CRON_SCHEDULE_TIMEZONE; default: %(default)s)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    parser.add_argument(
        "--prune",
        action="store_true",
        help="delete recurring runs this command created that are no longer in the file",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> list[Action]:
    """Apply the schedules file; returns what was done (or planned, with --dry-run)."""
    schedules = load_schedules(args.schedules, args.compiled_dir, args.cluster_timezone)
    client = connect(args.host, args.namespace)
    applier = Applier(client, args.namespace, args.dry_run)
    with kfp_errors(args.host):
        for schedule in schedules:
            applier.apply(schedule)
        if args.prune:
            applier.prune({s.name for s in schedules})
    return applier.actions
