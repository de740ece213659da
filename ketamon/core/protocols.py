"""Treatment protocols, loaded from versioned TOML files in resources/protocols/.

A clinic adds its own protocol by dropping a file there (or in the directory named
by KETAMON_PROTOCOLS); no code changes. Every number a clinic may choose lives in
the file, never in code. Sections this module does not interpret (e.g. `rules`)
are kept as plain dicts for the alert engine.

Every file is checked against the schema (ketamon.core.protocol_schema) before it
is used. Building that schema costs about a tenth of a second at start-up, so what
a check accepted is kept in a small cache keyed by the file's content and the
checking code (`_Accepted`): a warm start with unchanged files rebuilds the same
protocols from it without importing the schema; a changed or refused file is
checked again every time.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Iterable

from ketamon.core.errors import NotFound
from ketamon.core.protocol_types import (  # noqa: F401  (the protocol values are used from here)
    PARAMETERS,
    ROUTES,
    Band,
    Checkpoint,
    DoseRule,
    ParameterRanges,
    Protocol,
    ProtocolError,
    ProtocolProblem,
    Schedule,
    _fmt,
)
from ketamon.core.resources import resources_dir

log = logging.getLogger(__name__)


def validate_protocol_file(data: dict[str, Any], source: str = "") -> list[ProtocolProblem]:
    """Every reason the file is refused; empty when it is good."""
    from ketamon.core import protocol_schema

    return protocol_schema.validate_protocol_file(data, source)


def validate_alarm_rules(data: dict[str, Any], source: str = "") -> list[ProtocolProblem]:
    """Check resources/alarms/defaults.toml (or a protocol's [rules]) against the schema."""
    from ketamon.core import protocol_schema

    return protocol_schema.validate_alarm_rules(data, source)


def parse_protocol(data: dict[str, Any], source: str = "") -> Protocol:
    """The protocol a file describes; ProtocolError (with `.problems`) when the
    schema refuses it. Nothing in a refused file is used."""
    from ketamon.core import protocol_schema

    return protocol_schema.parse_protocol(data, source)


# ---------------------------------------------------------------- what a check accepted

#: bump when the cached form of a Protocol changes
_CACHE_FORMAT = 1
#: the modules whose code decides what a check accepts (their source is the cache's key)
_CHECKING_CODE = ("protocol_schema.py", "protocol_types.py", "hard_limits.py")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _protocol_to_dict(protocol: Protocol) -> dict[str, Any]:
    d = dataclasses.asdict(protocol)
    del d["source"]
    return d


def _protocol_from_dict(d: dict[str, Any], source: str) -> Protocol:
    """The Protocol `_protocol_to_dict` wrote (equal to the one the schema built)."""
    s = d["schedule"]
    return Protocol(**{
        **d,
        "dose": DoseRule(**d["dose"]),
        "schedule": Schedule(**{**s, "checkpoints": tuple(Checkpoint(**c) for c in s["checkpoints"])}),
        "ranges": {name: ParameterRanges(parameter=r["parameter"], absolute=Band(**r["absolute"]),
                                         critical=Band(**r["critical"]), abnormal=Band(**r["abnormal"]),
                                         abnormal_priority=r["abnormal_priority"])
                   for name, r in d["ranges"].items()},
        "source": source,
    })


class _Accepted:
    """The files the schema accepted before, by the digest of their text, in a JSON
    file under the data directory (or the user's cache directory). The key includes
    the source of the checking code, so a changed schema or hard limit checks every
    file again. Only accepted files are kept: a refused one is checked (and listed
    on the Settings page) on every start. Unreadable or foreign cache content is
    ignored, and a cache that cannot be written only costs the check next time."""

    def __init__(self, path: Path | None = None):
        self.path = path or self.default_path()
        self.code = self._code_key()
        self.protocols: dict[str, dict[str, Any]] = {}
        self.rules: set[str] = set()
        self.dirty = False
        self._read()

    @staticmethod
    def default_path() -> Path:
        from ketamon.core import settings

        base = settings.get("data_dir")
        if base:
            return Path(base) / "cache" / "protocols.json"
        import platformdirs

        return Path(platformdirs.user_cache_dir("ketamon", appauthor=False)) / "protocols.json"

    @staticmethod
    def _code_key() -> str | None:
        h = hashlib.sha256(str(_CACHE_FORMAT).encode())
        try:
            for name in _CHECKING_CODE:
                h.update(Path(__file__).with_name(name).read_bytes())
        except OSError:
            return None  # no source to key on: check every file
        return h.hexdigest()

    def _read(self) -> None:
        if self.code is None:
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("code") == self.code:
                self.protocols = dict(data["protocols"])
                self.rules = set(data["rules"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            self.protocols, self.rules = {}, set()

    def protocol(self, text: str, source: str) -> Protocol | None:
        d = self.protocols.get(_digest(text))
        if d is None:
            return None
        try:
            return _protocol_from_dict(d, source)
        except (KeyError, TypeError, ValueError, AttributeError):
            return None

    def keep_protocol(self, text: str, protocol: Protocol) -> None:
        if self.code is None:
            return
        d = _protocol_to_dict(protocol)
        try:
            if _protocol_from_dict(json.loads(json.dumps(d)), protocol.source) != protocol:
                return  # something in it does not survive JSON: check it every time
        except (TypeError, ValueError):
            return
        self.protocols[_digest(text)] = d
        self.dirty = True

    def rules_accepted(self, text: str) -> bool:
        return _digest(text) in self.rules

    def keep_rules(self, text: str) -> None:
        if self.code is not None:
            self.rules.add(_digest(text))
            self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"code": self.code, "protocols": self.protocols,
                                       "rules": sorted(self.rules)}), encoding="utf-8")
            os.replace(tmp, self.path)
            self.dirty = False
        except OSError as exc:
            log.debug("protocol cache not written (%s): files are checked again next start", exc)


