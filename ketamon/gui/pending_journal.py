"""The entries waiting for the clinic database, on this workstation's disk: a
crash or a closed window while the database is away must not lose what the nurse
typed. One small JSON file per waiting entry in the data folder (named by its
database and its entry key), readable by this user only (0600: it holds clinical
values), removed once the entry is saved or refused. A workstation starting
sends what earlier runs left for its database, each with its key, so an entry
that was in fact committed (or is sent by two windows) is stored once."""
from __future__ import annotations

import hashlib
import json
import logging
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from ketamon.core import ops
from ketamon.core.permissions import Actor
from ketamon.core.store import data_dir

log = logging.getLogger(__name__)


def journal_path(url: str) -> Path:
    """The stem of this database's files (named by a digest of its address: never the password)."""
    return data_dir() / f"waiting-{hashlib.sha256(url.encode()).hexdigest()[:16]}"


def _file(stem: Path, key: str) -> Path:
    return stem.with_name(f"{stem.name}-{key}.json")


def keep(stem: Path, item: dict) -> None:
    """Write one waiting entry, atomically, 0600. One file per entry (named by its
    key): two ketamon windows on one computer never overwrite each other's."""
    path = _file(stem, item["kwargs"]["entry_key"])
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(item, f, default=_encode)
    os.replace(tmp, path)


def forget(stem: Path, key: str) -> None:
    """The entry was saved or refused: nothing more to send."""
    _file(stem, key).unlink(missing_ok=True)


def load(stem: Path) -> list[dict]:
    """The entries left by earlier runs, oldest first; an unreadable file is logged
    and set aside (.unreadable), never sent."""
    items = []
    for path in sorted(stem.parent.glob(f"{stem.name}-*.json"), key=lambda p: p.stat().st_mtime):
        try:
            items.append(json.loads(path.read_text(encoding="utf-8"), object_hook=_decode))
        except (OSError, ValueError):
            log.error("a waiting entry is unreadable; set aside as %s", path.with_suffix(".unreadable"))
            path.replace(path.with_suffix(".unreadable"))
    return items


def entry(operation, args: tuple, kwargs: dict, actor: Actor | None) -> dict:
    return {"operation": operation.__name__, "args": list(args), "kwargs": kwargs,
            "actor": None if actor is None else [actor.user_id, actor.username, actor.display_name, actor.role]}


def operation_of(item: dict):
    return getattr(ops, item["operation"])


def actor_of(item: dict) -> Actor | None:
    return None if item["actor"] is None else Actor(*item["actor"])


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    raise TypeError(f"cannot keep {type(value).__name__}")


def _decode(obj: dict) -> Any:
    return datetime.fromisoformat(obj["$datetime"]) if set(obj) == {"$datetime"} else obj
