"""Role × operation: every operation exported from ketamon.core.ops, called by a
nurse, a physician, front-desk staff, an administrator and a service account, on a prepared database.

Allowed → never PermissionDenied (and for the operations with a full recipe: it
works, and every audit row it writes names the person who acted).
Refused → PermissionDenied with a message naming the person, their role and what
they may not do; one "refused" row in the audit trail; nothing else changed.

New operations are found by introspection (`run.permission`, set by
`@operation`), so they get their matrix cells automatically; this file also
fails until a new operation's permission is entered in EXPECTED below, so that
someone checks it against issue 3.
"""
from __future__ import annotations

import inspect
import pkgutil
import shutil
from datetime import date

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

import ketamon.core.ops as ops_pkg
from ketamon.core import ops, passwords
from ketamon.core.clock import FakeClock
from ketamon.core.errors import KetamonError, PermissionDenied
from ketamon.core.models import Alert, AuditEntry, Base, DoseEvent, Session, User
from ketamon.core.ops.base import Changes
from ketamon.core.permissions import ROLE_PERMISSIONS, ROLES, Actor, Permission
from ketamon.core.store import Store
from record_helpers import TEST_PASSWORD

P = Permission
#: The permission each operation must declare (issue 3). None: any signed-in user.
EXPECTED: dict[str, Permission | None] = {
    "create_patient": P.REGISTER,
    "update_patient": P.REGISTER,
    "create_session": P.REGISTER,
    "set_lot_number": P.CHART,
    "record_vitals": P.CHART,
    "record_dose": P.CHART,
    "correct_dose": P.CHART,
    "record_side_effect": P.CHART,
    "add_note": P.CHART,
    "record_predose_checklist": P.CHART,
    "record_phq9": P.CHART,
    "record_phq9_followup": P.CHART,
    "start_predose_checks": P.CHART,
    "move_to_recovery": P.CHART,
    "record_discharge_assessment": P.CHART,
    "record_discharge_checklist": P.CHART,
    "discharge": P.CHART,
    "cancel_session": P.CHART,
    "stop_early": P.CHART,
    "sign_session": P.SIGN,
    "add_addendum": P.ADDENDUM,
    "record_predose_decision": P.DECIDE,
    "acknowledge_alert": P.ACKNOWLEDGE,
    "review_alert": P.REVIEW,
    "review_alerts": P.REVIEW,
    "set_patient_limits": P.SET_LIMITS,
    "set_patient_limit_changes": P.SET_LIMITS,
    "set_alarm_sound": P.MANAGE_PROTOCOLS,
    "set_clinic_setting": P.MANAGE_SETTINGS,
    "evaluate_sessions": None,
    "report_technical_problem": None,
    "technical_problem_resolved": P.CHART,
    "record_print": P.PRINT,
    "record_export": P.EXPORT,
    "mark_form_sent": P.PRINT,
    "add_user": P.MANAGE_USERS,
    "disable_user": P.MANAGE_USERS,
    "enable_user": P.MANAGE_USERS,
    "reset_password": P.MANAGE_USERS,
    "sign_out": None,
    "lock_screen": None,
    "change_password": None,
    "place_session": P.REGISTER,
    "register_monitor": P.MANAGE_SETTINGS,
    "store_device_message": P.RECEIVE_DEVICE_DATA,
    "check_device_feeds": P.RECEIVE_DEVICE_DATA,
    "validate_device_set": P.CHART,
    "mark_device_artefact": P.CHART,
}

#: Operations any signed-in user may run, and why. Anything else must declare a permission.
ANY_SIGNED_IN = {
    "sign_out": "everyone may leave",
    "lock_screen": "everyone may lock the screen",
    "change_password": "everyone changes their own password (checked inside against the current one)",
    "evaluate_sessions": "re-checks alert conditions on the clock; no one's clinical act",
    "report_technical_problem": "any workstation reports a failing device or feed",
}

#: Operations the system itself (SYSTEM: the alert timer, the device feed) may run, and why.
SYSTEM_MAY = {
    "evaluate_sessions": "the alert timer re-checks conditions on the clock",
    "report_technical_problem": "the device feed reports that it is lost",
    "technical_problem_resolved": "the device feed reports that it is back (a person needs to chart)",
    "store_device_message": "the app's own monitor listener stores what monitors send",
    "check_device_feeds": "the app's own monitor listener watches for silent monitors",
}

