"""The stored record, in the clinic's words.

Rules that must not be broken here:
- Clinical entries (VitalSigns, DoseEvent, SideEffect, Note, Assessment) are
  append-only. A correction is a new row whose `supersedes_id` points at the row it
  replaces, with a `correction_reason`; the old row stays. Never UPDATE or DELETE them.
- Times are UTC (`UTCDateTime`); `measured_at` / `at` is when it happened,
  `entered_at` when it was typed, `entered_by_id` who typed it.
- A value that was not measured is NULL, never a default.

`Session` here is a treatment session. SQLAlchemy's session is always called
`db` (type `sqlalchemy.orm.Session`, imported as `DbSession`) to keep the two apart.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator):
    """Stores naive UTC, returns aware UTC, refuses naive input (ambiguous)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use aware UTC")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


# ---------------------------------------------------------------- people


class User(Base):
    """A person who signs in. Roles: nurse, physician, staff, admin."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]


class Patient(Base):
    __tablename__ = "patients"
    id: Mapped[int] = mapped_column(primary_key=True)
    mrn: Mapped[str] = mapped_column(String(64), unique=True)
    family_name: Mapped[str] = mapped_column(String(128))
    given_name: Mapped[str] = mapped_column(String(128))
    birth_date: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(16))  # female | male | other | unknown
    weight_kg: Mapped[float | None] = mapped_column(Float)
    allergies: Mapped[str] = mapped_column(Text, default="")
    #: keys of CONTRAINDICATIONS the patient has
    contraindications: Mapped[list[Any]] = mapped_column(JSON, default=list)
    #: keys of CONCOMITANT_MEDICATIONS the patient takes
    concomitant_medications: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    sessions: Mapped[list["Session"]] = relationship(back_populates="patient")

    @property
    def display_name(self) -> str:
        return f"{self.family_name.upper()}, {self.given_name}"

    def age_on(self, day: date) -> int:
        b = self.birth_date
        return day.year - b.year - ((day.month, day.day) < (b.month, b.day))


CONTRAINDICATIONS = {
    "aneurysmal_vascular_disease": "Aneurysmal vascular disease",
    "arteriovenous_malformation": "Arteriovenous malformation",
    "intracerebral_haemorrhage": "History of intracerebral haemorrhage",
    "ketamine_hypersensitivity": "Hypersensitivity to (es)ketamine",
}

CONCOMITANT_MEDICATIONS = {
    "benzodiazepines": "Benzodiazepines",
    "sedative_hypnotics": "Non-benzodiazepine sedative hypnotics",
    "psychostimulants": "Psychostimulants",
    "maois": "MAOIs",
    "opioids": "Opioids",
}

SEXES = ("female", "male", "other", "unknown")


# ---------------------------------------------------------------- sessions

#: Lifecycle states in order; `cancelled` and `stopped` end a session early.
SESSION_STATES = (
    "planned",
    "pre_dose",
    "dosing",
    "monitoring",
    "recovery",
    "discharged",
    "signed",
    "cancelled",
    "stopped",
)


class Session(Base):
    """One treatment session. `state` is the current lifecycle state; every
    transition is also kept in StateChange (who, when, why)."""

    __tablename__ = "sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    protocol_id: Mapped[str] = mapped_column(String(64))
    protocol_version: Mapped[int] = mapped_column(Integer)
    route: Mapped[str] = mapped_column(String(8))
    planned_dose_mg: Mapped[float | None] = mapped_column(Float)
    dose_weight_kg: Mapped[float | None] = mapped_column(Float)
    lot_number: Mapped[str | None] = mapped_column(String(64))
    nurse_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    physician_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    state: Mapped[str] = mapped_column(String(16), default="planned")
    state_reason: Mapped[str | None] = mapped_column(Text)
    scheduled_at: Mapped[datetime] = mapped_column(index=True)
    created_at: Mapped[datetime]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    ready_to_leave_at: Mapped[datetime | None]
    signed_at: Mapped[datetime | None]
    signed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: the treatment chair (CHAIR3) the session sits at: the bedside monitor's data
    #: is routed by it (ketamon.core.ops.device); NULL until the session is placed
    chair: Mapped[str | None] = mapped_column(String(32), index=True)

    patient: Mapped[Patient] = relationship(back_populates="sessions")
    nurse: Mapped[User | None] = relationship(foreign_keys=[nurse_id])
    physician: Mapped[User | None] = relationship(foreign_keys=[physician_id])
    signed_by: Mapped[User | None] = relationship(foreign_keys=[signed_by_id])

    @property
    def locked(self) -> bool:
        return self.state == "signed"


class StateChange(Base):
    __tablename__ = "state_changes"
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id"), index=True)
    from_state: Mapped[str] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]
    by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str | None] = mapped_column(Text)


# ---------------------------------------------------------------- clinical entries


class _Entry:
    """Columns every append-only clinical entry carries."""

    id: Mapped[int] = mapped_column(primary_key=True)
    entered_at: Mapped[datetime]
    correction_reason: Mapped[str | None] = mapped_column(Text)
    #: True for an entry that says "the superseded entry was entered in error"
    retracted: Mapped[bool] = mapped_column(Boolean, default=False)


class VitalSigns(_Entry, Base):
    __tablename__ = "vital_signs"
    #: "the newest reading of this session" (alert rules, on every 1 Hz entry) must
    #: not sort the whole session
    __table_args__ = (
        Index("ix_vital_signs_session_measured", "session_id", "measured_at"),
        #: "is this set still in force?" (in_force_clause's NOT EXISTS, on every 1 Hz
        #: entry and in the sessions list's newest BP set). Partial: nearly every row
        #: has no supersedes_id, and with a full index SQLite's ANALYZE statistics
        #: call the column unselective (one value for all rows) and the planner then
        #: scans the whole table once per candidate set. The partial index holds only
        #: corrections, so its statistics stay truthful; `supersedes_id = x` implies
        #: its WHERE, so both SQLite and PostgreSQL use it.
        Index("ix_vital_signs_superseding", "supersedes_id", sqlite_where=text("supersedes_id IS NOT NULL"),
              postgresql_where=text("supersedes_id IS NOT NULL")),
    )
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id"), index=True)
    measured_at: Mapped[datetime] = mapped_column(index=True)
    entered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: indexed (ix_vital_signs_superseding): the alert rules ask "is this set still
    #: in force?" on every 1 Hz entry
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("vital_signs.id"))
    source: Mapped[str] = mapped_column(String(16), default="manual")  # manual | device
    systolic: Mapped[int | None] = mapped_column(Integer)
    diastolic: Mapped[int | None] = mapped_column(Integer)
    mean_arterial: Mapped[int | None] = mapped_column(Integer)
    #: False where mean_arterial was derived from systolic/diastolic
    mean_measured: Mapped[bool] = mapped_column(Boolean, default=False)
    heart_rate: Mapped[int | None] = mapped_column(Integer)
    spo2: Mapped[int | None] = mapped_column(Integer)
    resp_rate: Mapped[int | None] = mapped_column(Integer)
    temperature: Mapped[float | None] = mapped_column(Float)
    on_oxygen: Mapped[bool | None] = mapped_column(Boolean)
    #: ACVPU for NEWS2: A alert, C new confusion, V voice, P pain, U unresponsive
    consciousness: Mapped[str | None] = mapped_column(String(1))
    comment: Mapped[str | None] = mapped_column(Text)
    late: Mapped[bool] = mapped_column(Boolean, default=False)

    entered_by: Mapped[User | None] = relationship()


DOSE_KINDS = (
    "nasal_device",
    "infusion_start",
    "infusion_rate",
    "infusion_pause",
    "infusion_resume",
    "infusion_stop",
    "im_injection",
)


def _superseding_index(table: str) -> Index:
    """The in-force rule's "is this entry corrected?" (in_force_clause's NOT EXISTS
    on supersedes_id) answered from an index of the corrections only (partial, as
    ix_vital_signs_superseding: a full index of a nearly all-NULL column looks
    useless to SQLite's planner). Without it the Records search's "began at" walked
    every dose of the clinic once per dose of the page (17 s on 100,000 sessions)."""
    return Index(f"ix_{table}_superseding", "supersedes_id", sqlite_where=text("supersedes_id IS NOT NULL"),
                 postgresql_where=text("supersedes_id IS NOT NULL"))


class DoseEvent(_Entry, Base):
    __tablename__ = "dose_events"
    __table_args__ = (_superseding_index("dose_events"),)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id"), index=True)
    at: Mapped[datetime] = mapped_column(index=True)
    entered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("dose_events.id"))
    kind: Mapped[str] = mapped_column(String(24))
    device_number: Mapped[int | None] = mapped_column(Integer)
    amount_mg: Mapped[float | None] = mapped_column(Float)
    rate_mg_per_h: Mapped[float | None] = mapped_column(Float)
    lot_number: Mapped[str | None] = mapped_column(String(64))
    site: Mapped[str | None] = mapped_column(String(64))
    comment: Mapped[str | None] = mapped_column(Text)
    late: Mapped[bool] = mapped_column(Boolean, default=False)

    entered_by: Mapped[User | None] = relationship()


SIDE_EFFECT_KINDS = {
    "dissociation": "Dissociation",
    "sedation": "Sedation (MOAA/S)",
    "nausea": "Nausea",
    "vomiting": "Vomiting",
    "dizziness": "Dizziness",
    "headache": "Headache",
    "anxiety": "Anxiety / agitation",
    "hallucinations": "Hallucinations",
    "respiratory_depression": "Respiratory depression",
    "other": "Other",
}

#: scale name -> (low, high) of the score
SCALES = {
    "MOAA/S": (0, 5),
    "CADSS-6": (0, 24),
    "severity-0-4": (0, 4),
    "NRS-0-10": (0, 10),
}


class SideEffect(_Entry, Base):
    __tablename__ = "side_effects"
    __table_args__ = (_superseding_index("side_effects"),)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id"), index=True)
    observed_at: Mapped[datetime] = mapped_column(index=True)
    entered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("side_effects.id"))
    kind: Mapped[str] = mapped_column(String(32))
    scale: Mapped[str | None] = mapped_column(String(16))
    score: Mapped[float | None] = mapped_column(Float)
    #: item scores for multi-item scales (CADSS-6: {"1": 2, "2": 0, ...})
    items: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    text: Mapped[str | None] = mapped_column(Text)
    late: Mapped[bool] = mapped_column(Boolean, default=False)

    entered_by: Mapped[User | None] = relationship()


class Note(_Entry, Base):
    __tablename__ = "notes"
    __table_args__ = (_superseding_index("notes"),)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id"), index=True)
    at: Mapped[datetime]
    entered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("notes.id"))
    text: Mapped[str] = mapped_column(Text)

    entered_by: Mapped[User | None] = relationship()


class Assessment(_Entry, Base):
    """A scored checklist or scale: phq9, aldrete, padss, predose_checklist,
    discharge_checklist, predose_decision. `items` holds the item answers."""

    __tablename__ = "assessments"
    __table_args__ = (_superseding_index("assessments"),)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id"), index=True)
    at: Mapped[datetime]
    entered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("assessments.id"))
    kind: Mapped[str] = mapped_column(String(32))
    items: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    total: Mapped[float | None] = mapped_column(Float)
    comment: Mapped[str | None] = mapped_column(Text)

    entered_by: Mapped[User | None] = relationship()


class Addendum(Base):
    """Text added to a signed record; printed as an addendum."""

    __tablename__ = "addenda"
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id"), index=True)
    at: Mapped[datetime]
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)

    author: Mapped[User | None] = relationship()


# ---------------------------------------------------------------- alerts and limits


class Alert(Base):
    """A raised condition. The row is the alert's record; its workflow fields
    (cleared, acknowledged, reviewed, escalated) fill in over time and each such
    change is also written to the audit trail."""

    __tablename__ = "alerts"
    #: the clinic keeps years of alerts (~300 000): the screens that poll or list
    #: them must walk an index, never the table (see core/alert_views)
    __table_args__ = (
        #: active alerts (alarm status, the timer, a session's active alerts)
        Index("ix_alerts_active", "cleared_at", "session_id"),
        #: the physician's queue: unreviewed, by priority, newest first
        Index("ix_alerts_review", "reviewed_at", "priority", "raised_at"),
        #: the queue with reviewed alerts shown too
        Index("ix_alerts_priority_raised", "priority", "raised_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("sessions.id"), index=True)
    category: Mapped[str] = mapped_column(String(16), default="patient")  # patient | technical
    #: identifies the condition, so a persisting condition is not raised twice
    condition_key: Mapped[str] = mapped_column(String(128))
    priority: Mapped[str] = mapped_column(String(8))  # high | medium | low | info
    message: Mapped[str] = mapped_column(Text)
    raised_at: Mapped[datetime] = mapped_column(index=True)
    source_kind: Mapped[str | None] = mapped_column(String(32))
    source_id: Mapped[int | None] = mapped_column(Integer)
    #: the rule that raised it (range_critical, bp_sustained, news2_urgent, overdue, ...)
    rule: Mapped[str | None] = mapped_column(String(32))
    cleared_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    silenced_until: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    reviewed_at: Mapped[datetime | None]
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    review_comment: Mapped[str | None] = mapped_column(Text)

    acknowledged_by: Mapped[User | None] = relationship(foreign_keys=[acknowledged_by_id])
    reviewed_by: Mapped[User | None] = relationship(foreign_keys=[reviewed_by_id])

    @property
    def active(self) -> bool:
        return self.cleared_at is None


class LimitOverride(Base):
    """A physician's per-patient limits for one parameter and tier. Append-only:
    the newest row for (patient, parameter, tier) is in force; a row with both
    limits None returns the tier to the protocol's."""

    __tablename__ = "limit_overrides"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    parameter: Mapped[str] = mapped_column(String(32))
    tier: Mapped[str] = mapped_column(String(16))  # critical | abnormal
    low: Mapped[float | None] = mapped_column(Float)
    high: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text)
    set_at: Mapped[datetime]
    set_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    set_by: Mapped[User | None] = relationship()


