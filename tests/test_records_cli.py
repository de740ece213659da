"""`ketamon report` and `ketamon export` from the command line: the files are
written, prints and exports are audited under the account that signed in with its
password, refusals write nothing and exit non-zero."""
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import select

from argon2 import PasswordHasher

from ketamon.cli import main
from ketamon.core import passwords
from ketamon.core.models import AuditEntry, User
from records_data import full_session

#: each prepared account's password (the conftest accounts have none)
PASSWORDS = {"nurse": "nurse-pass-2026", "doctor": "doctor-pass-2026", "desk": "desk-pass-2026",
             "admin": "admin-pass-2026"}


def with_passwords(store) -> None:
    with store.transaction() as db:
        for user in db.scalars(select(User)):
            if user.username in PASSWORDS:
                user.password_hash = passwords.hash_password(PASSWORDS[user.username])


@pytest.fixture
def charted(qapp, store, clock, actors, esketamine_session, monkeypatch):
    """A signed session; qapp so that printing finds the test's QApplication."""
    monkeypatch.delenv("KETAMON_USER", raising=False)
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    full_session(store, clock, actors, esketamine_session)
    with_passwords(store)
    return esketamine_session


@pytest.fixture
def password_for(monkeypatch):
    """`password_for("desk")`: the next --password-stdin reads desk's password."""
    def give(username: str) -> None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORDS[username] + "\n"))
    return give


def as_user(username: str) -> list[str]:
    return ["--user", username, "--password-stdin"]


