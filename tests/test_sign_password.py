"""Signing a record asks for the signer's password again (issue 10, point 5): a
wrong one is refused in words, nothing is signed, and it counts toward the
account's lock-out as a wrong sign-in does; the right one signs. The printed
summary says what the signature means, who signed and when."""
from datetime import timedelta

from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import select

from ketamon.core import ops
from ketamon.core.auth import AuthPolicy
from ketamon.core.errors import ValidationError
from ketamon.core.models import AuditEntry, User
from ketamon.core.record import load_record
from ketamon.core.report import fmt_datetime
from ketamon.documents import pdf
from ketamon.documents.summary import SIGNATURE_MEANING
from record_helpers import TEST_PASSWORD, to_discharged
from test_documents import pdf_text

import pytest


@pytest.fixture
def discharged(store, nurse, esketamine_session, clock):
    to_discharged(store, nurse, esketamine_session, clock)
    clock.advance(minutes=10)
    return esketamine_session


def doctor_row(store) -> User:
    with store.read() as db:
        return db.scalar(select(User).where(User.username == "doctor"))


def test_a_wrong_password_is_refused_in_words_and_nothing_is_signed(store, actors, discharged):
    with pytest.raises(ValidationError) as refused:
        ops.sign_session(store, actors["physician"], discharged, "doctor-typo")
    assert str(refused.value).startswith("The password is wrong, so signing the record was not done.")
    assert not load_record(store, discharged).signed
    assert doctor_row(store).failed_attempts == 1
    with store.read() as db:
        failed = db.scalars(select(AuditEntry).where(AuditEntry.action == "sign_in_failed")).all()
        refused_rows = db.scalars(select(AuditEntry).where(AuditEntry.action == "refused")).all()
    assert [r.detail.split(",")[0] for r in failed] == ["wrong password (1 of 5)"]
    assert "when confirming signing the record" in failed[0].detail
    assert refused_rows and "doctor-typo" not in refused_rows[-1].detail  # the password is never written down


def test_the_right_password_signs(store, actors, discharged, clock):
    ops.sign_session(store, actors["physician"], discharged, TEST_PASSWORD)
    record = load_record(store, discharged)
    assert record.signed and record.signed_by == "Dr Priya Shah" and record.signed_at == clock.now()


def test_wrong_passwords_lock_the_account_as_at_sign_in(store, actors, discharged, clock, monkeypatch):
    monkeypatch.setattr(AuthPolicy, "for_clinic", classmethod(lambda cls, _s=None: cls(3, 15, 10)))
    for _ in range(3):
        with pytest.raises(ValidationError):
            ops.sign_session(store, actors["physician"], discharged, "guess")
    assert doctor_row(store).locked_until == clock.now() + timedelta(minutes=15)
    # locked: even the right password does not sign until the lock-out ends
    with pytest.raises(ValidationError, match="is locked after too many wrong passwords"):
        ops.sign_session(store, actors["physician"], discharged, TEST_PASSWORD)
    assert not load_record(store, discharged).signed
    clock.advance(minutes=16)
    ops.sign_session(store, actors["physician"], discharged, TEST_PASSWORD)
    assert load_record(store, discharged).signed


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(password=st.one_of(st.text(max_size=40), st.none(), st.integers(), st.just(TEST_PASSWORD + " "),
                          st.just(TEST_PASSWORD.upper())))
def test_no_other_password_signs(store, actors, discharged, clock, password):
    clock.advance(minutes=20)  # past any lock-out the previous examples caused
    with pytest.raises(ValidationError):
        ops.sign_session(store, actors["physician"], discharged, password)
    assert not load_record(store, discharged).signed


def test_the_printed_summary_says_what_the_signature_means_who_and_when(qapp, store, actors, discharged, clock,
                                                                       tmp_path):
    ops.sign_session(store, actors["physician"], discharged, TEST_PASSWORD)
    out = tmp_path / "summary.pdf"
    pdf.write_summary_pdf(store, actors["staff"], discharged, out)
    text = pdf_text(out)
    assert f"{SIGNATURE_MEANING}: Dr Priya Shah, {fmt_datetime(clock.now())}" in text
    assert "the signer confirmed it with their own password" in text