class ClinicSetting(Base):
    """A clinic-wide setting (e.g. alarm sound off). Append-only: the newest row
    for a key is in force; each change says who, when and why."""

    __tablename__ = "clinic_settings"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), index=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text)
    set_at: Mapped[datetime]
    set_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


# ---------------------------------------------------------------- bedside monitors


class Monitor(Base):
    """A bedside monitor (its id as it names itself in MSH-3 or OBX-18) bound to a
    chair, for monitors that do not send the chair (PV1-3). Append-only: the
    newest row for a monitor id is in force."""

    __tablename__ = "monitors"
    id: Mapped[int] = mapped_column(primary_key=True)
    monitor_id: Mapped[str] = mapped_column(String(64), index=True)
    chair: Mapped[str] = mapped_column(String(32))
    registered_at: Mapped[datetime]
    registered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


#: what a nurse says of a device vital-sign set
DEVICE_VERDICTS = ("validated", "artefact")


class DeviceValidation(Base):
    """A nurse's verdict on one device vital-sign set: validated, or an artefact
    (with the reason). Append-only: the newest row for a set is in force; the set
    itself is never changed (it is a clinical entry)."""

    __tablename__ = "device_validations"
    id: Mapped[int] = mapped_column(primary_key=True)
    vital_signs_id: Mapped[int] = mapped_column(ForeignKey("vital_signs.id"), index=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id"), index=True)
    verdict: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime]
    by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    by: Mapped[User | None] = relationship()


