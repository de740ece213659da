"""The one way code finds files under resources/ (never relative to the cwd)."""
from __future__ import annotations

import os
from pathlib import Path

_DEFAULT = Path(__file__).resolve().parents[2] / "resources"


def resources_dir() -> Path:
    override = os.environ.get("KETAMON_RESOURCES")
    return Path(override) if override else _DEFAULT


def resource(*parts: str) -> Path:
    path = resources_dir().joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"ketamon resource missing: {path}")
    return path
