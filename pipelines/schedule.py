"""`kfp-nlp schedule`: declarative recurring runs on a Kubeflow Pipelines endpoint.

    kfp-nlp schedule --host http://localhost:8888 manifests/schedules/schedules.yaml
    kfp-nlp schedule --host ... --dry-run manifests/schedules/schedules.yaml

The file's format, and how it is checked, is in pipelines/schedules_file.py (`kfp-nlp schedule
--help` shows it too).

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

`--dry-run` with an endpoint prints what applying would create, replace, enable, disable, delete
or leave alone. Without one (no --host, no $KF_PIPELINES_ENDPOINT) it checks the file offline and
prints what it declares, which is what applying would create or update; it says so.
"""

import argparse
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kfp
from kfp_server_api import V2beta1RecurringRun

from components import __version__
from pipelines import schedules_file
from pipelines.kfp_remote import PipelinePackage, add_connection_arguments, connect, kfp_errors
from pipelines.schedules_file import MANAGED, Schedule, load_schedules


@dataclass(frozen=True)
class Action:
    """What applying a schedule did (or, with --dry-run, would do)."""

    kind: str
    target: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind:<10} {self.target}  {self.detail}".rstrip()


def version_name(package: PipelinePackage) -> str:
    """The pipeline version a compiled package is uploaded as: package version + content hash."""
    return f"{__version__}-{package.sha256[:12]}"


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
        version = version_name(package)
        target = f"pipeline {package.name} version {version}"
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
                pipeline_id, page_size=1, filter=_equals_filter(version)
            ).pipeline_versions
            if found:
                self._versions[package.path] = (pipeline_id, found[0].pipeline_version_id)
                return self._versions[package.path]
        uploaded = self._do(
            Action("upload", target, ""),
            lambda: self.client.upload_pipeline_version(
                str(package.path), version, pipeline_id=pipeline_id, description=MANAGED
            ),
        )
        self._versions[package.path] = (
            (pipeline_id, uploaded.pipeline_version_id) if uploaded else None
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
        epilog=schedules_file.__doc__,
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
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan, change nothing; without --host, check the file offline",
    )
    parser.add_argument(
        "--prune",
        action="store_true",
        help="delete recurring runs this command created that are no longer in the file",
    )
    parser.set_defaults(func=run)
    return parser


OFFLINE = (
    "offline: no KFP API (--host or $KF_PIPELINES_ENDPOINT), so this lists what the file "
    "declares: what applying would create, or update where the cluster already has it; "
    "give --host to see what differs from the cluster{prune}"
)


def offline_plan(schedules: list[Schedule], prune: bool) -> list[Action]:
    """What the file declares, without a KFP API to compare it with."""
    print(OFFLINE.format(prune=" and what --prune would delete" if prune else ""))
    actions = []
    for schedule in schedules:
        state = "enabled" if schedule.enabled else "paused"
        params = json.dumps(schedule.params, sort_keys=True)
        detail = (
            f"cron '{schedule.cron}' ({schedule.timezone}), {schedule.package.name} version "
            f"{version_name(schedule.package)}, experiment {schedule.experiment}, {state}, "
            f"params {params}"
        )
        actions.append(Action("apply", schedule.name, detail))
        print(actions[-1])
    return actions


def run(args: argparse.Namespace) -> list[Action]:
    """Apply the schedules file; returns what was done (or planned, with --dry-run)."""
    schedules = load_schedules(args.schedules, args.compiled_dir, args.cluster_timezone)
    if args.dry_run and not args.host:
        return offline_plan(schedules, args.prune)
    client = connect(args.host, args.namespace)
    applier = Applier(client, args.namespace, args.dry_run)
    with kfp_errors(args.host):
        for schedule in schedules:
            applier.apply(schedule)
        if args.prune:
            applier.prune({s.name for s in schedules})
    return applier.actions
