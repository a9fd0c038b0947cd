"""Runs the snapshot for the KFP component and logs what pinned the content (no kfp import)."""

from components.snapshot.snapshot import describe, fingerprint, snapshot


def run_component(location: str) -> str:
    """The fingerprint of `location` ("" when empty), with one log line saying what it pins."""
    if not location:
        print("snapshot: no location given; nothing to pin")
        return ""
    identity = snapshot(location)
    value = fingerprint(identity)
    print(f"snapshot: {describe(identity)} -> {value}")
    return value
