"""Walk a session through the record's steps headless (test set-up shared by the
record, lock and audit tests): thin names over ketamon.core.scenario, which goes
through the operations."""
from __future__ import annotations

import functools

from ketamon.core import scenario
from ketamon.core.scenario import FULL_ALDRETE  # noqa: F401 (tests import it from here)

BASELINE = dict(systolic=124, diastolic=80, heart_rate=72, spo2=98, resp_rate=14)


def predose(store, nurse, sid) -> None:
    scenario.ready_for_dose(store, nurse, sid, baseline=BASELINE)


def to_recovery(store, nurse, sid, clock):
    """An esketamine 56 mg session dosed and 100 min into monitoring, in recovery.
    Returns the first device's time."""
    return scenario.to_recovery(store, nurse, sid, clock, baseline=BASELINE)


def to_discharged(store, nurse, sid, clock):
    return scenario.to_discharged(store, nurse, sid, clock)


#: every test user's password (one argon2 hash, made once): signing a record asks for it
TEST_PASSWORD = "test-pass-2026"


@functools.lru_cache(maxsize=1)
def test_password_hash() -> str:
    from ketamon.core.passwords import hash_password

    return hash_password(TEST_PASSWORD)


def make_user(store, username: str, role: str, name: str):
    """A user on any store (set-up, as tests/conftest.py's add_user; importing
    `conftest` by name is ambiguous once tests/gui has its own)."""
    from ketamon.core.models import User
    from ketamon.core.permissions import Actor

    with store.transaction() as db:
        u = User(username=username, display_name=name, role=role, password_hash=test_password_hash(), active=True,
                 failed_attempts=0, created_at=store.clock.now())
        db.add(u)
        db.flush()
        return Actor(u.id, u.username, u.display_name, u.role)
