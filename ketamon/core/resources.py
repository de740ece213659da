"""The one way code finds files under resources/ (never relative to the cwd or
to a source file).

resources/ sits at the top of the repository and is installed as the package
ketamon.resources (pyproject.toml maps it, for a wheel and for an editable
install alike), so it is found through importlib.resources wherever ketamon is
installed. KETAMON_RESOURCES (settings "resources") points elsewhere for development.
"""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from ketamon.core import settings


def resources_dir() -> Path:
    override = settings.get("resources")
    if override:
        return override
    root = files("ketamon.resources")
    if not isinstance(root, Path):  # e.g. imported from a zip: Qt and open() need real files
        raise FileNotFoundError(f"ketamon resources are not on the file system ({root}); install ketamon unzipped")
    return root


def resource(*parts: str) -> Path:
    path = resources_dir().joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"ketamon resource missing: {path}")
    return path
