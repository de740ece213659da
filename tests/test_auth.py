"""Signing in, lock-out, accounts: what a nurse at the sign-in dialog and an
administrator handing out accounts would notice, checked headless."""
from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from ketamon.core import ops, passwords
from ketamon.core.auth import WRONG_CREDENTIALS, AuthPolicy, needs_first_admin
from ketamon.core.errors import AuthenticationError, PermissionDenied, ValidationError
from ketamon.core.models import AuditEntry, User, VitalSigns
from ketamon.core.permissions import Actor

POLICY = AuthPolicy(max_failed_attempts=3, lockout_minutes=15, idle_lock_minutes=10)


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch):
    """argon2id still, with test-sized cost: production parameters take ~50 ms a hash."""
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def admin(actors):
    return actors["admin"]


@pytest.fixture
def lan(store, admin):
    """A nurse with a real password."""
    ops.add_user(store, admin, username="lan", display_name="Lan Tran RN", role="nurse", password="Lan-pass-2026")
    return "lan"


def audit_rows(store, *actions):
    with store.read() as db:
        q = select(AuditEntry).order_by(AuditEntry.id)
        if actions:
            q = q.where(AuditEntry.action.in_(actions))
        return list(db.scalars(q))


def user(store, username):
    with store.read() as db:
        return db.scalar(select(User).where(User.username == username))


def test_production_hasher_is_argon2id(monkeypatch):
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher())  # the real parameters, once
    h = passwords.hash_password("Lan-pass-2026")
    assert h.startswith("$argon2id$") and "Lan-pass-2026" not in h
    assert passwords.verify_password(h, "Lan-pass-2026")
    assert not passwords.verify_password(h, "lan-pass-2026")


def test_new_account_stores_only_an_argon2id_hash(store, lan):
    u = user(store, "lan")
    assert u.password_hash.startswith("$argon2id$") and "Lan-pass-2026" not in u.password_hash
    assert (u.role, u.display_name, u.active) == ("nurse", "Lan Tran RN", True)


def test_sign_in_gives_the_person_and_is_recorded(store, lan, clock):
    signed = ops.sign_in(store, " LAN ", "Lan-pass-2026", policy=POLICY)  # case and spaces forgiven
    assert signed.actor.display_name == "Lan Tran RN" and signed.actor.role == "nurse"
    assert signed.must_change_password is False
    (row,) = audit_rows(store, "sign_in")
    assert row.user_id == signed.actor.user_id and row.username == "lan" and row.at == clock.now()
    assert "Nurse" in row.detail


def test_wrong_password_is_refused_and_recorded_without_the_password(store, lan):
    with pytest.raises(AuthenticationError) as err:
        ops.sign_in(store, "lan", "Lan-pass-2025", policy=POLICY)
    assert str(err.value) == WRONG_CREDENTIALS
    (row,) = audit_rows(store, "sign_in_failed")
    assert row.username == "lan" and "wrong password (1 of 3)" in row.detail
    assert "Lan-pass-2025" not in str([row.detail, row.before, row.after])
    assert user(store, "lan").failed_attempts == 1


def test_unknown_user_gets_the_same_message_and_the_name_is_not_kept(store, lan):
    """People type their password into the user-name box; that must not be stored."""
    with pytest.raises(AuthenticationError) as err:
        ops.sign_in(store, "Lan-pass-2026", "lan", policy=POLICY)
    assert str(err.value) == WRONG_CREDENTIALS
    (row,) = audit_rows(store, "sign_in_failed")
    assert row.user_id is None and row.username is None and "unknown user name" in row.detail
    assert "lan-pass-2026" not in (row.detail or "").lower()


def test_lock_out_after_n_wrong_passwords_then_time_lifts_it(store, lan, clock):
    for _ in range(2):
        with pytest.raises(AuthenticationError, match="Wrong user name or password"):
            ops.sign_in(store, "lan", "guess-guess", policy=POLICY)
    with pytest.raises(AuthenticationError, match="locked after too many wrong passwords") as err:
        ops.sign_in(store, "lan", "guess-guess", policy=POLICY)
    until = (clock.now() + timedelta(minutes=15)).astimezone().strftime("%H:%M")
    assert until in str(err.value)
    (locked,) = audit_rows(store, "locked_out")
    assert locked.username == "lan" and "15 minutes" in locked.detail
    # the right password does not help while locked, and the attempt is recorded
    clock.advance(minutes=14)
    with pytest.raises(AuthenticationError, match="locked"):
        ops.sign_in(store, "lan", "Lan-pass-2026", policy=POLICY)
    assert "account locked" in audit_rows(store, "sign_in_failed")[-1].detail
    clock.advance(minutes=1, seconds=1)
    assert ops.sign_in(store, "lan", "Lan-pass-2026", policy=POLICY).actor.username == "lan"
    u = user(store, "lan")
    assert u.failed_attempts == 0 and u.locked_until is None