#: Operations a user whose password was reset may run before choosing a new one.
DURING_PASSWORD_CHANGE = {"change_password", "sign_out", "lock_screen"}

#: Public functions of ketamon.core.ops that are not operations, and why.
NOT_OPERATIONS = {
    "operation": "the decorator",
    "current_entries": "a read helper",
    "sign_in": "nobody is signed in yet; audits itself in one transaction",
    "create_first_admin": "first run on a database without users; refuses otherwise",
    "tick": "the alert clock: runs evaluate_sessions (an operation) as the system",
    "receive_device_message": "the device feed's entry point: runs store_device_message (an operation) and "
                              "reports refusals with report_technical_problem (an operation)",
}


def _operations() -> dict[str, object]:
    return {name: obj for name, obj in vars(ops).items()
            if callable(obj) and hasattr(obj, "permission") and hasattr(obj, "body")}


OPERATIONS = _operations()
ROLE_USER = {"nurse": "nurse", "physician": "doctor", "staff": "desk", "admin": "admin", "service": "exports"}


# ---------------------------------------------------------------- the operations are all declared


def test_every_operation_in_the_ops_package_is_exported():
    found = {}
    for info in pkgutil.iter_modules(ops_pkg.__path__, "ketamon.core.ops."):
        module = __import__(info.name, fromlist=["_"])
        for name, obj in vars(module).items():
            if callable(obj) and hasattr(obj, "body") and getattr(obj, "__module__", "") == info.name:
                found[name] = info.name
    missing = {n: m for n, m in found.items() if n not in OPERATIONS}
    assert missing == {}, "re-export these from ketamon/core/ops/__init__.py"


def test_nothing_public_in_ops_changes_data_without_being_an_operation():
    plain = sorted(name for name, obj in vars(ops).items()
                   if inspect.isfunction(obj) and not name.startswith("_") and name not in OPERATIONS)
    assert [n for n in plain if n not in NOT_OPERATIONS] == []


def test_every_operation_declares_a_permission_unless_allowed_for_anyone():
    undeclared = sorted(n for n, f in OPERATIONS.items() if f.permission is None and n not in ANY_SIGNED_IN)
    assert undeclared == []


def test_every_operation_declares_the_permission_issue_3_gives_it():
    unknown = sorted(set(OPERATIONS) - set(EXPECTED))
    assert unknown == [], ("new operation(s): add each to EXPECTED in tests/test_permissions_matrix.py "
                           "with the permission issue 3 gives it")
    wrong = {n: (f.permission, EXPECTED[n]) for n, f in OPERATIONS.items() if f.permission != EXPECTED[n]}
    assert wrong == {}


def test_the_role_table_says_what_the_issue_says():
    can = {role: ROLE_PERMISSIONS[role] for role in ROLES}
    assert {P.CHART, P.ACKNOWLEDGE} <= can["nurse"]
    assert not {P.REVIEW, P.SET_LIMITS, P.SIGN, P.DECIDE, P.MANAGE_USERS, P.MANAGE_PROTOCOLS} & can["nurse"]
    assert can["nurse"] | {P.REVIEW, P.SET_LIMITS, P.SIGN, P.DECIDE} == can["physician"]
    assert can["staff"] == {P.VIEW, P.PRINT, P.EXPORT}
    # scripts print and export, the monitor listener stores device data; never chart or manage
    assert can["service"] == {P.VIEW, P.PRINT, P.EXPORT, P.RECEIVE_DEVICE_DATA}
    assert {P.MANAGE_USERS, P.MANAGE_PROTOCOLS, P.MANAGE_SETTINGS} <= can["admin"]
    assert all(P.MANAGE_SETTINGS not in can[r] for r in ROLES if r != "admin")
    assert not {P.CHART, P.REGISTER, P.ACKNOWLEDGE, P.REVIEW, P.SIGN, P.SET_LIMITS, P.DECIDE,
                P.ADDENDUM} & can["admin"]


# ---------------------------------------------------------------- the prepared database


