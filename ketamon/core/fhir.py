"""A session as a FHIR R4 Bundle (type collection), built as plain dicts.

What goes in (clinical-reference.md section 8):
- Patient (MRN identifier), Practitioner for each person who charted, Encounter
  for the session.
- Vital signs following the FHIR vital-signs profiles: category `vital-signs`,
  LOINC code, `effectiveDateTime` (measured at), `issued` (entered at), UCUM
  units; blood pressure as panel 85354-9 with systolic/diastolic components; one
  vital-signs panel (85353-1) per set linking its members; body weight used for
  the dose.
- MedicationAdministration per nasal device / injection, one per infusion
  (period, delivered total, rate changes in the note), with the lot number on a
  contained Medication. Esketamine: NDC 50458-028; ketamine: RxNorm 238082.
- Scales and side effects (MOAA/S, CADSS-6, nausea NRS, PHQ-9 with its LOINC
  item codes, Aldrete/PADSS, checklists) as Observations.
- Alerts as DetectedIssue, acknowledgement and review as its `mitigation`.

Nothing is invented: an unmeasured value is absent (or `dataAbsentReason` where
the structure needs an element). A corrected entry is exported with status
`corrected`; the entry it replaced stays in the bundle as `entered-in-error`
with a note naming the correction, so a receiver that kept an earlier export can
update by id. Ids are stable UUIDs derived from the session and the row, so
exporting the same session twice gives the same ids.

`write_session_bundle` writes the bundle as it is built, one entry at a time,
compact (no indentation), with the vital-sign sets read from the database in
chunks: a 12-hour 1 Hz session (about 200 000 resources) is never held in
memory, as dicts or as text. `session_bundle` builds the same bundle as dicts
(small sessions, tests).
"""
from __future__ import annotations

import json
import uuid
from hashlib import sha1
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import IO, Any

from ketamon.core.device_sets import NOT_VALIDATED, Verdict, device_verdicts
from ketamon.core.chart import describe_dose, describe_side_effect, describe_vitals
from ketamon.core.models import SIDE_EFFECT_KINDS, Alert, Assessment, DoseEvent, SideEffect, User, VitalSigns
from ketamon.core.report import ASSESSMENT_KINDS, SessionReport, build_report
from ketamon.core.store import Store

_URL_NAMESPACE = uuid.NAMESPACE_URL.bytes


def seed_prefix(seed: str) -> bytes:
    """What uuid5(NAMESPACE_URL, f"{seed}/…") hashes before the parts (kept per bundle)."""
    return _URL_NAMESPACE + (seed + "/").encode()

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
NDC = "http://hl7.org/fhir/sid/ndc"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
SD = "http://hl7.org/fhir/StructureDefinition/"
#: ketamon's own codes, for scales and events LOINC/SNOMED do not name here
KETAMON_CODES = "urn:ketamon:code"
KETAMON_SESSION = "urn:ketamon:session"
KETAMON_USER = "urn:ketamon:user"


def mrn_system() -> str:
    """The clinic's MRN namespace (settings "mrn_system", env KETAMON_MRN_SYSTEM), a URI."""
    from ketamon.core import settings

    return settings.get("mrn_system")


#: vital-sign parameter -> (LOINC code, display, UCUM unit, unit shown, profile)
VITALS = {
    "heart_rate": ("8867-4", "Heart rate", "/min", "beats/minute", "heartrate"),
    "spo2": ("2708-6", "Oxygen saturation in Arterial blood", "%", "%", "oxygensat"),
    "resp_rate": ("9279-1", "Respiratory rate", "/min", "breaths/minute", "resprate"),
    "temperature": ("8310-5", "Body temperature", "Cel", "°C", "bodytemp"),
}
SPO2_PULSE_OX = ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry")
BP_PANEL = ("85354-9", "Blood pressure panel with all children optional")
BP_PARTS = (("systolic", "8480-6", "Systolic blood pressure"), ("diastolic", "8462-4", "Diastolic blood pressure"))
MEAN_BP = ("8478-0", "Mean blood pressure")
VS_PANEL = ("85353-1", "Vital signs, weight, height, head circumference, oxygen saturation and BMI panel")
WEIGHT = ("29463-7", "Body weight")
PHQ9_TOTAL = ("44261-6", "Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]")
#: PHQ-9 items 1..9
PHQ9_ITEMS = ("44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3", "44260-8")

