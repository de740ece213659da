"""Every setting ketamon reads, declared once (as MusicBrainz Picard declares its
options): name, type, default, scope, environment variable and one line of help.

Two scopes:

- **workstation**: set per computer by its environment variable and read with
  `settings.get(name)` (e.g. where the data folder is, this workstation's speaker).
- **clinic**: one value for the whole clinic, kept in the database (table
  clinic_settings, append-only, the newest row per key in force) and changed by an
  administrator on the Settings page (`ops.set_clinic_setting`, audited). Read with
  `settings.clinic_value(db_or_store, name)`; until an administrator sets one, the
  environment variable of this workstation, else the declared default, is used.

Modules read settings here, never `os.environ`. A value that does not fit its type
falls back to the default with a logged warning naming the variable, the value and
what is allowed: a typo in a workstation's environment must not stop a treatment
room. The README's settings table is generated from this declaration
(`python -m ketamon.core.settings --markdown`); tests/test_settings.py fails when
the two differ.

No Qt, no import of ketamon's other modules at import time (everything imports this).
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

WORKSTATION = "workstation"
CLINIC = "clinic"
SCOPES = (WORKSTATION, CLINIC)


# ---------------------------------------------------------------- types


class Kind:
    """A setting's type: reads text (an environment variable, a text field) and
    checks a typed value. Both raise ValueError whose message says what is allowed."""

    #: what is allowed, in words, for messages and the README
    allowed: str = ""

    def parse(self, raw: str) -> Any:
        raise NotImplementedError

    def check(self, value: Any) -> Any:
        """A typed value (from an operation or a widget); text is parsed."""
        if isinstance(value, str):
            return self.parse(value)
        raise ValueError(self.allowed)

    def show(self, value: Any) -> str:
        """The value in words, for messages, the README and the Settings page."""
        return "" if value is None else str(value)


@dataclass(frozen=True)
class Text(Kind):
    max_length: int = 200

    @property
    def allowed(self) -> str:  # type: ignore[override]
        return f"text of 1–{self.max_length} characters"

    def parse(self, raw: str) -> str:
        value = raw.strip()
        if not value or len(value) > self.max_length:
            raise ValueError(self.allowed)
        return value


@dataclass(frozen=True)
class Whole(Kind):
    """A whole number in [low, high]."""

    low: int
    high: int
    unit: str = ""

    @property
    def allowed(self) -> str:  # type: ignore[override]
        return f"a whole number from {self.low} to {self.high}"

    def parse(self, raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ValueError(self.allowed) from None
        return self.check(value)

    def check(self, value: Any) -> int:
        if isinstance(value, str):
            return self.parse(value)
        if isinstance(value, bool) or not isinstance(value, int) or not self.low <= value <= self.high:
            raise ValueError(self.allowed)
        return value

    def show(self, value: Any) -> str:
        return "" if value is None else f"{value} {self.unit}".strip()


_TRUE = ("1", "on", "yes", "true")
_FALSE = ("0", "off", "no", "false")


@dataclass(frozen=True)
class Switch(Kind):
    allowed = "on or off (also 1/0, yes/no, true/false)"

    def parse(self, raw: str) -> bool:
        word = raw.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise ValueError(self.allowed)

    def check(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        return super().check(value)

    def show(self, value: Any) -> str:
        return "" if value is None else ("on" if value else "off")


@dataclass(frozen=True)
class Choice(Kind):
    """One of a few words, matched without case; stored as spelt here."""

    values: tuple[str, ...]

    @property
    def allowed(self) -> str:  # type: ignore[override]
        return "one of " + ", ".join(self.values)

    def parse(self, raw: str) -> str:
        for v in self.values:
            if v.lower() == raw.strip().lower():
                return v
        raise ValueError(self.allowed)


@dataclass(frozen=True)
class Folder(Kind):
    allowed = "a folder path"

    def parse(self, raw: str) -> Path:
        if not raw.strip():
            raise ValueError(self.allowed)
        return Path(raw.strip()).expanduser()

    def check(self, value: Any) -> Path:
        return value if isinstance(value, Path) else super().check(value)


@dataclass(frozen=True)
class File(Folder):
    allowed = "a file path"


@dataclass(frozen=True)
class Folders(Kind):
    allowed = "folder paths separated by `:` (`;` on Windows)"

    def parse(self, raw: str) -> tuple[Path, ...]:
        return tuple(Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip())

    def check(self, value: Any) -> tuple[Path, ...]:
        if isinstance(value, (tuple, list)) and all(isinstance(p, Path) for p in value):
            return tuple(value)
        return super().check(value)

    def show(self, value: Any) -> str:
        return os.pathsep.join(str(p) for p in value or ())


# ---------------------------------------------------------------- the declaration


@dataclass(frozen=True)
class Setting:
    name: str
    type: Kind
    #: None: not set (the help says what happens then)
    default: Any
    scope: str
    #: the environment variable; for a clinic setting the fallback until the clinic sets one
    env: str | None
    help: str
    #: the words on the Settings page (clinic settings)
    label: str = ""

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ").capitalize()


SETTINGS: dict[str, Setting] = {}


def declare(setting: Setting) -> Setting:
    """Add a setting to the one table. A second declaration of a name (or of an
    environment variable) is a programming error, found at import."""
    if setting.name in SETTINGS:
        raise ValueError(f"setting {setting.name!r} is declared twice")
    if setting.env and any(s.env == setting.env for s in SETTINGS.values()):
        raise ValueError(f"environment variable {setting.env} is declared twice")
    if setting.scope not in SCOPES:
        raise ValueError(f"setting {setting.name!r}: scope must be one of {SCOPES}, not {setting.scope!r}")
    if setting.default is not None:
        setting.type.check(setting.default)  # a default that does not fit its own type is a bug
    SETTINGS[setting.name] = setting
    return setting


W, C = WORKSTATION, CLINIC
for _s in (
    # -- this workstation
    Setting("database_url", Text(2000), None, W, "KETAMON_DATABASE_URL",
            "The clinic database: an SQLite file or `postgresql://…`; `--db` wins. "
            "Unset: `ketamon.sqlite3` in the data folder.", "Database"),
    Setting("data_dir", Folder(), None, W, "KETAMON_DATA_DIR",
            "Folder for the local SQLite database and the demo. Unset: the user data directory.", "Data folder"),
    Setting("protocols", Folders(), (), W, "KETAMON_PROTOCOLS",
            "More protocol folders, read after the shipped protocols.", "More protocols"),
    Setting("resources", Folder(), None, W, "KETAMON_RESOURCES",
            "Read protocols, styles, sounds and templates from this folder instead of the installed "
            "ones (development).", "Resources folder"),
    Setting("user", Text(64), None, W, "KETAMON_USER",
            "Who the command line (`report`, `export`) and `--screenshot` act as.", "Acting user"),
    Setting("documents_dir", Folder(), None, W, "KETAMON_DOCUMENTS_DIR",
            "Where printed summaries, forms and exports are saved unless another place is chosen; files "
            "there are readable by their owner only. Unset: the user's documents folder + `/ketamon`.",
            "Documents folder"),
    Setting("mrn_system", Text(), "urn:ketamon:mrn", W, "KETAMON_MRN_SYSTEM",
            "The URI namespace of the clinic's MRNs in FHIR exports.", "MRN system"),
    Setting("sound", Switch(), True, W, "KETAMON_SOUND",
            "This workstation's speaker: off keeps alarm tones silent here; alerts still show.", "Speaker"),
    Setting("no_flash", Switch(), False, W, "KETAMON_NO_FLASH",
            "On: the alert banner stays steady instead of flashing.", "Steady alert banner"),
    Setting("log", Choice(("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")), "WARNING", W, "KETAMON_LOG",
            "How much goes to the log (never patient data).", "Log level"),
    Setting("bench_startup", Switch(), False, W, "KETAMON_BENCH_STARTUP",
            "For `make bench`: start without signing in, report when the window shows, quit.",
            "Start-up benchmark"),
    Setting("audit_key_file", File(), None, W, "KETAMON_AUDIT_KEY_FILE",
            "The clinic's audit key: a file readable by its owner only (the server's administrator). Set: "
            "the audit trail is sealed with it (HMAC-SHA256), so recomputing its hashes is caught; every "
            "workstation and `ketamon audit verify` then need it.", "Audit key file"),
    # -- the whole clinic (Settings page; the variable is this workstation's fallback)
    Setting("clinic_name", Text(120), "Ketamine Treatment Clinic", C, "KETAMON_CLINIC_NAME",
            "The clinic's name on printed summaries and forms.", "Clinic name"),
    Setting("paper", Choice(("A4", "Letter")), None, C, "KETAMON_PAPER",
            "Paper size for printing from the screen (the command line takes `--a4`/`--letter`). Unset: "
            "Letter where the locale measures in US units, else A4.",
            "Paper size"),
    Setting("idle_lock_minutes", Whole(0, 24 * 60, "min"), 10, C, "KETAMON_IDLE_LOCK_MINUTES",
            "Minutes without input before the screen locks; 0 turns the idle lock off.", "Idle lock after"),
    Setting("signin_attempts", Whole(1, 100), 5, C, "KETAMON_SIGNIN_ATTEMPTS",
            "Wrong passwords in a row before an account is locked.", "Wrong passwords before lock-out"),
    Setting("lockout_minutes", Whole(1, 24 * 60, "min"), 15, C, "KETAMON_LOCKOUT_MINUTES",
            "How long a locked account stays locked.", "Lock-out lasts"),
    Setting("future_tolerance_minutes", Whole(0, 15, "min"), 2, C, "KETAMON_FUTURE_TOLERANCE_MINUTES",
            "How far ahead of this workstation's clock an entry's time may be (clocks of monitors and "
            "computers differ a little); later is refused, never moved to another day.",
            "Entry time ahead of the clock"),
    Setting("entry_window_hours", Whole(1, 72, "h"), 12, C, "KETAMON_ENTRY_WINDOW_HOURS",
            "How long before a session was scheduled or opened its entries may be dated; earlier is "
            "refused as a typing slip.", "Entries dated back at most"),
    Setting("feed_listen", Switch(), False, C, "KETAMON_FEED_LISTEN",
            "Receive bedside monitor data (HL7 v2 ORU^R01, IHE PCD-01, over MLLP) from the app, in a "
            "listener process it starts and stops as this is turned on and off (no restart needed); "
            "`ketamon feed listen` does the same without the window. The values are documentation for the nurse to validate: the monitor's own alarms stay "
            "the alarms.",
            "Listen for bedside monitors"),
    Setting("feed_host", Text(255), "127.0.0.1", C, "KETAMON_FEED_HOST",
            "The address the monitor listener binds to (127.0.0.1: this computer only; the clinic's "
            "monitor network address to accept monitors).", "Monitor listener address"),
    Setting("feed_port", Whole(1, 65535), 2575, C, "KETAMON_FEED_PORT",
            "The TCP port monitors and gateways send to (MLLP's conventional 2575).", "Monitor listener port"),
    Setting("feed_silence_seconds", Whole(5, 3600, "s"), 30, C, "KETAMON_FEED_SILENCE_SECONDS",
            "A monitor that has sent data for a session and then stays silent this long raises a technical "
            "alert (probe off, cable out, monitor switched off).", "Monitor silent after"),
    Setting("alarm_sound", Switch(), True, C, None,
            "Alarm tones for the whole clinic; off: alerts still show, screens say \"Audio off\".",
            "Alarm sound"),
):
    declare(_s)
del W, C, _s


def setting(name: str) -> Setting:
    try:
        return SETTINGS[name]
    except KeyError:
        raise KeyError(f"no setting {name!r} is declared in ketamon.core.settings") from None


def clinic_settings() -> list[Setting]:
    return [s for s in SETTINGS.values() if s.scope == CLINIC]


# ---------------------------------------------------------------- this workstation

_warned: set[tuple[str, str]] = set()


def from_environment(s: Setting, environ: os._Environ[str] | dict[str, str] | None = None) -> Any:
    """The value the environment gives `s`, typed; its default when unset or unusable."""
    raw = (os.environ if environ is None else environ).get(s.env) if s.env else None
    if raw is None or not raw.strip():
        return s.default
    try:
        return s.type.parse(raw)
    except ValueError:
        if (s.env, raw) not in _warned:  # once per value, not on every read
            _warned.add((s.env, raw))
            log.warning("%s", problem(s, raw))
        return s.default


def problem(s: Setting, raw: str) -> str:
    """The sentence for a value that does not fit: the variable, the value, what is allowed."""
    default = s.type.show(s.default) if s.default not in (None, ()) else "unset"
    return f"{s.env}={raw!r} is not allowed: {s.env} takes {s.type.allowed}; using the default ({default})."


def get(name: str) -> Any:
    """A workstation setting, from its environment variable (typed), else its default."""
    s = setting(name)
    if s.scope != WORKSTATION:
        raise ValueError(f"{name!r} is a clinic setting: read it with settings.clinic_value(db, {name!r})")
    return from_environment(s)


def use_offscreen_qt(*, always: bool = False) -> None:
    """Pick Qt's offscreen platform where no window can be shown: `always` (a
    screenshot), or when there is no display at all (a PDF from a script or the
    command line). Qt's own variables (QT_QPA_PLATFORM, DISPLAY, WAYLAND_DISPLAY)
    are not ketamon settings, but they are read here too, so that the environment
    is read in one module. A platform someone chose is never overridden."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return
    if always or not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"


