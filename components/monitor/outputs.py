"""Writing a monitoring outcome: the HTML report and the summary JSON (atomically)."""

import json

from components.common import uri
from components.monitor.monitor import summary
from components.monitor.report import render_report
from components.monitor.result import Monitoring


def write_report(result: Monitoring, report_uri: str) -> None:
    """The HTML report at `report_uri` (a local path or s3://), whole or not at all."""
    with uri.atomic_output(report_uri) as staged:
        staged.write_text(render_report(result), encoding="utf-8")


def summary_json(result: Monitoring, report_uri: str) -> str:
    """The one-object JSON summary, as the CLI prints it."""
    return json.dumps(summary(result, report_uri), sort_keys=True)