def test_a_good_sign_in_starts_the_count_again(store, lan):
    for password in ("nope-nope", "nope-nope", "Lan-pass-2026", "nope-nope", "nope-nope"):
        try:
            ops.sign_in(store, "lan", password, policy=POLICY)
        except AuthenticationError as exc:
            assert str(exc) == WRONG_CREDENTIALS
    assert audit_rows(store, "locked_out") == []
    assert ops.sign_in(store, "lan", "Lan-pass-2026", policy=POLICY).actor.username == "lan"


def test_policy_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("KETAMON_SIGNIN_ATTEMPTS", "4")
    monkeypatch.setenv("KETAMON_LOCKOUT_MINUTES", "30")
    monkeypatch.setenv("KETAMON_IDLE_LOCK_MINUTES", "2")
    assert AuthPolicy.from_env() == AuthPolicy(4, 30, 2)
    monkeypatch.setenv("KETAMON_IDLE_LOCK_MINUTES", "soon")
    assert AuthPolicy.from_env().idle_lock_minutes == 10  # nonsense falls back to the default


def test_disabled_account_cannot_sign_in_but_keeps_its_entries(store, lan, admin, esketamine_session):
    lan_actor = ops.sign_in(store, "lan", "Lan-pass-2026", policy=POLICY).actor
    vid = ops.record_vitals(store, lan_actor, esketamine_session, heart_rate=80).result
    ops.disable_user(store, admin, "lan", reason="left the clinic")
    with pytest.raises(AuthenticationError, match="disabled"):
        ops.sign_in(store, "lan", "Lan-pass-2026", policy=POLICY)
    with store.read() as db:
        assert db.get(VitalSigns, vid).entered_by.display_name == "Lan Tran RN"
    (row,) = audit_rows(store, "disable")
    assert row.before["active"] is True and row.after["active"] is False and row.detail == "left the clinic"
    ops.enable_user(store, admin, "lan")
    assert ops.sign_in(store, "lan", "Lan-pass-2026", policy=POLICY).actor.username == "lan"


def test_the_last_administrator_and_oneself_cannot_be_disabled(store, admin, actors):
    with pytest.raises(ValidationError, match="your own account"):
        ops.disable_user(store, admin, "admin")
    operator = Actor(None, "cli:root", "root (command line)", "admin")
    with pytest.raises(ValidationError, match="last active administrator"):
        ops.disable_user(store, operator, "admin")
    ops.add_user(store, admin, username="it", display_name="IT Desk", role="admin", password="it-desk-pass")
    ops.disable_user(store, operator, "admin")
    assert user(store, "admin").active is False


def test_a_disabled_account_left_signed_in_can_do_nothing_more(store, lan, admin, esketamine_session):
    """The window of someone disabled meanwhile is still open: every operation checks."""
    lan_actor = ops.sign_in(store, "lan", "Lan-pass-2026", policy=POLICY).actor
    ops.disable_user(store, admin, "lan")
    with pytest.raises(PermissionDenied, match="disabled"):
        ops.record_vitals(store, lan_actor, esketamine_session, heart_rate=80)
    with store.read() as db:
        assert db.scalars(select(VitalSigns)).all() == []
    assert audit_rows(store, "refused")[-1].session_id == esketamine_session


def test_reset_password_lifts_the_lock_and_asks_for_a_new_one(store, lan, admin):
    for _ in range(3):
        with pytest.raises(AuthenticationError):
            ops.sign_in(store, "lan", "guess-guess", policy=POLICY)
    ops.reset_password(store, admin, "lan", "Temporary-1")
    signed = ops.sign_in(store, "lan", "Temporary-1", policy=POLICY)
    assert signed.must_change_password is True
    with pytest.raises(ValidationError, match="current password is wrong"):
        ops.change_password(store, signed.actor, "Temporary-2", "Lan-new-pass")
    with pytest.raises(ValidationError, match="at least 8"):
        ops.change_password(store, signed.actor, "Temporary-1", "short")
    ops.change_password(store, signed.actor, "Temporary-1", "Lan-new-pass")
    assert ops.sign_in(store, "lan", "Lan-new-pass", policy=POLICY).must_change_password is False
    with pytest.raises(AuthenticationError):
        ops.sign_in(store, "lan", "Temporary-1", policy=POLICY)


def test_account_rules_give_messages_an_administrator_understands(store, admin, lan):
    cases = [
        (dict(username="lan", display_name="Other Lan", role="nurse", password="long-enough"), "already taken"),
        (dict(username="x", display_name="X", role="nurse", password="long-enough"), "2–64 characters"),
        (dict(username="kim", display_name=" ", role="nurse", password="long-enough"), "name as it should appear"),
        (dict(username="kim", display_name="Kim", role="surgeon", password="long-enough"), "Role must be one of"),
        (dict(username="kim", display_name="Kim", role="nurse", password="kim"), "at least 8"),
        (dict(username="kimberley", display_name="Kim", role="nurse", password="Kimberley"), "cannot be the user"),
    ]
    for kwargs, words in cases:
        with pytest.raises(ValidationError, match=words):
            ops.add_user(store, admin, **kwargs)