def _syntax_line(exc: tomllib.TOMLDecodeError) -> tuple[int | None, str]:
    """The line of a TOML syntax error and the error without its position."""
    msg = str(exc)
    m = re.search(r"\(at line (\d+), column \d+\)", msg)
    if m:
        return int(m.group(1)), msg[:m.start()].strip()
    m = re.search(r"\(at end of document\)", msg)
    return None, msg[:m.start()].strip() if m else msg


def read_protocol_file(path: Path, accepted: _Accepted | None = None) -> tuple[Protocol | None,
                                                                              list[ProtocolProblem]]:
    """One file: the protocol, or None and why it was refused. Never raises.
    With `accepted`, a file whose text was accepted before is not checked again."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [ProtocolProblem(str(path), None, f"cannot be read: {exc}")]
    known = accepted.protocol(text, str(path)) if accepted is not None else None
    if known is not None:
        return known, []
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line, why = _syntax_line(exc)
        return None, [ProtocolProblem(str(path), None, f"TOML syntax error: {why}", line)]
    try:
        protocol = parse_protocol(data, source=str(path))
    except ProtocolError as exc:
        return None, list(exc.problems)
    if accepted is not None:
        accepted.keep_protocol(text, protocol)
    return protocol, []


def protocol_dirs() -> list[Path]:
    dirs = [resources_dir() / "protocols"]
    from ketamon.core import settings

    dirs.extend(settings.get("protocols"))
    return dirs


class ProtocolUnavailable(NotFound, KeyError):
    """A protocol (or the version a session was started under) that this
    workstation does not have, or whose file was refused on load. A KeyError too,
    for callers that look protocols up by id; its message is a sentence."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "protocol not available"