# ---------------------------------------------------------------- paperwork


#: what happened to a session's esketamine monitoring form
FORM_FILING_ACTIONS = ("printed", "exported", "sent")


class FormFiling(Base):
    """One step in filing a session's esketamine monitoring form: printed,
    exported or sent to the REMS (by whom, when, how). Append-only. The form's
    status (not printed / printed, not sent / sent; overdue) is read from these
    rows (ketamon.core.rems.form_statuses), never from the audit trail's text.
    `template_version` is the form version filed; a session keeps the version of
    its first filing so a reprint matches what was sent."""

    __tablename__ = "form_filings"
    __table_args__ = (Index("ix_form_filings_session_action", "session_id", "action"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id"))
    template_version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))  # FORM_FILING_ACTIONS
    #: "fax", "REMS portal", "email"… for sent; the file or printer for printed/exported
    how: Mapped[str] = mapped_column(Text, default="")
    by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime]
    #: e.g. the fax confirmation or portal submission number
    reference: Mapped[str] = mapped_column(Text, default="")

    by: Mapped[User | None] = relationship()


# ---------------------------------------------------------------- live notices


class ChangeLog(Base):
    """The change notices of recent operations, for other processes on one SQLite
    file (PostgreSQL sends them with NOTIFY instead). Not clinical: no audit. A
    reader remembers the last id it saw; ids never go back (AUTOINCREMENT), so a
    gap after pruning tells it that it missed notices and must refresh everything."""

    __tablename__ = "change_log"
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    notice: Mapped[str] = mapped_column(Text)


