"""`ketamon db upgrade|check|backup`, and the README's "Running a clinic server"
run as written against the local PostgreSQL: its SQL makes a throwaway owner, app
role and database; `ketamon db upgrade` as the owner, `ketamon db check` as the
app role; the app role can chart and can neither change the schema nor delete."""
from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from ketamon.core import ops
from ketamon.core.store import Store
from ketamon.migrations import HEAD
from tests.conftest import PG_ADMIN_URL, add_user

README = Path(__file__).resolve().parents[1] / "README.md"


def ketamon(*args: str, url: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if url is not None:
        env["KETAMON_DATABASE_URL"] = url
    return subprocess.run([sys.executable, "-m", "ketamon", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def server_section() -> str:
    text = README.read_text()
    return text[text.index("### Running a clinic server"):text.index("## Scripting")]


def blocks(section: str, lang: str) -> list[str]:
    return [re.sub(r"^   ", "", b, flags=re.M) for b in re.findall(rf"^ *```{lang}\n(.*?)^ *```", section, re.S | re.M)]


@pytest.fixture
def clinic_server():
    """The README's SQL run as the superuser, its names made unique; dropped after."""
    from tests.conftest import _pg_reachable

    if not _pg_reachable():
        pytest.fail(f"this test needs the local PostgreSQL at {PG_ADMIN_URL}")
    tag = uuid.uuid4().hex[:8]
    names = {"ketamon_owner": f"kt_owner_{tag}", "ketamon_app": f"kt_app_{tag}",
             "ketamon_clinic": f"kt_clinic_{tag}"}
    (sql,) = blocks(server_section(), "sql")
    for readme_name, name in names.items():
        sql = sql.replace(readme_name, name)
    admin = make_url(PG_ADMIN_URL).set(drivername="postgresql")
    run_psql_script(admin, sql)
    host = f"{admin.host}:{admin.port or 5432}"
    yield {role: f"postgresql://{names['ketamon_' + role]}@{host}/{names['ketamon_clinic']}"
           for role in ("owner", "app")}
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{names["ketamon_clinic"]}" WITH (FORCE)')
        c.execute(f'DROP ROLE IF EXISTS "{names["ketamon_app"]}"')
        c.execute(f'DROP ROLE IF EXISTS "{names["ketamon_owner"]}"')


def run_psql_script(admin, sql: str) -> None:
    """Statements ending in `;`, and psql's `\\connect DB`, as psql would run them."""
    conn = psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True)
    try:
        for statement in re.split(r";\s*\n|\n(?=\\connect)", sql):
            statement = statement.strip().rstrip(";")
            if statement.startswith("\\connect"):
                db, rest = statement.split("\n", 1) if "\n" in statement else (statement, "")
                conn.close()
                conn = psycopg.connect(admin.set(database=db.split()[1]).render_as_string(hide_password=False),
                                       autocommit=True)
                statement = rest.strip()
            if statement:
                conn.execute(statement)
    finally:
        conn.close()


def test_the_clinic_server_section_works_as_written(clinic_server, clock):
    section = server_section()
    assert "ketamon db upgrade" in section and "ketamon db check" in section and "sslmode=verify-full" in section
    upgraded = ketamon("db", "upgrade", url=clinic_server["owner"])
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"upgraded from empty to {HEAD}" in upgraded.stdout
    check = ketamon("db", "check", url=clinic_server["app"])
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"schema: {HEAD}, up to date" in check.stdout
    assert "TLS: NOT in use" in check.stdout  # the local test server has no TLS: said, not hidden

    # the app role can do the clinic's work, and no more
    store = Store(clinic_server["app"], clock=clock)  # a workstation's start: the schema is ready
    try:
        nurse = add_user(store, "nurse", "nurse", "Sam Carter RN")
        from datetime import date

        patient = ops.create_patient(store, nurse, mrn="MRN-1", family_name="Nguyen", given_name="Lan",
                                     birth_date=date(1984, 3, 12), sex="female", weight_kg=61.0).result
        session_id = ops.create_session(store, nurse, patient_id=patient, protocol_id="esketamine-56",
                                        lot_number="LOT-1").result
        assert ops.record_vitals(store, nurse, session_id, systolic=128, diastolic=80, heart_rate=72).vitals
    finally:
        store.dispose()
    with psycopg.connect(clinic_server["app"], autocommit=True) as app:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("CREATE TABLE mine (id int)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("DELETE FROM vital_signs")


def test_check_names_the_migrations_still_to_run(clinic_server):
    check = ketamon("db", "check", url=clinic_server["owner"])
    assert check.returncode == 1
    assert "migration(s) to run" in check.stdout and HEAD in check.stdout and "ketamon db upgrade" in check.stdout


def test_backup_copies_a_sqlite_database_in_use(store, nurse, esketamine_session, tmp_path):
    ops.add_note(store, nurse, esketamine_session, "in the copy")
    target = tmp_path / "copy.sqlite3"
    done = ketamon("db", "backup", str(target), url=store.url)
    assert done.returncode == 0, done.stderr
    assert "integrity ok" in done.stdout and target.stat().st_mode & 0o077 == 0
    with sqlite3.connect(target) as copy:
        assert copy.execute("SELECT text FROM notes").fetchall() == [("in the copy",)]
    again = ketamon("db", "backup", str(target), url=store.url)
    assert again.returncode == 1 and "File exists" in again.stderr  # never overwrites


def test_backup_of_a_postgresql_server_shows_pg_dump(clinic_server):
    shown = ketamon("db", "backup", "clinic.dump", url=clinic_server["app"])
    assert shown.returncode == 1
    assert shown.stdout.startswith("pg_dump --format=custom --file clinic.dump postgresql://")
    assert "Running a clinic server" in shown.stdout