class ProtocolRegistry:
    """All protocol versions known to this installation, keyed by id and version.

    A session stores the id and version it was started under, so a later edit of
    a protocol file never changes the rules of a past session. Files the schema
    refuses are left out, never half-used; why is kept in `problems` so an
    administrator can see it, and the other protocols keep working.
    """

    def __init__(self, protocols: list[Protocol], problems: Iterable[ProtocolProblem] = ()):
        self._by_key: dict[tuple[str, int], Protocol] = {}
        self._problems: list[ProtocolProblem] = list(problems)
        for p in protocols:
            if (p.id, p.version) in self._by_key:
                raise ProtocolError(f"protocol {p.key} is defined twice ({p.source})")
            self._by_key[(p.id, p.version)] = p

    @property
    def problems(self) -> list[ProtocolProblem]:
        """Every file refused on load, with its path, the field and why."""
        return list(self._problems)

    @classmethod
    def load(cls, dirs: list[Path] | None = None, cache: Path | None = None) -> "ProtocolRegistry":
        """Every *.toml file in `dirs` (default: protocol_dirs()); `cache`: where
        accepted files are remembered (default: _Accepted.default_path())."""
        protocols: dict[tuple[str, int], Protocol] = {}
        problems: list[ProtocolProblem] = []
        accepted = _Accepted(cache)
        for d in dirs or protocol_dirs():
            for path in sorted(Path(d).glob("*.toml")):
                protocol, found = read_protocol_file(path, accepted)
                problems.extend(found)
                if protocol is None:
                    continue
                first = protocols.get((protocol.id, protocol.version))
                if first is not None:
                    problems.append(ProtocolProblem(
                        str(path), "version", f"{protocol.key} is already defined by {first.source}; "
                                              "give this file a new version"))
                    continue
                protocols[(protocol.id, protocol.version)] = protocol
        problems.extend(_alarm_defaults_problems(accepted))
        accepted.save()
        for problem in problems:  # file names and field paths only: no patient data
            log.warning("protocol file refused: %s", problem)
        return cls(list(protocols.values()), problems)

    def get(self, protocol_id: str, version: int | None = None) -> Protocol:
        if version is None:
            versions = [v for (i, v) in self._by_key if i == protocol_id]
            if not versions:
                raise ProtocolUnavailable(self._unavailable(protocol_id, None))
            version = max(versions)
        try:
            return self._by_key[(protocol_id, version)]
        except KeyError:
            raise ProtocolUnavailable(self._unavailable(protocol_id, version)) from None

    def _unavailable(self, protocol_id: str, version: int | None) -> str:
        what = f"Protocol {protocol_id!r}" + (f" version {version}" if version is not None else "")
        refused = [str(p) for p in getattr(self, "problems", [])]
        why = f" A protocol file was refused on load: {refused[0]}" if refused else ""
        return (f"{what} is not available on this workstation.{why} An administrator can see the protocol "
                "files on the Settings page.")

    def current(self) -> list[Protocol]:
        """The newest version of each protocol, in name order."""
        newest: dict[str, Protocol] = {}
        for p in self._by_key.values():
            if p.id not in newest or p.version > newest[p.id].version:
                newest[p.id] = p
        return sorted(newest.values(), key=lambda p: p.name)


def _alarm_defaults_problems(accepted: _Accepted) -> list[ProtocolProblem]:
    """resources/alarms/defaults.toml checked like a protocol's [rules] (unless
    this very text was accepted before)."""
    path = resources_dir() / "alarms" / "defaults.toml"
    try:
        text = path.read_text(encoding="utf-8")
        if accepted.rules_accepted(text):
            return []
        data = tomllib.loads(text)
    except (OSError, UnicodeDecodeError) as exc:
        return [ProtocolProblem(str(path), None, f"cannot be read: {exc}")]
    except tomllib.TOMLDecodeError as exc:
        line, why = _syntax_line(exc)
        return [ProtocolProblem(str(path), None, f"TOML syntax error: {why}", line)]
    problems = validate_alarm_rules(data, str(path))
    if not problems:
        accepted.keep_rules(text)
    return problems




_default: ProtocolRegistry | None = None


def default_registry() -> ProtocolRegistry:
    global _default
    if _default is None:
        _default = ProtocolRegistry.load()
    return _default