@pytest.fixture(scope="module")
def world_template(sqlite_template, tmp_path_factory):
    """One prepared database, copied for every cell: users with passwords, a patient,
    an open esketamine session with an alert, an infusion with a dose event, a signed session."""
    path = tmp_path_factory.mktemp("matrix") / "world.sqlite3"
    shutil.copy(sqlite_template, path)
    real_hasher = passwords._hasher
    passwords._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    try:
        store = Store(f"sqlite:///{path}", clock=FakeClock(), run_migrations=False)
        now = store.clock.now()
        ids: dict = {}
        with store.transaction() as db:
            for role, username in ROLE_USER.items():
                db.add(User(username=username, display_name=f"{role.title()} Person", role=role,
                            password_hash=passwords.hash_password(f"{role}-pass-2026"), active=True,
                            failed_attempts=0, created_at=now))
            db.add(User(username="kim", display_name="Kim Lee RN", role="nurse",
                        password_hash=passwords.hash_password("kim-pass-2026"), active=True, failed_attempts=0,
                        created_at=now))
            db.add(User(username="old", display_name="Former Nurse", role="nurse", password_hash=None,
                        active=False, failed_attempts=0, created_at=now))
            db.flush()
            actors = {role: db.scalar(select(User).where(User.username == u)) for role, u in ROLE_USER.items()}
            ids["actors"] = {r: Actor(u.id, u.username, u.display_name, u.role) for r, u in actors.items()}
        nurse = ids["actors"]["nurse"]
        ids["patient"] = ops.create_patient(store, nurse, mrn="MRN-900", family_name="Matrix", given_name="Ada",
                                            birth_date=date(1980, 1, 1), sex="female", weight_kg=70.0).result
        ids["open"] = ops.create_session(store, nurse, patient_id=ids["patient"], protocol_id="esketamine-56",
                                         lot_number="LOT-9").result
        ids["infusion"] = ops.create_session(store, nurse, patient_id=ids["patient"],
                                             protocol_id="iv-ketamine-0.5").result
        ids["signed"] = ops.create_session(store, nurse, patient_id=ids["patient"],
                                           protocol_id="esketamine-56").result
        ops.record_vitals(store, nurse, ids["open"], systolic=192, diastolic=104, heart_rate=88)  # raises an alert
        ops.place_session(store, nurse, ids["open"], "CHAIR1")  # a monitor's data can be routed to it
        with store.transaction() as db:
            # rows as their own operations would leave them; the matrix is about who, not how
            dose = DoseEvent(session_id=ids["infusion"], at=now, entered_at=now, entered_by_id=nurse.user_id,
                             kind="infusion_start", rate_mg_per_h=52.5)
            db.add(dose)
            db.add(DoseEvent(session_id=ids["signed"], at=now, entered_at=now, entered_by_id=nurse.user_id,
                             kind="nasal_device", amount_mg=28))  # its monitoring form can be sent
            db.get(Session, ids["signed"]).state = "signed"
            db.get(Session, ids["infusion"]).state = "monitoring"
            db.flush()
            ids["dose"] = dose.id
            ids["alert"] = db.scalar(select(Alert.id).where(Alert.session_id == ids["open"]).order_by(Alert.id))
        assert ids["alert"] is not None, "the prepared database needs an alert"
        store.dispose()
    finally:
        passwords._hasher = real_hasher
    return str(path), ids


@pytest.fixture
def world(world_template, tmp_path, monkeypatch):
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    src, ids = world_template
    path = tmp_path / "world.sqlite3"
    shutil.copy(src, path)
    store = Store(f"sqlite:///{path}", clock=FakeClock(), run_migrations=False)
    yield store, ids
    store.dispose()


# ---------------------------------------------------------------- how each operation is called

#: one heart rate from the monitor at CHAIR1 (times: now)
MONITOR_MESSAGE = (b"MSH|^~\\&|MON|ICU|KETAMON||||ORU^R01|1|P|2.6\rPV1||O|CHAIR1\rOBR|1\r"
                   b"OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC||72|/min^^UCUM|||||R\r")