# ---------------------------------------------------------------- the whole clinic

#: rows of alarm_sound were written as {"enabled": …} by ops.set_alarm_sound before
#: this table existed; that shape is kept so every reader agrees
_STORED_AS = {"alarm_sound": "enabled"}


def stored(name: str, value: Any) -> dict[str, Any]:
    """The JSON a ClinicSetting row keeps for `value`."""
    return {_STORED_AS.get(name, "value"): value}


@dataclass(frozen=True)
class ClinicValue:
    """A clinic setting as it is in force: the value, where it came from ("clinic":
    set by an administrator; "workstation": this workstation's environment
    variable; "default"), and who set it, when and why."""

    setting: Setting
    value: Any
    source: str
    set_at: datetime | None = None
    set_by: str | None = None
    reason: str | None = None
    row_id: int | None = None


def fallback(s: Setting) -> ClinicValue:
    """A clinic setting no administrator has set: this workstation's variable, else the default."""
    raw = os.environ.get(s.env, "") if s.env else ""
    try:
        if raw.strip():
            return ClinicValue(s, s.type.parse(raw), "workstation")
    except ValueError:
        pass
    return ClinicValue(s, from_environment(s), "default")  # warns once about an unusable value


def _rows(db, names: Sequence[str]) -> dict[str, Any]:
    """The newest ClinicSetting row per name (the one in force)."""
    from sqlalchemy import func, select

    from ketamon.core.models import ClinicSetting

    newest = (select(func.max(ClinicSetting.id)).where(ClinicSetting.key.in_(names))
              .group_by(ClinicSetting.key))
    return {r.key: r for r in db.scalars(select(ClinicSetting).where(ClinicSetting.id.in_(newest)))}


