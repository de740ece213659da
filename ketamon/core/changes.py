"""What an operation changed, as a typed notice (in the manner of Anki's OpChanges).

Every operation returns one `OpChanges`; the GUI's OpRunner broadcasts it and each
screen decides from its flags (and from who started it) whether to refresh what it
shows. One bool per kind of data, so a misspelt kind is a TypeError, not a screen
that silently never refreshes.

The notice is plain data so it can be sent to another workstation (the shared
clinic will deliver it over the database): `to_json()` / `from_json()` carry the
flags, the sessions and patients touched, the message and the workstation it came
from — never `result`, `created` or `initiator`, which only mean something in the
process that ran the operation.
"""
from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def this_workstation() -> str:
    """This process's id among the clinic's workstations: host name and process id
    (two ketamon windows on one computer are two workstations)."""
    try:
        host = socket.gethostname() or "unknown"
    except OSError:
        host = "unknown"
    return f"{host}:{os.getpid()}"


@dataclass
class OpChanges:
    """What an operation changed. Screens refresh from this, not from polling."""

    # -- what kind of data changed (one flag each; see FLAGS) --------------------
    #: vital signs entered, corrected or marked in error
    vitals: bool = False
    #: dose events (a device, an infusion step, an injection) and their corrections
    doses: bool = False
    #: side effects observed
    side_effects: bool = False
    #: free-text notes
    notes: bool = False
    #: assessments: pre-dose and discharge checklists, PHQ-9, discharge scores, decisions
    assessments: bool = False
    #: a session opened or moved to another state (pre-dose, dosing, … signed)
    lifecycle: bool = False
    #: a session's own facts besides its state (lot number, ready-to-leave time)
    session_details: bool = False
    #: the signed record: signature, addenda
    record: bool = False
    #: alerts raised, cleared, escalated, acknowledged or reviewed
    alerts: bool = False
    #: a patient's own alert limits
    limits: bool = False
    #: patients registered or their details edited
    patients: bool = False
    #: user accounts (added, disabled, passwords)
    users: bool = False
    #: clinic-wide settings (e.g. the alarm sound)
    settings: bool = False
    #: a print or an export recorded in the audit trail (nothing clinical changed)
    exports: bool = False

    # -- where, and what else ----------------------------------------------------
    #: sessions whose chart changed
    sessions: set[int] = field(default_factory=set)
    #: patients whose data changed (details, limits, a new session)
    patient_ids: set[int] = field(default_factory=set)
    #: (entity, id) of rows created; this process only (not serialised)
    created: list[tuple[str, int]] = field(default_factory=list)
    #: one line for the status bar, e.g. "Vital signs saved (14:32)"
    message: str = ""
    #: what the operation returns besides (e.g. the new Session's id); not serialised
    result: Any = None
    #: the screen or widget that started the operation (OpRunner.run(initiator=…)),
    #: so it can skip a refresh it already did; never serialised
    initiator: object | None = field(default=None, compare=False, repr=False)
    #: the workstation the operation ran on (this_workstation()), so a notice
    #: received from another workstation can be told apart
    origin: str = field(default_factory=this_workstation)

    # ------------------------------------------------------------------ building

    def mark(self, *, session_id: int | None = None, patient_id: int | None = None, **flags: bool) -> "OpChanges":
        """Set flags (`mark(vitals=True, session_id=s.id)`). An unknown flag is a
        TypeError: a misspelt kind must fail where it is written."""
        unknown = set(flags) - set(FLAGS)
        if unknown:
            raise TypeError(f"OpChanges has no flag {', '.join(sorted(unknown))}; known: {', '.join(FLAGS)}")
        for name, value in flags.items():
            if value:
                setattr(self, name, True)
        if session_id is not None:
            self.sessions.add(session_id)
        if patient_id is not None:
            self.patient_ids.add(patient_id)
        return self

    def merge(self, other: "OpChanges") -> "OpChanges":
        for name in FLAGS:
            if getattr(other, name):
                setattr(self, name, True)
        self.sessions |= other.sessions
        self.patient_ids |= other.patient_ids
        self.created += other.created
        self.message = other.message or self.message
        return self

    # ------------------------------------------------------------------ reading

    @property
    def flags(self) -> frozenset[str]:
        """The names of the flags set."""
        return frozenset(name for name in FLAGS if getattr(self, name))

    def any_of(self, *names: str) -> bool:
        """True when any of the named flags is set (names checked like `mark`)."""
        unknown = set(names) - set(FLAGS)
        if unknown:
            raise TypeError(f"OpChanges has no flag {', '.join(sorted(unknown))}")
        return any(getattr(self, name) for name in names)

    def touches(self, session_id: int | None) -> bool:
        """True when the session's chart changed."""
        return session_id is not None and session_id in self.sessions

    def is_from_here(self) -> bool:
        """True when the operation ran in this process (not on another workstation)."""
        return self.origin == this_workstation()

    def __bool__(self) -> bool:
        return bool(self.flags)

    # ------------------------------------------------------------------ the wire

    def to_json(self) -> str:
        """The data part, compact, for another workstation."""
        return json.dumps({"flags": sorted(self.flags), "sessions": sorted(self.sessions),
                           "patients": sorted(self.patient_ids), "message": self.message,
                           "origin": self.origin}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> "OpChanges":
        """The notice `to_json` wrote; an unknown flag (a newer or misspelt sender) is a ValueError."""
        data = json.loads(text)
        changes = cls(message=str(data.get("message", "")), origin=str(data.get("origin", "")))
        try:
            changes.mark(**{str(name): True for name in data.get("flags", [])})
        except TypeError as exc:
            raise ValueError(str(exc)) from None
        changes.sessions = {int(i) for i in data.get("sessions", [])}
        changes.patient_ids = {int(i) for i in data.get("patients", [])}
        return changes


#: the flag names, in declaration order
FLAGS: tuple[str, ...] = tuple(f.name for f in fields(OpChanges) if f.type in ("bool", bool))

#: flags that change what a session's chart shows (a print or export does not)
CHART_FLAGS = ("vitals", "doses", "side_effects", "notes", "assessments", "lifecycle", "session_details",
               "record", "alerts", "limits", "patients")