#: name -> (call(store, actor, ids) , must an allowed role succeed?)
RECIPES = {
    "create_patient": (lambda s, a, w: ops.create_patient(
        s, a, mrn="MRN-901", family_name="New", given_name="Bo", birth_date=date(1990, 5, 5), sex="male"), True),
    "update_patient": (lambda s, a, w: ops.update_patient(s, a, w["patient"], weight_kg=71.5), True),
    "create_session": (lambda s, a, w: ops.create_session(s, a, patient_id=w["patient"],
                                                          protocol_id="esketamine-84"), True),
    "set_lot_number": (lambda s, a, w: ops.set_lot_number(s, a, w["open"], "LOT-10"), True),
    "record_vitals": (lambda s, a, w: ops.record_vitals(s, a, w["open"], systolic=128, diastolic=80,
                                                        heart_rate=72), True),
    "record_side_effect": (lambda s, a, w: ops.record_side_effect(s, a, w["open"], "nausea", score=2), True),
    "add_note": (lambda s, a, w: ops.add_note(s, a, w["open"], "Comfortable, music on."), True),
    # False: the prepared session is not in a state where it would work (pre-dose gates, discharge
    # criteria, signing); the cell then only asks "refused for the role?"
    "record_dose": (lambda s, a, w: ops.record_dose(s, a, w["infusion"], "infusion_rate", rate_mg_per_h=40),
                    True),
    "correct_dose": (lambda s, a, w: ops.correct_dose(s, a, w["infusion"], w["dose"], reason="rate typed wrong",
                                                      rate_mg_per_h=50.0), True),
    "record_predose_checklist": (lambda s, a, w: ops.record_predose_checklist(
        s, a, w["open"], consent=True, fasting=True, contraindications_reviewed=True, medications_reviewed=True),
        True),
    "record_phq9": (lambda s, a, w: ops.record_phq9(s, a, w["open"], {str(i): 1 for i in range(1, 10)}), True),
    "record_phq9_followup": (lambda s, a, w: ops.record_phq9_followup(s, a, w["open"], "Safety plan reviewed."),
                             False),
    "start_predose_checks": (lambda s, a, w: ops.start_predose_checks(s, a, w["open"]), True),
    "record_predose_decision": (lambda s, a, w: ops.record_predose_decision(
        s, a, w["open"], proceed=True, reason="BP acceptable after rest"), True),
    "move_to_recovery": (lambda s, a, w: ops.move_to_recovery(s, a, w["infusion"]), True),
    "record_discharge_assessment": (lambda s, a, w: ops.record_discharge_assessment(s, a, w["open"], {}),
                                    False),
    "record_discharge_checklist": (lambda s, a, w: ops.record_discharge_checklist(
        s, a, w["infusion"], effects_resolved=True, escort_present=True, instructions_given=True), True),
    "discharge": (lambda s, a, w: ops.discharge(s, a, w["open"]), False),
    "cancel_session": (lambda s, a, w: ops.cancel_session(s, a, w["open"], "patient unwell today"), True),
    "stop_early": (lambda s, a, w: ops.stop_early(s, a, w["infusion"], "patient asked to stop"), True),
    "sign_session": (lambda s, a, w: ops.sign_session(s, a, w["open"], TEST_PASSWORD), False),
    "add_addendum": (lambda s, a, w: ops.add_addendum(s, a, w["signed"], "Called patient next day: well.",
                                                      "follow-up call"), True),
    "acknowledge_alert": (lambda s, a, w: ops.acknowledge_alert(s, a, w["alert"]), True),
    "review_alert": (lambda s, a, w: ops.review_alert(s, a, w["alert"], "Seen; repeat BP in 5 min."), True),
    "review_alerts": (lambda s, a, w: ops.review_alerts(s, a, [w["alert"]], "Seen; repeat BP in 5 min."), True),
    "set_patient_limits": (lambda s, a, w: ops.set_patient_limits(
        s, a, w["patient"], "systolic", "abnormal", low=None, high=170, reason="known hypertension"), True),
    "set_patient_limit_changes": (lambda s, a, w: ops.set_patient_limit_changes(
        s, a, w["patient"], [("systolic", "abnormal", None, 170)], reason="known hypertension"), True),
    "set_alarm_sound": (lambda s, a, w: ops.set_alarm_sound(s, a, False, "silent test of the alarm"), True),
    "set_clinic_setting": (lambda s, a, w: ops.set_clinic_setting(s, a, "clinic_name", "Harbour Clinic",
                                                                  "new name on the door"), True),
    "evaluate_sessions": (lambda s, a, w: ops.evaluate_sessions(s, a, [w["open"]]), True),
    "report_technical_problem": (lambda s, a, w: ops.report_technical_problem(
        s, a, "monitor-feed", "Monitor feed lost"), True),
    "technical_problem_resolved": (lambda s, a, w: ops.technical_problem_resolved(s, a, "monitor-feed"), True),
    "place_session": (lambda s, a, w: ops.place_session(s, a, w["open"], "CHAIR2"), True),
    "store_device_message": (lambda s, a, w: ops.store_device_message(s, a, MONITOR_MESSAGE), True),
    "check_device_feeds": (lambda s, a, w: ops.check_device_feeds(s, a), True),
    "record_print": (lambda s, a, w: ops.record_print(s, a, w["signed"], "summary"), True),
    "record_export": (lambda s, a, w: ops.record_export(s, a, w["signed"], "csv"), True),
    "mark_form_sent": (lambda s, a, w: ops.mark_form_sent(s, a, w["signed"], "fax", "FAX-1"), True),
    "add_user": (lambda s, a, w: ops.add_user(s, a, username="newnurse", display_name="New Nurse", role="nurse",
                                              password="welcome-2026"), True),
    "disable_user": (lambda s, a, w: ops.disable_user(s, a, "kim", reason="left"), True),
    "enable_user": (lambda s, a, w: ops.enable_user(s, a, "old"), True),
    "reset_password": (lambda s, a, w: ops.reset_password(s, a, "kim", "temporary-2026"), True),
    "sign_out": (lambda s, a, w: ops.sign_out(s, a), True),
    "lock_screen": (lambda s, a, w: ops.lock_screen(s, a), True),
    "change_password": (lambda s, a, w: ops.change_password(s, a, f"{a.role}-pass-2026", "brand-new-2026"), True),
}