ROUTES = {"nasal": ("46713006", "Nasal route"), "iv": ("47625008", "Intravenous route"),
          "im": ("78421000", "Intramuscular route")}
GENDERS = {"female": "female", "male": "male", "other": "other", "unknown": "unknown"}
ENCOUNTER_STATUS = {"planned": "planned", "pre_dose": "in-progress", "dosing": "in-progress",
                    "monitoring": "in-progress", "recovery": "in-progress", "discharged": "finished",
                    "signed": "finished", "stopped": "finished", "cancelled": "cancelled"}
SEVERITY = {"high": "high", "medium": "moderate", "low": "low"}


def _t(when: datetime) -> str:
    """FHIR dateTime/instant: seconds and a zone (stored times are UTC)."""
    return when.isoformat(timespec="seconds")


def _q(value: float, unit: str, shown: str | None = None) -> dict:
    return {"value": value, "unit": shown or unit, "system": UCUM, "code": unit}


def _cc(system: str, code: str, display: str, text: str | None = None) -> dict:
    cc: dict[str, Any] = {"coding": [{"system": system, "code": code, "display": display}]}
    if text:
        cc["text"] = text
    return cc


def _absent(code: str = "not-performed", display: str = "Not Performed") -> dict:
    return {"coding": [{"system": DATA_ABSENT, "code": code, "display": display}]}


VS_CATEGORY = [{"coding": [{"system": OBS_CATEGORY, "code": "vital-signs", "display": "Vital Signs"}],
                "text": "Vital Signs"}]
SURVEY = [{"coding": [{"system": OBS_CATEGORY, "code": "survey", "display": "Survey"}]}]
EXAM = [{"coding": [{"system": OBS_CATEGORY, "code": "exam", "display": "Exam"}]}]


