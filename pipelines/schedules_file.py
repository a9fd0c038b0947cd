"""The schedules file that `kfp-nlp schedule` applies: reading and checking it, offline.

The file is a list of schedules:

    - name: retrain-intents              # the recurring run's name, unique
      pipeline: text_classifier_training  # name in pipelines/compiled/, or a .yaml path
      cron: "0 3 * * 1"                  # 5 fields (minute first) or KFP's 6 (seconds first)
      timezone: UTC                      # the timezone the cluster's scheduler uses
      experiment: intents                # created if missing (default: Default)
      enabled: true                      # false keeps the recurring run, paused
      params: {data_uri: s3://b/k.csv}   # checked against the pipeline's parameter types
      service_account: kfp-nlp-runner    # service account the runs' pods use (optional)

Every problem is found before anything is sent to a cluster, as a one-line error naming the file,
the schedule and what to fix. Cron is checked with croniter and written in the six-field form
(seconds first) that KFP's recurring-run API takes; only what KFP's cron accepts passes: numbers,
month and weekday names, `*`, `?` (day fields), ranges, lists and steps.
"""

import re
import zoneinfo
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from croniter import croniter

from components.common.errors import KfpNlpError
from pipelines.kfp_remote import PipelinePackage, load_package
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
# Cron's macros in KFP's six fields.
_MACROS = {
    "@yearly": "0 0 0 1 1 *",
    "@annually": "0 0 0 1 1 *",
    "@monthly": "0 0 0 1 * *",
    "@weekly": "0 0 0 * * 0",
    "@daily": "0 0 0 * * *",
    "@midnight": "0 0 0 * * *",
    "@hourly": "0 0 * * * *",
}
# KFP's six fields (seconds first): name, what a valid entry holds, and the one that allows all.
_FIELDS = (
    ("second", "0-59", "*"),
    ("minute", "0-59", "*"),
    ("hour", "0-23", "*"),
    ("day of month", "1-31 or ?", "?"),
    ("month", "1-12 or JAN-DEC", "*"),
    ("day of week", "0-6 or SUN-SAT or ?", "*"),
)
# What KFP's cron takes beyond numbers: names in the month and weekday fields only, no L/W/#/H.
_SYNTAX = re.compile(r"^[0-9*,/-]+$|^\?$")
_NAMED_SYNTAX = re.compile(r"^[0-9A-Za-z*?,/-]+$")


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


def _valid(fields: list[str]) -> bool:
    return croniter.is_valid(" ".join(fields), second_at_beginning=True)


def _check_entry(cron: str, index: int, value: str) -> None:
    """Refuse field `index` of `cron` when it is `value`, with the field named."""
    name, holds, _ = _FIELDS[index]
    syntax = _NAMED_SYNTAX if name in ("month", "day of week") else _SYNTAX
    probe = [f[2] for f in _FIELDS]
    for part in value.split(","):
        probe[index] = part
        if not (syntax.match(part) and (part != "?" or "?" in holds) and _valid(probe)):
            raise KfpNlpError(
                f"cron {cron!r}: {part!r} is not a valid {name} ({holds}); use *, N, N-M, "
                "lists with ',' and steps with '/', e.g. '0 3 * * 1'"
            )


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
    for index, value in enumerate(fields):
        _check_entry(str(cron), index, value)
    if not _valid(fields):
        raise KfpNlpError(
            f"cron {cron!r} is not a valid schedule (e.g. '?' in both day fields); fix the schedule"
        )
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