class EntryKey(Base):
    """The key a workstation gave an entry (a UUID made when the nurse pressed
    Enter), stored with the entry in the same transaction. When the connection
    drops during the commit the workstation cannot know whether the entry was
    stored; it sends it again with the same key, and the operation, finding the
    key here, stores nothing and answers with what it answered the first time.
    Written with its entry, so the audit's record digests cover it like the entry."""

    __tablename__ = "entry_keys"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(36), unique=True)
    #: the operation that stored the entry, and where: a key is never another entry's
    operation: Mapped[str] = mapped_column(String(48))
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id"))
    entity_id: Mapped[int]
    #: the operation's message (e.g. "Vital signs saved (14:32)"), answered again
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


# ---------------------------------------------------------------- audit


class AuditEntry(Base):
    """Append-only, hash-chained record of every change, refusal, sign-in,
    print and export. `hash` covers this row's content and `prev_hash`."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    username: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(48), index=True)
    entity: Mapped[str | None] = mapped_column(String(32))
    entity_id: Mapped[int | None] = mapped_column(Integer)
    session_id: Mapped[int | None] = mapped_column(Integer, index=True)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    detail: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    #: SHA-256 over this row's AuditRecord items (the clinical rows it wrote), in
    #: `seq` order; None for a row that wrote none (and every row written before
    #: the record was covered). Part of the hashed content when set.
    record_digest: Mapped[str | None] = mapped_column(String(64))


class AuditRecord(Base):
    """One clinical row written by one audit row: its table, id and a digest of its
    stored values (None: the row was deleted). Append-only; the chain covers these
    rows through `AuditEntry.record_digest`. The newest item per (table, row) is
    what `audit verify` compares the clinical row with."""

    __tablename__ = "audit_record"
    __table_args__ = (Index("ix_audit_record_row", "table_name", "row_id", "audit_id"),)
    #: no foreign key: a record list whose audit row was removed is named by verify, not refused
    audit_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    table_name: Mapped[str] = mapped_column(String(32))
    row_id: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str | None] = mapped_column(String(64))


class AuditHead(Base):
    """One row: the audit chain's last id and hash, written in the same transaction
    as every append. A chain alone cannot show that its newest rows were deleted;
    comparing the chain's tail with this row can."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(primary_key=True)  # always 1
    last_id: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer)
    #: with a clinic key: the first audit id sealed with it (HMAC-SHA256); rows
    #: before it are plain SHA-256
    key_from: Mapped[int | None] = mapped_column(Integer)
    #: with a clinic key: which key (an HMAC of a fixed text), so a workstation
    #: with another key file is refused rather than forking the seal
    key_id: Mapped[str | None] = mapped_column(String(64))
    #: with a clinic key: HMAC over last_id, last_hash, rows and key_from, so the
    #: head cannot be rewritten to hide a cut tail
    seal: Mapped[str | None] = mapped_column(String(64))