#: argument names a generic call fills in for an operation without a recipe
_GUESS = {"session_id": "open", "patient_id": "patient", "alert_id": "alert", "dose_id": "dose",
          "supersedes_id": "dose"}


def _generic_call(fn, store, actor, ids):
    """Calls an operation from its signature (ids for *_id, None otherwise). Enough
    for the permission check, which runs before the body looks at anything."""
    args, kwargs = [], {}
    for p in list(inspect.signature(fn.body).parameters.values())[1:]:
        if p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        value = ids.get(_GUESS.get(p.name, ""))
        if p.name == "user":
            value = "kim"
        if p.kind is p.KEYWORD_ONLY:
            kwargs[p.name] = value
        else:
            args.append(value)
    return fn(store, actor, *args, **kwargs)


def _fingerprint(store) -> dict[str, int]:
    """Row counts of every table but the audit trail, plus users' flags: "nothing changed"."""
    with store.read() as db:
        counts = {t.name: db.scalar(select(func.count()).select_from(t)) for t in Base.metadata.sorted_tables
                  if t.name != "audit_log"}
        counts["users"] = tuple(db.execute(select(User.id, User.active, User.password_hash, User.display_name)
                                           .order_by(User.id)).all())
        counts["sessions"] = tuple(db.execute(select(Session.id, Session.state, Session.lot_number)
                                              .order_by(Session.id)).all())
    return counts


def _audit_after(store, last_id):
    with store.read() as db:
        return list(db.scalars(select(AuditEntry).where(AuditEntry.id > last_id).order_by(AuditEntry.id)))


def _last_audit_id(store) -> int:
    with store.read() as db:
        return db.scalar(select(func.max(AuditEntry.id))) or 0


CELLS = [(name, role) for name in sorted(OPERATIONS) for role in ROLES]