class BundleBuilder:
    """Makes the bundle's entries in order and hands each to `emit` as it is made
    (default: kept in `entries`). `vitals` are the stored vital-sign sets (every
    row, ordered by id; default the report's), `replaced_by` {superseded id:
    replacing row} and `first_vitals_at` the first in-force set's time, for a
    report built without its vital signs."""

    def __init__(self, report: SessionReport, now: datetime, *, emit: Callable[[dict], None] | None = None,
                 vitals: Iterable[Any] | None = None, replaced_by: dict[int, Any] | None = None,
                 first_vitals_at: datetime | None = None, verdicts: dict[int, Verdict] | None = None):
        self.r = report
        #: the nurse's verdict on each device set (None: not known here, nothing said)
        self.verdicts = verdicts
        self.now = now
        chart = report.chart
        assert chart is not None, "build the report with build_report()"
        self.chart = chart
        s = chart.session
        self.seed = f"ketamon:{chart.patient.mrn}:{_t(s.created_at)}:{s.id}"
        self._seed_prefix = seed_prefix(self.seed)
        self.entries: list[dict] = []
        self.emit = emit or self.entries.append
        if vitals is None:
            vitals = report.all_rows.get("vital_signs", [])
            replaced_by = {r.supersedes_id: r for r in vitals if r.supersedes_id is not None}
            first_vitals_at = min((v.measured_at for v in report.clinical_vitals), default=None)
        self.vital_rows = vitals
        self.vitals_replaced = replaced_by or {}
        self.first_vitals_at = first_vitals_at
        #: sets an alert points at, and those of them that got a panel in the bundle
        self.implicated = {a.source_id for a in chart.alerts if a.source_kind == "vital_signs"}
        self.panels: set[int] = set()
        self.users: dict[int, User] = report.users or chart.users
        self.practitioners: dict[int, str] = {}
        self._who_refs: dict[int, dict] = {}  # a reference per user, made once (ids are hashes)
        self.patient_ref = self.ref("Patient", "patient")
        self.encounter_ref = self.ref("Encounter", "encounter")

    # ids and references
    def uid(self, *parts: Any) -> str:
        """uuid.uuid5(NAMESPACE_URL, seed/parts) as text, made here: uuid5 imports
        hashlib on every call (which PySide6's import hook makes slow), and a 1 Hz
        session asks for 43 200 of them."""
        if not parts:
            return self._uuid(_URL_NAMESPACE + self.seed.encode())
        return self._uuid(self._seed_prefix + "/".join(map(str, parts)).encode())

    @staticmethod
    def _uuid(name: bytes) -> str:
        h = bytearray(sha1(name).digest()[:16])
        h[6] = (h[6] & 0x0F) | 0x50  # version 5
        h[8] = (h[8] & 0x3F) | 0x80  # RFC 4122 variant
        x = h.hex()
        return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"

    def ref(self, kind: str, *parts: Any, display: str | None = None) -> dict:
        out = {"reference": f"urn:uuid:{self.uid(*parts)}", "type": kind}
        if display:
            out["display"] = display
        return out

    def add(self, resource: dict, *parts: Any) -> dict:
        rid = self.uid(*parts)
        resource = {"resourceType": resource.pop("resourceType"), "id": rid, **resource}
        self.emit({"fullUrl": f"urn:uuid:{rid}", "resource": resource})
        return resource

    def who(self, user_id: int | None) -> dict | None:
        """A reference to the Practitioner for a user (added on first use)."""
        if user_id is None or user_id not in self.users:
            return None
        u = self.users[user_id]
        if user_id not in self.practitioners:
            self.add({"resourceType": "Practitioner", "identifier": [{"system": KETAMON_USER, "value": u.username}],
                      "active": bool(u.active), "name": [{"text": u.display_name}]}, "user", u.id)
            self.practitioners[user_id] = u.display_name
            self._who_refs[user_id] = self.ref("Practitioner", "user", u.id, display=u.display_name)
        return dict(self._who_refs[user_id])

    # ---------------------------------------------------------------- resources

    def patient(self) -> None:
        p = self.chart.patient
        self.add({"resourceType": "Patient",
                  "identifier": [{"use": "usual",
                                  "type": _cc(V2_0203, "MR", "Medical record number"),
                                  "system": mrn_system(), "value": p.mrn}],
                  "name": [{"use": "official", "family": p.family_name, "given": p.given_name.split()}],
                  "gender": GENDERS.get(p.sex, "unknown"),
                  "birthDate": p.birth_date.isoformat()}, "patient")

    def encounter(self) -> None:
        s, r = self.chart.session, self.r
        participants = []
        for uid, code, display in ((s.nurse_id, "PPRF", "primary performer"), (s.physician_id, "ATND", "attender")):
            ref = self.who(uid)
            if ref:
                participants.append({"type": [_cc(PARTICIPATION, code, display)], "individual": ref})
        enc: dict[str, Any] = {
            "resourceType": "Encounter",
            "identifier": [{"system": KETAMON_SESSION, "value": str(s.id)}],
            "status": ENCOUNTER_STATUS.get(s.state, "unknown"),
            "class": {"system": ACT_CODE, "code": "AMB", "display": "ambulatory"},
            "type": [{"text": r.protocol_name}],
            "subject": self.patient_ref,
        }
        if participants:
            enc["participant"] = participants
        times = [c.at for c in r.state_changes] + [d.at for d in self.chart.doses]
        if self.first_vitals_at is not None:
            times.append(self.first_vitals_at)
        if times:
            period = {"start": _t(min(times))}
            end = r.discharge.ended_at or next((c.at for c in reversed(r.state_changes)
                                                 if c.to_state == "cancelled"), None)
            if end is not None and ENCOUNTER_STATUS.get(s.state) != "in-progress":
                period["end"] = _t(end)
            enc["period"] = period
        if s.state_reason and s.state in ("stopped", "cancelled"):
            enc["reasonCode"] = [{"text": s.state_reason}]
        self.add(enc, "encounter")

    def _obs(self, *, status: str, category: list, code: dict, effective: datetime | str,
             entered: datetime | str | None,
             performer: int | None, profile: str | None = None, note: list[str] = ()) -> dict:
        obs: dict[str, Any] = {"resourceType": "Observation"}
        if profile:
            obs["meta"] = {"profile": [SD + profile]}
        obs.update({"status": status, "category": category, "code": code, "subject": self.patient_ref,
                    "encounter": self.encounter_ref,
                    "effectiveDateTime": effective if effective.__class__ is str else _t(effective)})
        if entered is not None:
            obs["issued"] = entered if entered.__class__ is str else _t(entered)
        ref = self.who(performer)
        if ref:
            obs["performer"] = [ref]
        notes = [n for n in note if n]
        if notes:
            obs["note"] = [{"text": n} for n in notes]
        return obs

    def _status_and_notes(self, row, replaced_by: dict[int, Any]) -> tuple[str, list[str]]:
        notes = []
        if row.id in replaced_by:
            new = replaced_by[row.id]
            what = "retracted (entered in error)" if new.retracted else "corrected by a later entry"
            notes.append(f"{what}: {new.correction_reason or 'no reason given'}")
            return "entered-in-error", notes
        if row.supersedes_id is not None:
            notes.append(f"Correction of an earlier entry: {row.correction_reason or 'no reason given'}")
            return "corrected", notes
        return "final", notes

    def vitals(self) -> None:
        rows: Iterable[VitalSigns] = self.vital_rows
        replaced_by = self.vitals_replaced
        for v in rows:
            if v.retracted:
                continue  # the retraction itself: shown as the original's status
            status, notes = self._status_and_notes(v, replaced_by)
            verdict = self.verdicts.get(v.id) if v.source == "device" and self.verdicts is not None else None
            if verdict is not None and verdict.verdict == "artefact" and status != "entered-in-error":
                # out of every clinical figure in ketamon (in_force): a receiving system must not use it either
                status = "entered-in-error"
            if v.late:
                notes.append(f"Entered late (measured {_t(v.measured_at)}, entered {_t(v.entered_at)})")
            if v.comment:
                notes.append(v.comment)
            if v.source == "device" and self.verdicts is not None:
                notes.append(NOT_VALIDATED if verdict is None else
                             f"Device, {'validated' if verdict.verdict == 'validated' else 'artefact'} by "
                             f"{verdict.by} at {_t(verdict.at)}"
                             + (f": {verdict.reason}" if verdict.reason else ""))
            # each set's two times formatted once, not once per observation
            common = dict(status=status, category=VS_CATEGORY, effective=_t(v.measured_at),
                          entered=None if v.entered_at is None else _t(v.entered_at), performer=v.entered_by_id)
            members = []
            if v.systolic is not None or v.diastolic is not None:
                components = []
                for attr, code, display in BP_PARTS:
                    value = getattr(v, attr)
                    c: dict[str, Any] = {"code": _cc(LOINC, code, display)}
                    if value is None:
                        c["dataAbsentReason"] = _absent()
                    else:
                        c["valueQuantity"] = _q(value, "mm[Hg]", "mmHg")
                    components.append(c)
                if v.mean_arterial is not None and v.mean_measured:
                    components.append({"code": _cc(LOINC, *MEAN_BP), "valueQuantity": _q(v.mean_arterial, "mm[Hg]",
                                                                                          "mmHg")})
                obs = self._obs(code=_cc(LOINC, *BP_PANEL, text="Blood pressure"), profile="bp",
                                note=notes, **common)
                obs["component"] = components
                if v.source == "device":
                    obs["device"] = {"display": "Patient monitor (device feed)"}
                members.append(_ref_to(self.add(obs, "vital_signs", v.id, "bp")))
            for attr, (code, display, unit, shown, profile) in VITALS.items():
                value = getattr(v, attr)
                if value is None:
                    continue
                cc = _cc(LOINC, code, display, text=display)
                extra = []
                if attr == "spo2":
                    cc["coding"].append({"system": LOINC, "code": SPO2_PULSE_OX[0], "display": SPO2_PULSE_OX[1]})
                    if v.on_oxygen is not None:
                        extra.append("on supplemental oxygen" if v.on_oxygen else "on room air")
                obs = self._obs(code=cc, profile=profile, note=notes + extra, **common)
                obs["valueQuantity"] = _q(value, unit, shown)
                if v.source == "device":
                    obs["device"] = {"display": "Patient monitor (device feed)"}
                members.append(_ref_to(self.add(obs, "vital_signs", v.id, attr)))
            if members:
                panel = self._obs(code=_cc(LOINC, *VS_PANEL, text="Vital signs"), profile="vitalspanel",
                                  note=[describe_vitals(v)] + notes, **common)
                panel["hasMember"] = members
                self.add(panel, "vital_signs", v.id, "panel")
                if v.id in self.implicated:
                    self.panels.add(v.id)

    def weight(self) -> None:
        s = self.chart.session
        if s.dose_weight_kg is None:
            return
        obs = self._obs(status="final", category=VS_CATEGORY, code=_cc(LOINC, *WEIGHT, text="Body weight"),
                        effective=s.created_at, entered=s.created_at, performer=s.created_by_id,
                        profile="bodyweight", note=["weight the dose was computed from"])
        obs["valueQuantity"] = _q(s.dose_weight_kg, "kg")
        self.add(obs, "session", s.id, "weight")

    def _medication(self, lot: str | None) -> dict:
        drug = self.r.drug
        if drug == "esketamine":
            med = {"resourceType": "Medication", "id": "med",
                   "code": _cc(NDC, "50458-028", "Spravato (esketamine) nasal spray",
                               text="Esketamine nasal spray 28 mg per device")}
        else:
            med = {"resourceType": "Medication", "id": "med",
                   "code": {"coding": [{"system": RXNORM, "code": "238082"}],
                            "text": "Ketamine hydrochloride injection"}}
        if lot:
            med["batch"] = {"lotNumber": lot}
        return med

    def _admin(self, *, status: str, lot: str | None, performer: int | None, route: str, dose_mg: float | None,
               rate: float | None = None, notes: list[str] = ()) -> dict:
        ma: dict[str, Any] = {"resourceType": "MedicationAdministration", "status": status,
                              "contained": [self._medication(lot)], "medicationReference": {"reference": "#med"},
                              "subject": self.patient_ref, "context": self.encounter_ref}
        ref = self.who(performer)
        if ref:
            ma["performer"] = [{"actor": ref}]
        dosage: dict[str, Any] = {"route": _cc(SNOMED, *ROUTES[route])}
        if dose_mg is not None:
            dosage["dose"] = _q(dose_mg, "mg")
        if rate is not None:
            dosage["rateQuantity"] = _q(rate, "mg/h")
        ma["dosage"] = dosage
        if [n for n in notes if n]:
            ma["note"] = [{"text": n} for n in notes if n]
        return ma

    def doses(self) -> None:
        rows: list[DoseEvent] = self.r.all_rows.get("dose_event", [])
        replaced_by = {r.supersedes_id: r for r in rows if r.supersedes_id is not None}
        route = self.chart.session.route
        infusion: list[DoseEvent] = []
        for d in rows:
            if d.retracted:
                continue
            if d.kind.startswith("infusion_"):
                if d.id not in replaced_by:
                    infusion.append(d)
                continue
            status, notes = self._status_and_notes(d, replaced_by)
            status = {"final": "completed", "corrected": "completed"}.get(status, status)
            if d.late:
                notes.append(f"Entered late (given {_t(d.at)}, entered {_t(d.entered_at)})")
            notes.insert(0, describe_dose(d))
            ma = self._admin(status=status, lot=d.lot_number or self.chart.session.lot_number,
                             performer=d.entered_by_id, route=route, dose_mg=d.amount_mg, notes=notes)
            ma["effectiveDateTime"] = _t(d.at)
            if d.site:
                ma["dosage"]["site"] = {"text": d.site}
            self.add(ma, "dose_event", d.id)
        if infusion:
            infusion.sort(key=lambda e: e.at)
            status = self.chart.infusion
            start = next((e for e in infusion if e.kind == "infusion_start"), infusion[0])
            state = {"running": "in-progress", "paused": "on-hold", "stopped": "completed"}.get(status.state,
                                                                                                "in-progress")
            ma = self._admin(status=state, lot=self.chart.session.lot_number, performer=start.entered_by_id,
                             route=route, dose_mg=status.delivered_mg, rate=start.rate_mg_per_h,
                             notes=[f"{e.at.astimezone().strftime('%H:%M')} {describe_dose(e)}" for e in infusion]
                             + ["dose = delivered total derived from the infusion events"])
            period = {"start": _t(start.at)}
            if status.stopped_at:
                period["end"] = _t(status.stopped_at)
            ma["effectivePeriod"] = period
            self.add(ma, "infusion", start.id)

    def side_effects(self) -> None:
        rows: list[SideEffect] = self.r.all_rows.get("side_effect", [])
        replaced_by = {r.supersedes_id: r for r in rows if r.supersedes_id is not None}
        for e in rows:
            if e.retracted:
                continue
            status, notes = self._status_and_notes(e, replaced_by)
            if e.text:
                notes.append(e.text)
            scale = e.scale or ""
            label = SIDE_EFFECT_KINDS.get(e.kind, e.kind)
            if e.kind == "sedation":
                code = _cc(KETAMON_CODES, "moaa-s", "Modified Observer's Assessment of Alertness/Sedation (MOAA/S)",
                           text="MOAA/S")
            elif scale == "CADSS-6":
                code = _cc(KETAMON_CODES, "cadss-6", "Clinician-Administered Dissociative States Scale, 6 items",
                           text="CADSS-6")
            elif scale == "NRS-0-10":
                code = _cc(KETAMON_CODES, f"{e.kind}-nrs", f"{label} numeric rating 0–10", text=f"{label} (0–10)")
            elif scale == "severity-0-4":
                code = _cc(KETAMON_CODES, f"{e.kind}-severity", f"{label} severity 0–4", text=f"{label} (0–4)")
            else:
                code = _cc(KETAMON_CODES, e.kind, label, text=label)
            obs = self._obs(status=status, category=SURVEY if e.score is not None else EXAM, code=code,
                            effective=e.observed_at, entered=e.entered_at, performer=e.entered_by_id,
                            note=[describe_side_effect(e)] + notes)
            if e.score is not None and float(e.score).is_integer():
                obs["valueInteger"] = int(e.score)
            elif e.score is not None:
                obs["valueQuantity"] = {"value": e.score}
            else:
                obs["valueBoolean"] = True  # observed
            if e.items:
                items = sorted(e.items.items(), key=lambda x: int(x[0]))
                obs["component"] = [{"code": _cc(KETAMON_CODES, f"cadss-item-{k}", f"CADSS item {k}"),
                                     "valueInteger": int(v)} for k, v in items]
            self.add(obs, "side_effect", e.id)

    def assessments(self) -> None:
        rows: list[Assessment] = self.r.all_rows.get("assessment", [])
        replaced_by = {r.supersedes_id: r for r in rows if r.supersedes_id is not None}
        for a in rows:
            if a.retracted:
                continue
            status, notes = self._status_and_notes(a, replaced_by)
            if a.comment:
                notes.append(a.comment)
            label = ASSESSMENT_KINDS.get(a.kind, (a.kind.replace("_", " ").capitalize(), None))[0]
            items = dict(a.items or {})
            if a.kind == "phq9":
                code = _cc(LOINC, *PHQ9_TOTAL, text="PHQ-9 total score")
                components = [{"code": {"coding": [{"system": LOINC, "code": PHQ9_ITEMS[n - 1]}],
                                        "text": f"PHQ-9 item {n}"}, "valueInteger": int(items[str(n)])}
                              for n in range(1, 10) if items.get(str(n)) is not None]
            else:
                code = _cc(KETAMON_CODES, a.kind, label, text=label)
                components = [c for c in (_component(k, v) for k, v in items.items()) if c]
            obs = self._obs(status=status, category=SURVEY if a.kind == "phq9" else EXAM, code=code,
                            effective=a.at, entered=a.entered_at, performer=a.entered_by_id, note=notes)
            if a.total is not None and a.kind in ("phq9", "aldrete", "padss"):
                obs["valueInteger"] = int(a.total)
            if components:
                obs["component"] = components
            if "valueInteger" not in obs and not components:
                obs["dataAbsentReason"] = _absent("unknown", "Unknown")
            self.add(obs, "assessment", a.id)

    def alerts(self) -> None:
        for a in self.chart.alerts:
            a: Alert
            if a.category != "patient":
                continue  # technical alerts (device feed lost, …) are not part of the patient's record
            issue: dict[str, Any] = {
                "resourceType": "DetectedIssue",
                "identifier": [{"system": "urn:ketamon:alert", "value": str(a.id)}],
                "status": "final",
                "code": {"coding": [{"system": KETAMON_CODES, "code": "alert:" + a.condition_key.split(":")[0],
                                     "display": "ketamon alert"}], "text": a.message},
                "patient": self.patient_ref,
                "identifiedDateTime": _t(a.raised_at),
                "detail": a.message + (f" (cleared {_t(a.cleared_at)})" if a.cleared_at else " (not cleared)"),
            }
            if a.priority in SEVERITY:
                issue["severity"] = SEVERITY[a.priority]
            # only a set that is in the bundle (a set without values has no panel)
            if a.source_kind == "vital_signs" and a.source_id in self.panels:
                issue["implicated"] = [self.ref("Observation", "vital_signs", a.source_id, "panel")]
            mitigation = []
            if a.acknowledged_at:
                m = {"action": {"text": "Acknowledged"}, "date": _t(a.acknowledged_at)}
                ref = self.who(a.acknowledged_by_id)
                if ref:
                    m["author"] = ref
                mitigation.append(m)
            if a.reviewed_at:
                m = {"action": {"text": "Reviewed" + (f": {a.review_comment}" if a.review_comment else "")},
                     "date": _t(a.reviewed_at)}
                ref = self.who(a.reviewed_by_id)
                if ref:
                    m["author"] = ref
                mitigation.append(m)
            if mitigation:
                issue["mitigation"] = mitigation
            self.add(issue, "alert", a.id)

    def make_entries(self) -> None:
        """Every entry, in bundle order, handed to `emit`."""
        self.patient()
        self.encounter()
        self.weight()
        self.vitals()
        self.doses()
        self.side_effects()
        self.assessments()
        self.alerts()

    def head(self) -> dict:
        """The bundle without its entries."""
        return {
            "resourceType": "Bundle",
            "identifier": {"system": KETAMON_SESSION, "value": f"{self.chart.session.id}-{_t(self.now)}"},
            "type": "collection",
            "timestamp": _t(self.now),
        }

    def build(self) -> dict:
        self.make_entries()
        return {**self.head(), "entry": self.entries}

    def write(self, out: IO[str]) -> None:
        """Write the bundle to `out` as compact JSON, each entry as it is made."""
        encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        out.write(encode(self.head())[:-1] + ',"entry":[')
        first = True

        def emit(entry: dict) -> None:
            nonlocal first
            out.write(encode(entry) if first else "," + encode(entry))
            first = False

        self.emit = emit
        self.make_entries()
        out.write("]}\n")


