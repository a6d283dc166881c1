"""Where the shared specs and corpora live, and what to do when they are absent.

`../shared/` sits beside the project in development and CI but not in a user's clone: tests
that read it skip with a reason when it is missing, and fail when it is missing under CI=true.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DIR = Path(
    os.environ.get("CONNECTOR_SHARED_DIR", Path(__file__).resolve().parents[1].parent / "shared")
)


def shared_path(*parts: str) -> Path:
    """Path inside the shared folder; skip (or fail under CI) when it is not there."""
    path = SHARED_DIR.joinpath(*parts)
    if not path.exists():
        reason = f"shared file {'/'.join(parts)} is absent (expected beside the project)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason + "; CI must have it")
        pytest.skip(reason)
    return path
