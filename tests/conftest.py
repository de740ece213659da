"""Shared fixtures. Qt runs offscreen; one QApplication for the whole run
(pytest-qt's qapp). Every store gets a FakeClock so time is driven, not slept."""
from __future__ import annotations

import gc
import os
import shutil
import uuid
from datetime import datetime, timezone

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("KETAMON_DATA_DIR", os.path.join("/tmp", f"ketamon-test-{os.getpid()}"))
# printed and exported files: never into the real documents folder of whoever runs the tests
os.environ.setdefault("KETAMON_DOCUMENTS_DIR", os.path.join("/tmp", f"ketamon-test-{os.getpid()}", "documents"))

import pytest
from sqlalchemy import create_engine, text

from ketamon.core.clock import FakeClock
from ketamon.core.models import Base, User
from ketamon.core.permissions import Actor
from ketamon.core.store import Store, make_engine, migrate
from record_helpers import TEST_PASSWORD, test_password_hash  # noqa: F401  (tests sign with it)

PG_ADMIN_URL = os.environ.get("KETAMON_TEST_PG", "postgresql+psycopg://127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("KETAMON_REQUIRE_POSTGRES") == "1"

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> str:
    """A migrated SQLite file, copied for each test (migrating each time is slow)."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()  # closing the last connection checkpoints the WAL into the file
    return str(path)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture(autouse=True)
def collectable_after_the_test():
    """A window freezes what it builds out of the garbage collector's walks
    (ketamon.gui.heap); once its test is over that is garbage to collect."""
    yield
    gc.unfreeze()


@pytest.fixture
def sqlite_url(sqlite_template, tmp_path) -> str:
    path = tmp_path / "ketamon.sqlite3"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def store(sqlite_url, clock) -> Store:
    s = Store(sqlite_url, clock=clock, run_migrations=False)
    yield s
    s.dispose()


def _pg_reachable() -> bool:
    try:
        eng = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with eng.connect():
            pass
        eng.dispose()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def pg_database():
    """A fresh PostgreSQL database for this test run, migrated once."""
    if not _pg_reachable():
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL is required here (KETAMON_REQUIRE_POSTGRES=1) but {PG_ADMIN_URL} is unreachable")
        pytest.skip("no PostgreSQL reachable")
    name = f"ketamon_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    yield url
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def pg_store(pg_database, clock) -> Store:
    s = Store(pg_database, clock=clock, run_migrations=False)
    with s.engine.begin() as c:
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        c.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield s
    s.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_store(request, clock) -> Store:
    """The same test on SQLite and on PostgreSQL."""
    return request.getfixturevalue("store" if request.param == "sqlite" else "pg_store")


def add_user(store: Store, username: str, role: str, name: str | None = None) -> Actor:
    with store.transaction() as db:
        u = User(username=username, display_name=name or username.title(), role=role,
                 password_hash=test_password_hash(),
                 active=True, failed_attempts=0, created_at=store.clock.now())
        db.add(u)
        db.flush()
        return Actor(u.id, u.username, u.display_name, u.role)


@pytest.fixture
def actors(store) -> dict[str, Actor]:
    return {
        "nurse": add_user(store, "nurse", "nurse", "Sam Carter RN"),
        "physician": add_user(store, "doctor", "physician", "Dr Priya Shah"),
        "staff": add_user(store, "desk", "staff", "Alex Morgan"),
        "admin": add_user(store, "admin", "admin", "Clinic Admin"),
    }


@pytest.fixture
def nurse(actors) -> Actor:
    return actors["nurse"]


@pytest.fixture
def patient_id(store, nurse) -> int:
    from datetime import date

    from ketamon.core import ops

    return ops.create_patient(store, nurse, mrn="MRN-1", family_name="Nguyen", given_name="Lan",
                              birth_date=date(1984, 3, 12), sex="female", weight_kg=61.0).result


@pytest.fixture
def esketamine_session(store, nurse, patient_id, actors) -> int:
    from ketamon.core import ops

    return ops.create_session(store, nurse, patient_id=patient_id, protocol_id="esketamine-56",
                              lot_number="LOT-1", physician_id=actors["physician"].user_id).result


@pytest.fixture
def infusion_session(store, nurse, patient_id, actors) -> int:
    from ketamon.core import ops

    return ops.create_session(store, nurse, patient_id=patient_id, protocol_id="iv-ketamine-0.5",
                              physician_id=actors["physician"].user_id).result


@pytest.fixture
def ready_for_dose(store, nurse):
    """`ready_for_dose(session_id)` records what the first dose needs (ketamon.core
    lifecycle): the pre-dose checklist, a PHQ-9 (all 0) and, unless
    `baseline=False`, a baseline vital-sign set 120/80, HR 72, SpO2 98, RR 14."""
    from ketamon.core import scenario

    def ready(session_id: int, actor: Actor | None = None, *, baseline: bool = True) -> None:
        scenario.ready_for_dose(store, actor or nurse, session_id, baseline=baseline)

    return ready