def audit(store, action):
    with store.read() as db:
        return list(db.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout


def test_report_prints_the_summary_as_the_front_desk_signed_in(store, sqlite_url, charted, tmp_path, capsys,
                                                               password_for):
    out = tmp_path / "summary.pdf"
    password_for("desk")
    assert main(["--db", sqlite_url, "report", str(charted), "--pdf", str(out), *as_user("desk")]) == 0
    said = capsys.readouterr().out
    assert f"Session summary of session {charted}:" in said and "(A4)" in said and str(out) in said
    text = pdf_text(out)
    assert "NGUYEN, Lan" in text and "MRN-1" in text and "Printed by Alex Morgan (Front desk)" in text
    (row,) = audit(store, "print")
    assert row.username == "desk" and row.session_id == charted and str(out) in row.detail
    assert [r.username for r in audit(store, "sign_in")] == ["desk"]
    assert [r.username for r in audit(store, "sign_out")] == ["desk"]


def test_report_form_on_letter_as_a_named_user(store, sqlite_url, charted, tmp_path, capsys, password_for):
    out = tmp_path / "form.pdf"
    password_for("nurse")
    assert main(["--db", sqlite_url, "report", str(charted), "--pdf", str(out), "--form", "--letter",
                 *as_user("nurse")]) == 0
    assert "Esketamine monitoring form" in capsys.readouterr().out
    text = pdf_text(out)
    assert "Esketamine Monitoring Form" in text and "Printed by Sam Carter RN (Nurse)" in text
    (row,) = audit(store, "print")
    assert row.username == "nurse" and row.detail.startswith("Esketamine monitoring form")


def test_export_fhir_csv_and_form(store, sqlite_url, charted, tmp_path, password_for):
    fhir, table, form = tmp_path / "b.json", tmp_path / "v.csv", tmp_path / "f.json"
    for option, path in (("--fhir", fhir), ("--csv", table), ("--form-json", form)):
        password_for("desk")
        assert main(["--db", sqlite_url, "export", str(charted), option, str(path), *as_user("desk")]) == 0
    bundle = Bundle.model_validate(json.loads(fhir.read_text()))
    assert any(e.resource.__resource_type__ == "MedicationAdministration" for e in bundle.entry)
    rows = list(csv.DictReader(io.StringIO(table.read_text())))
    assert [r["systolic"] for r in rows if r["record"] == "vital_signs" and r["status"] == "in force"][:2] == \
        ["128", "166"]
    data = json.loads(form.read_text())
    assert data["form_version"] == 2 and set(data["missing"]) == {"rems_enrolment", "first_treatment",
                                                                  "serious_adverse_event"}  # completed by hand
    assert [r.detail.split(" → ")[0] for r in audit(store, "export")] == [
        "FHIR R4 bundle", "CSV of vital signs and events", "Monitoring form data (JSON)"]


def test_export_to_standard_output(sqlite_url, charted, capsys, password_for):
    password_for("desk")
    assert main(["--db", sqlite_url, "export", str(charted), "--csv", "-", *as_user("desk")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("session_id,mrn,record,") and "Nasal device 1 given" in out


def test_refusals_write_nothing(store, sqlite_url, charted, tmp_path, capsys, monkeypatch, password_for):
    out = tmp_path / "x.json"
    password_for("admin")
    assert main(["--db", sqlite_url, "export", str(charted), "--fhir", str(out), *as_user("admin")]) == 1
    assert "may not export session records" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.StringIO("anything\n"))
    assert main(["--db", sqlite_url, "export", str(charted), "--fhir", str(out), *as_user("nobody")]) == 1
    assert "user name or password" in capsys.readouterr().err.lower()
    password_for("desk")
    assert main(["--db", sqlite_url, "export", "999", "--fhir", str(out), *as_user("desk")]) == 1
    assert "There is no session 999" in capsys.readouterr().err
    monkeypatch.setenv("KETAMON_USER", "admin")
    password_for("admin")
    assert main(["--db", sqlite_url, "report", str(charted), "--pdf", str(tmp_path / "x.pdf"),
                 "--password-stdin"]) == 1
    assert "may not print" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "x.pdf").exists()
    assert audit(store, "export") == [] and audit(store, "print") == []
    assert len(audit(store, "refused")) == 2


def test_form_export_of_a_session_that_needs_none(sqlite_url, store, infusion_session, tmp_path, capsys, actors,
                                                  password_for, monkeypatch):
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    with_passwords(store)
    out = tmp_path / "f.json"
    password_for("desk")
    assert main(["--db", sqlite_url, "export", str(infusion_session), "--form-json", str(out),
                 *as_user("desk")]) == 1
    assert "does not need an esketamine monitoring form" in capsys.readouterr().err
    assert not out.exists()


def test_report_runs_headless_as_its_own_process(sqlite_url, charted, tmp_path):
    """No display and no Qt platform set: the command still writes the PDF."""
    out = tmp_path / "s.pdf"
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    root = Path(__file__).resolve().parents[1]
    env["PYTHONPATH"] = str(root) + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run([sys.executable, "-m", "ketamon", "--db", sqlite_url, "report", str(charted),
                             "--pdf", str(out), "--letter", "--user", "desk", "--password-stdin"],
                            input=PASSWORDS["desk"] + "\n", capture_output=True, text=True, env=env,
                            timeout=120, cwd=root)
    assert result.returncode == 0, result.stderr
    assert "(Letter)" in result.stdout and "NGUYEN, Lan" in pdf_text(out)


@pytest.mark.parametrize("command", [["report", "--pdf", "s.pdf"], ["report", "--pdf", "f.pdf", "--form"],
                                     ["export", "--csv", "v.csv"], ["export", "--fhir", "b.json"]])
def test_the_command_line_never_loads_the_gui(sqlite_url, charted, tmp_path, command):
    """Printing and exporting from the command line load neither the GUI package
    nor QtWidgets (a server or a script has no widgets to offer)."""
    verb, *rest = command
    args = ["--db", sqlite_url, verb, str(charted), "--user", "desk", "--password-stdin"] + [
        str(tmp_path / a) if "." in a else a for a in rest]
    code = (
        "import io, sys\n"
        f"sys.stdin = io.StringIO({PASSWORDS['desk'] + chr(10)!r})\n"
        "from ketamon.cli import main\n"
        f"rc = main({args!r})\n"
        "gui = sorted(m for m in sys.modules if m == 'ketamon.gui' or m.startswith('ketamon.gui.')"
        " or m.startswith('PySide6.QtWidgets') or m.startswith('PySide6.QtPrintSupport') or m == 'pyqtgraph')\n"
        "print('LOADED', gui)\n"
        "sys.exit(rc or (1 if gui else 0))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["QT_QPA_PLATFORM"] = "offscreen"
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                            cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "LOADED []" in result.stdout
    assert (tmp_path / rest[1]).stat().st_size > 0


def test_files_default_to_the_documents_folder_named_from_patient_session_and_date_owner_only(
        store, sqlite_url, charted, tmp_path, capsys, password_for, monkeypatch):
    """No file name: the workstation's documents folder, never the current directory;
    every file (given a name or not) is readable by its owner only, whatever the umask."""
    import stat

    from ketamon.core.models import Session

    folder = tmp_path / "documents"
    monkeypatch.setenv("KETAMON_DOCUMENTS_DIR", str(folder))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    with store.read() as db:
        day = f"{db.get(Session, charted).scheduled_at.astimezone():%Y-%m-%d}"
    stem = f"ketamon-MRN-1-session{charted}-{day}"
    old = os.umask(0o022)
    try:
        password_for("desk")
        assert main(["--db", sqlite_url, "report", str(charted), *as_user("desk")]) == 0
        password_for("desk")
        assert main(["--db", sqlite_url, "export", str(charted), "--csv", *as_user("desk")]) == 0
        password_for("desk")
        named = tmp_path / "named.json"
        assert main(["--db", sqlite_url, "export", str(charted), "--fhir", str(named), *as_user("desk")]) == 0
    finally:
        os.umask(old)
    summary, vitals = folder / f"{stem}-summary.pdf", folder / f"{stem}-vitals.csv"
    assert str(summary) in capsys.readouterr().out
    assert summary.read_bytes().startswith(b"%PDF") and vitals.read_text().strip()
    assert list(cwd.iterdir()) == []  # nothing in the current directory
    for path in (summary, vitals, named):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