@pytest.mark.parametrize("name, role", CELLS, ids=[f"{n}-{r}" for n, r in CELLS])
def test_role_operation_cell(world, name, role):
    store, ids = world
    fn = OPERATIONS[name]
    actor = ids["actors"][role]
    recipe, must_work = RECIPES.get(name, (None, False))
    call = (lambda: recipe(store, actor, ids)) if recipe else (lambda: _generic_call(fn, store, actor, ids))
    allowed = fn.permission is None or fn.permission in ROLE_PERMISSIONS[role]
    before, last = _fingerprint(store), _last_audit_id(store)

    if not allowed:
        with pytest.raises(PermissionDenied) as err:
            call()
        message = str(err.value)
        assert actor.display_name in message and actor.role_label in message and "may not" in message
        (row,) = _audit_after(store, last)
        assert (row.action, row.user_id, row.username) == ("refused", actor.user_id, actor.username)
        assert row.detail.startswith(f"{name}: ")
        assert _fingerprint(store) == before
        return

    try:
        changes = call()
    except PermissionDenied as exc:  # pragma: no cover - the failure this cell exists for
        pytest.fail(f"{role} was refused {name}: {exc}")
    except KetamonError as exc:
        assert not must_work, f"{name} by {role} should work here, but: {exc}"
        return
    except (TypeError, ValueError, AttributeError):
        assert recipe is None, f"the recipe for {name} no longer fits its signature"
        return
    assert isinstance(changes, Changes)
    rows = _audit_after(store, last)
    if changes or _fingerprint(store) != before:
        assert rows, f"{name} changed something without an audit row"
    assert {(r.user_id, r.username) for r in rows} <= {(actor.user_id, actor.username)}
    assert not any(r.action == "refused" for r in rows)


def test_the_matrix_covers_every_operation_and_role():
    assert {n for n, _ in CELLS} == set(OPERATIONS) and len(CELLS) == len(ROLES) * len(OPERATIONS)
    assert set(RECIPES) <= set(OPERATIONS), "a recipe for an operation that no longer exists"


def test_a_refusal_inside_an_operation_is_recorded_too(world, monkeypatch):
    """op.require() for one field of an otherwise allowed operation: refused and audited."""
    from ketamon.core.ops.base import Op, operation

    @operation(P.CHART)
    def chart_with_limits(op: Op, session_id: int) -> None:
        op.require(P.SET_LIMITS, "change this patient's limits")

    store, ids = world
    nurse = ids["actors"]["nurse"]
    last = _last_audit_id(store)
    with pytest.raises(PermissionDenied, match=r"Nurse Person \(Nurse\) may not change this patient's limits"):
        chart_with_limits(store, nurse, ids["open"])
    (row,) = _audit_after(store, last)
    assert row.action == "refused" and row.session_id == ids["open"] and "chart_with_limits" in row.detail


# ---------------------------------------------------------------- who acts comes from the database (issue 9, point 4)


def test_the_system_and_password_change_declarations_say_what_the_tables_here_say():
    assert {n for n, f in OPERATIONS.items() if f.system} == set(SYSTEM_MAY)
    assert {n for n, f in OPERATIONS.items() if f.during_password_change} == DURING_PASSWORD_CHANGE


def _kim(store) -> Actor:
    with store.read() as db:
        u = db.scalar(select(User).where(User.username == "kim"))
        return Actor(u.id, u.username, u.display_name, u.role)


def test_a_nurse_with_a_forged_physician_role_can_do_no_more_than_a_nurse(world):
    store, ids = world
    nurse = ids["actors"]["nurse"]
    forged = Actor(nurse.user_id, nurse.username, nurse.display_name, "physician")
    before, last = _fingerprint(store), _last_audit_id(store)
    for call in (lambda: ops.review_alert(store, forged, ids["alert"], "Seen."),
                 lambda: ops.set_patient_limits(store, forged, ids["patient"], "systolic", "abnormal", low=None,
                                                high=200, reason="forged"),
                 lambda: ops.record_predose_decision(store, forged, ids["open"], proceed=True, reason="forged")):
        with pytest.raises(PermissionDenied, match=r"Nurse Person \(Nurse\) may not"):
            call()
    assert _fingerprint(store) == before
    with store.read() as db:
        alert = db.get(Alert, ids["alert"])
        assert alert.reviewed_at is None
    rows = _audit_after(store, last)
    assert [r.action for r in rows] == ["refused"] * 3 and {r.user_id for r in rows} == {nurse.user_id}