def _entries(db, names: Sequence[str]) -> list[ClinicValue]:
    from ketamon.core.models import User

    rows = _rows(db, names)
    out = []
    for name in names:
        s = setting(name)
        row = rows.get(name)
        if row is None:
            out.append(fallback(s))
            continue
        raw = (row.value or {}).get(_STORED_AS.get(name, "value"))
        try:
            value = s.default if raw is None else s.type.check(raw)
        except ValueError:
            log.warning("clinic setting %s row %s holds %r, which is not %s; using this workstation's value",
                        name, row.id, raw, s.type.allowed)
            out.append(fallback(s))
            continue
        who = db.get(User, row.set_by_id) if row.set_by_id is not None else None
        out.append(ClinicValue(s, value, "clinic", row.set_at, who.display_name if who else None, row.reason,
                               row.id))
    return out


def _with_db(db_or_store, fn):
    """Run fn(db) on a database session, or in a read transaction of a Store."""
    from sqlalchemy.orm import Session as DbSession

    if isinstance(db_or_store, DbSession):
        return fn(db_or_store)
    with db_or_store.read() as db:
        return fn(db)


def clinic_entries(db_or_store, names: Iterable[str] | None = None) -> list[ClinicValue]:
    """Every clinic setting (or those named) as in force, in one query."""
    wanted = list(names) if names is not None else [s.name for s in clinic_settings()]
    for n in wanted:
        if setting(n).scope != CLINIC:
            raise ValueError(f"{n!r} is a workstation setting: read it with settings.get({n!r})")
    if db_or_store is None:
        return [fallback(setting(n)) for n in wanted]
    return _with_db(db_or_store, lambda db: _entries(db, wanted))


