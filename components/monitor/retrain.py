"""At most one retraining per alert window: a claim recorded beside the model in the registry.

A daily monitoring run that keeps finding the same drift must not start a training run every
day while the first one is still in flight or has just released: the first alert in a window
writes `<registry>/<model>/monitoring/retrain-claim.json`; later alerts within `window_hours`
of it find the claim and leave retraining alone.
"""

import json
from datetime import UTC, datetime, timedelta

from components.common import uri
from components.common.errors import KfpNlpError

CLAIM = "monitoring/retrain-claim.json"


def claim_uri(registry_uri: str, model_name: str) -> str:
    return uri.join(registry_uri, model_name, CLAIM)


def claim_retrain(
    drift_detected: bool,
    reason: str,
    data_uri: str,
    registry_uri: str,
    model_name: str,
    window_hours: float,
    now: datetime | None = None,
) -> tuple[bool, str]:
    """Whether this alert starts a retraining run, and why (one line)."""
    if not drift_detected:
        return False, "no drift: no retraining"
    if not data_uri or not registry_uri:
        return False, "drift, but no data_uri and registry_uri to retrain with"
    now = now or datetime.now(UTC)
    location = claim_uri(registry_uri, model_name)
    if uri.exists(location):
        try:
            claimed = datetime.fromisoformat(json.loads(uri.read_bytes(location))["claimed_at"])
        except (ValueError, KeyError) as exc:
            raise KfpNlpError(
                f"{location} is not a retrain claim written by monitoring; delete it"
            ) from exc
        if now - claimed < timedelta(hours=window_hours or 24):
            return False, f"drift, but a retraining already started at {claimed.isoformat()}"
    with uri.atomic_output(location) as staged:
        staged.write_text(json.dumps({"claimed_at": now.isoformat(), "reason": reason}))
    return True, f"retraining: {reason}"