def test_only_administrators_manage_accounts_and_refusals_are_recorded(store, actors, lan):
    for role in ("nurse", "physician", "staff"):
        with pytest.raises(PermissionDenied, match="may not manage users"):
            ops.add_user(store, actors[role], username="kim", display_name="Kim", role="admin",
                         password="long-enough")
        with pytest.raises(PermissionDenied):
            ops.reset_password(store, actors[role], "lan", "new-password")
    refused = audit_rows(store, "refused")
    assert len(refused) == 6 and {r.username for r in refused} == {"nurse", "doctor", "desk"}
    assert user(store, "kim") is None


def test_audit_of_accounts_never_holds_a_password_or_its_hash(store, lan, admin):
    ops.reset_password(store, admin, "lan", "Temporary-1")
    rows = audit_rows(store, "create", "reset_password")
    assert rows and all("password_hash" not in (r.after or {}) and "password_hash" not in (r.before or {})
                        for r in rows)
    text = repr([(r.detail, r.before, r.after) for r in audit_rows(store)])
    assert "$argon2" not in text and "Temporary-1" not in text and "Lan-pass-2026" not in text


def test_first_run_creates_the_administrator_once(store):
    assert needs_first_admin(store)
    boss = ops.create_first_admin(store, username="Boss", display_name="Clinic Manager", password="first-admin-pw")
    assert (boss.username, boss.role) == ("boss", "admin")
    assert not needs_first_admin(store)
    (row,) = audit_rows(store, "create")
    assert row.user_id == boss.user_id and "first run" in row.detail
    with pytest.raises(AuthenticationError, match="already has user accounts"):
        ops.create_first_admin(store, username="mallory", display_name="M", password="sneaky-admin")
    assert user(store, "mallory") is None


def test_a_database_with_users_but_no_admin_does_not_offer_first_run(store, actors):
    assert not needs_first_admin(store)


def test_every_entry_carries_the_signed_in_user_including_after_a_switch(store, lan, admin, esketamine_session):
    ops.add_user(store, admin, username="kim", display_name="Kim Lee RN", role="nurse", password="Kim-pass-2026")
    first = ops.sign_in(store, "lan", "Lan-pass-2026", policy=POLICY).actor
    ops.record_vitals(store, first, esketamine_session, heart_rate=80)
    ops.sign_out(store, first, reason="switched user")
    second = ops.sign_in(store, "kim", "Kim-pass-2026", purpose="switch", policy=POLICY).actor
    ops.record_vitals(store, second, esketamine_session, heart_rate=84)
    with store.read() as db:
        rows = db.scalars(select(VitalSigns).order_by(VitalSigns.id)).all()
        assert [(v.heart_rate, v.entered_by.display_name) for v in rows] == [(80, "Lan Tran RN"),
                                                                              (84, "Kim Lee RN")]
    trail = [(r.action, r.username) for r in audit_rows(store, "sign_in", "sign_out", "create")
             if r.entity in ("user", "vital_signs")]
    assert trail[-5:] == [("sign_in", "lan"), ("create", "lan"), ("sign_out", "lan"), ("sign_in", "kim"),
                          ("create", "kim")]
    assert "switched user" in audit_rows(store, "sign_in")[-1].detail


def test_unlocking_the_screen_is_a_sign_in_and_wrong_passwords_count(store, lan):
    actor = ops.sign_in(store, "lan", "Lan-pass-2026", policy=POLICY).actor
    ops.lock_screen(store, actor, reason="idle for 10 minutes")
    for _ in range(3):
        with pytest.raises(AuthenticationError):
            ops.sign_in(store, "lan", "not-it-at-all", purpose="unlock", policy=POLICY)
    assert len(audit_rows(store, "locked_out")) == 1
    assert [r.action for r in audit_rows(store, "screen_locked", "unlock")] == ["screen_locked"]


def test_sign_in_logs_nothing_secret(store, lan, caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthenticationError):
        ops.sign_in(store, "lan", "Typo-pass-2026", policy=POLICY)
    ops.sign_in(store, "lan", "Lan-pass-2026", policy=POLICY)
    assert "Typo-pass-2026" not in caplog.text and "Lan-pass-2026" not in caplog.text


def test_sign_in_and_lock_out_behave_the_same_on_both_databases(any_store, clock):
    boss = ops.create_first_admin(any_store, username="boss", display_name="Clinic Manager", password="Boss-pass-2026")
    ops.add_user(any_store, boss, username="lan", display_name="Lan Tran RN", role="nurse", password="Lan-pass-2026")
    for _ in range(2):
        with pytest.raises(AuthenticationError, match="Wrong user name or password"):
            ops.sign_in(any_store, "lan", "guess-guess", policy=POLICY)
    with pytest.raises(AuthenticationError, match="locked"):
        ops.sign_in(any_store, "lan", "guess-guess", policy=POLICY)
    clock.advance(minutes=16)
    assert ops.sign_in(any_store, "lan", "Lan-pass-2026", policy=POLICY).actor.username == "lan"
    assert [r.action for r in audit_rows(any_store, "sign_in_failed", "locked_out", "sign_in")] == [
        "sign_in_failed", "sign_in_failed", "sign_in_failed", "locked_out", "sign_in"]
    with any_store.read() as db:
        from ketamon.core.audit import verify

        assert verify(db).ok  # the chain holds across sign-ins and refusals