def clinic_entry(db_or_store, name: str) -> ClinicValue:
    return clinic_entries(db_or_store, [name])[0]


def clinic_value(db_or_store, name: str) -> Any:
    """A clinic setting's value in force. `db_or_store`: a database session, a
    Store, or None where there is no database (then this workstation's variable,
    else the default)."""
    return clinic_entry(db_or_store, name).value


# ---------------------------------------------------------------- the README table


def markdown() -> str:
    """The README's settings table."""

    def default(s: Setting) -> str:
        return f"`{s.type.show(s.default)}`" if s.default not in (None, ()) else "unset"

    lines = ["| setting | variable | scope | allowed | default | what it does |", "|---|---|---|---|---|---|"]
    for scope in SCOPES:
        for s in SETTINGS.values():
            if s.scope == scope:
                where = "clinic (Settings page)" if scope == CLINIC else "workstation"
                env = f"`{s.env}`" if s.env else "–"
                lines.append(f"| {s.title} | {env} | {where} | {s.type.allowed} | {default(s)} | {s.help} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m ketamon.core.settings",
                                     description="ketamon's declared settings.")
    parser.add_argument("--markdown", action="store_true", help="print the README's settings table")
    args = parser.parse_args(argv)
    if args.markdown:
        print(markdown(), end="")
        return 0
    for s in SETTINGS.values():
        value = from_environment(s) if s.scope == WORKSTATION else fallback(s).value
        print(f"{s.name:20} {s.scope:12} {s.env or '-':28} {s.type.show(value)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