def _ref_to(resource: dict) -> dict:
    """A reference to a resource just added (what `BundleBuilder.ref` gives for it)."""
    return {"reference": f"urn:uuid:{resource['id']}", "type": resource["resourceType"]}


def _component(key: str, value: Any) -> dict | None:
    if key.endswith("_id") or value is None:
        return None
    code = {"coding": [{"system": KETAMON_CODES, "code": key}], "text": key.replace("_", " ")}
    if isinstance(value, bool):
        return {"code": code, "valueBoolean": value}
    if isinstance(value, int):
        return {"code": code, "valueInteger": value}
    if isinstance(value, float):
        return {"code": code, "valueQuantity": {"value": value}}
    if isinstance(value, (list, tuple)):
        return {"code": code, "valueString": ", ".join(map(str, value)) or "none"}
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            when = None
        if when is not None and when.tzinfo is not None and "T" in value:
            return {"code": code, "valueDateTime": _t(when)}
        return {"code": code, "valueString": value}
    return None


def bundle_from_report(report: SessionReport, now: datetime | None = None) -> dict:
    return BundleBuilder(report, now or report.printed_at).build()


def session_bundle(store: Store, session_id: int, now: datetime | None = None) -> dict:
    """The FHIR R4 Bundle of one session (plain JSON-ready dicts; the whole
    bundle in memory: for a long session use `write_session_bundle`)."""
    now = now or store.clock.now()
    report = build_report(store, session_id, now=now)
    return BundleBuilder(report, now, verdicts=device_verdicts(store, session_id)).build()


def write_session_bundle(store: Store, session_id: int, out: IO[str], now: datetime | None = None) -> None:
    """Write the FHIR R4 Bundle of one session to `out`, streamed (see the module doc)."""
    from ketamon.core.stored_vitals import first_in_force_vitals_at, stored_vitals, vitals_replaced

    now = now or store.clock.now()
    report = build_report(store, session_id, now=now, vitals=False)
    replaced_by = vitals_replaced(store, session_id)
    verdicts = device_verdicts(store, session_id)
    BundleBuilder(report, now, vitals=stored_vitals(store, session_id, by_id=True), replaced_by=replaced_by,
                  first_vitals_at=first_in_force_vitals_at(store, session_id, replaced_by, verdicts),
                  verdicts=verdicts).write(out)