def test_an_actor_with_another_name_is_audited_under_its_user_row(world):
    """The audit names the user the id belongs to, not what the handed Actor claims."""
    store, ids = world
    nurse = ids["actors"]["nurse"]
    forged = Actor(nurse.user_id, "doctor", "Dr Somebody Else", "nurse")
    last = _last_audit_id(store)
    ops.add_note(store, forged, ids["open"], "Resting.")
    assert {(r.user_id, r.username) for r in _audit_after(store, last)} == {(nurse.user_id, nurse.username)}


@pytest.mark.parametrize("role", ["physician", "admin", "nurse"])
def test_an_actor_without_a_user_id_is_refused_everything(world, role):
    store, ids = world
    nobody = Actor(None, "ghost", "Ghost Person", role)
    before = _fingerprint(store)
    for name in ("record_vitals", "review_alert", "sign_out", "add_user", "evaluate_sessions"):
        recipe, _ = RECIPES[name]
        with pytest.raises(PermissionDenied, match="sign in first"):
            recipe(store, nobody, ids)
    assert _fingerprint(store) == before


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_the_system_runs_only_what_it_is_declared_for(world, name):
    from ketamon.core.permissions import SYSTEM

    store, ids = world
    recipe, _ = RECIPES.get(name, (None, False))
    call = (lambda: recipe(store, SYSTEM, ids)) if recipe else (lambda: _generic_call(OPERATIONS[name], store,
                                                                                       SYSTEM, ids))
    if name in SYSTEM_MAY:
        assert isinstance(call(), Changes)
        return
    before = _fingerprint(store)
    with pytest.raises(PermissionDenied, match="The system itself may not"):
        call()
    assert _fingerprint(store) == before


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_a_disabled_account_is_refused_every_operation(world, name):
    """The former nurse's window left open, with any role claimed: nothing works."""
    store, ids = world
    with store.read() as db:
        old = db.scalar(select(User).where(User.username == "old"))
    ghost = Actor(old.id, old.username, old.display_name, "admin")
    recipe, _ = RECIPES.get(name, (None, False))
    call = (lambda: recipe(store, ghost, ids)) if recipe else (lambda: _generic_call(OPERATIONS[name], store,
                                                                                      ghost, ids))
    before, last = _fingerprint(store), _last_audit_id(store)
    with pytest.raises(PermissionDenied, match="disabled or unknown"):
        call()
    assert _fingerprint(store) == before
    (row,) = _audit_after(store, last)
    assert row.action == "refused"


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_a_reset_password_must_be_changed_before_anything_else(world, name):
    """Kim's password was reset by an administrator: until Kim chooses a new one, only
    changing it, signing out and locking the screen work, whatever the screen offers."""
    store, ids = world
    ops.reset_password(store, ids["actors"]["admin"], "kim", "temporary-2026")
    kim = _kim(store)
    if name == "change_password":
        ops.change_password(store, kim, "temporary-2026", "kims-own-2026")
        ops.add_note(store, kim, ids["open"], "Back on the floor.")  # and then charting works again
        return
    recipe, _ = RECIPES.get(name, (None, False))
    call = (lambda: recipe(store, kim, ids)) if recipe else (lambda: _generic_call(OPERATIONS[name], store,
                                                                                    kim, ids))
    if name in DURING_PASSWORD_CHANGE:
        assert isinstance(call(), Changes)
        return
    before = _fingerprint(store)
    with pytest.raises(PermissionDenied, match="must choose a new password"):
        call()
    assert _fingerprint(store) == before


def test_the_front_desk_cannot_clear_a_technical_alarm_but_a_nurse_and_the_feed_can(world):
    from ketamon.core.permissions import SYSTEM

    store, ids = world
    ops.report_technical_problem(store, SYSTEM, "monitor-feed", "Monitor feed lost")
    with pytest.raises(PermissionDenied, match=r"Staff Person \(Front desk\) may not chart clinical entries"):
        ops.technical_problem_resolved(store, ids["actors"]["staff"], "monitor-feed")
    with store.read() as db:
        assert db.scalar(select(Alert).where(Alert.condition_key == "tech:monitor-feed")).cleared_at is None
    assert ops.technical_problem_resolved(store, ids["actors"]["nurse"], "monitor-feed").result == 1
    ops.report_technical_problem(store, SYSTEM, "monitor-feed", "Monitor feed lost")
    assert ops.technical_problem_resolved(store, SYSTEM, "monitor-feed").result == 1
