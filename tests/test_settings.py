"""Settings are declared once (ketamon.core.settings): typed, validated, documented
from the declaration; clinic-wide settings live in the database, are changed by an
administrator only, audited, and win over a workstation's variable."""
from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings as hyp_settings
from hypothesis import strategies as st
from sqlalchemy import select

from ketamon.core import ops, settings
from ketamon.core.auth import AuthPolicy
from ketamon.core.errors import PermissionDenied, ValidationError
from ketamon.core.models import AuditEntry, ClinicSetting
from ketamon.core.report import clinic_name
from tests.conftest import add_user

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
KETAMON = ROOT / "ketamon"


# ---------------------------------------------------------------- the declaration


def test_a_second_declaration_of_a_name_is_an_error():
    first = settings.SETTINGS["clinic_name"]
    with pytest.raises(ValueError, match="'clinic_name' is declared twice"):
        settings.declare(settings.Setting("clinic_name", settings.Text(), "x", settings.CLINIC, None, "again"))
    with pytest.raises(ValueError, match="KETAMON_PAPER is declared twice"):
        settings.declare(settings.Setting("paper_again", settings.Text(), None, settings.CLINIC, "KETAMON_PAPER",
                                          "again"))
    assert settings.SETTINGS["clinic_name"] is first and "paper_again" not in settings.SETTINGS


def test_every_setting_has_a_type_a_scope_help_and_a_default_that_fits():
    for s in settings.SETTINGS.values():
        assert s.scope in settings.SCOPES and s.help.strip() and s.type.allowed
        assert s.env is None or re.fullmatch(r"KETAMON_[A-Z_]+", s.env)
        if s.default is not None:
            s.type.check(s.default)
    clinic = {s.name for s in settings.clinic_settings()}
    assert clinic == {"clinic_name", "paper", "idle_lock_minutes", "signin_attempts", "lockout_minutes",
                      "alarm_sound", "future_tolerance_minutes", "entry_window_hours", "feed_listen", "feed_host",
                      "feed_port", "feed_silence_seconds"}


def test_no_module_reads_a_ketamon_variable_from_the_environment():
    """Modules read the setting, never os.environ (only ketamon.core.settings reads the
    environment, Qt's own variables included); every KETAMON_ variable the code names is declared."""
    declared = {s.env for s in settings.SETTINGS.values() if s.env}
    offenders = []
    for path in KETAMON.rglob("*.py"):
        if path.name == "settings.py" and path.parent.name == "core":
            continue
        text = path.read_text()
        for m in re.finditer(r"os\.(?:environ|getenv)\b[^\n]*", text):
            offenders.append(f"{path.relative_to(ROOT)}: {m.group(0)}")
        for var in re.findall(r"[\"'](KETAMON_[A-Z_]+)[\"']", text):
            if var not in declared:
                offenders.append(f"{path.relative_to(ROOT)}: undeclared {var}")
    assert offenders == []


# ---------------------------------------------------------------- workstation settings from the environment


@hyp_settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.integers(-10_000, 10_000))
def test_a_whole_number_in_range_is_read_and_one_outside_falls_back(monkeypatch, caplog, value):
    s = settings.SETTINGS["idle_lock_minutes"]
    monkeypatch.setenv(s.env, f" {value} ")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ketamon.core.settings"):
        got = settings.fallback(s).value
    if 0 <= value <= 24 * 60:
        assert got == value and AuthPolicy.from_env().idle_lock_minutes == value
    else:
        assert got == 10 == AuthPolicy.from_env().idle_lock_minutes


@hyp_settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                   min_size=1, max_size=12))
def test_any_text_for_a_switch_is_on_off_or_the_default_with_a_sentence(monkeypatch, raw):
    s = settings.SETTINGS["no_flash"]
    monkeypatch.setenv(s.env, raw)
    word = raw.strip().lower()
    value = settings.get("no_flash")
    if word in ("1", "on", "yes", "true"):
        assert value is True
    elif word in ("0", "off", "no", "false", ""):
        assert value is False
    else:
        assert value is False  # the default
        message = settings.problem(s, raw)
        assert "KETAMON_NO_FLASH" in message and repr(raw) in message and "on or off" in message


def test_a_bad_value_is_logged_once_with_the_variable_the_value_and_what_is_allowed(monkeypatch, caplog):
    monkeypatch.setenv("KETAMON_LOG", "chatty")
    with caplog.at_level(logging.WARNING, logger="ketamon.core.settings"):
        assert settings.get("log") == "WARNING"
        assert settings.get("log") == "WARNING"
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == ["KETAMON_LOG='chatty' is not allowed: KETAMON_LOG takes one of DEBUG, INFO, WARNING, "
                        "ERROR, CRITICAL; using the default (WARNING)."]
    monkeypatch.setenv("KETAMON_LOG", "debug")
    assert settings.get("log") == "DEBUG"


def test_paths_and_lists_of_paths(monkeypatch, tmp_path):
    monkeypatch.setenv("KETAMON_PROTOCOLS", f"{tmp_path / 'a'}:{tmp_path / 'b'}:")
    assert settings.get("protocols") == (tmp_path / "a", tmp_path / "b")
    monkeypatch.delenv("KETAMON_PROTOCOLS")
    assert settings.get("protocols") == ()
    monkeypatch.setenv("KETAMON_DATA_DIR", str(tmp_path))
    assert settings.get("data_dir") == tmp_path


def test_a_clinic_setting_is_not_read_as_a_workstation_one():
    with pytest.raises(ValueError, match="clinic setting"):
        settings.get("clinic_name")
    with pytest.raises(ValueError, match="workstation setting"):
        settings.clinic_value(None, "data_dir")


# ---------------------------------------------------------------- clinic settings in the database


def test_clinic_setting_round_trip(any_store, monkeypatch):
    store, admin = any_store, add_user(any_store, "admin", "admin", "Clinic Admin")
    monkeypatch.setenv("KETAMON_CLINIC_NAME", "Workstation Name")
    entry = settings.clinic_entry(store, "clinic_name")
    assert (entry.value, entry.source) == ("Workstation Name", "workstation")

    changes = ops.set_clinic_setting(store, admin, "clinic_name", "  Harbour Street Clinic ", "new sign on the door")
    assert changes.settings and "Harbour Street Clinic" in changes.message
    entry = settings.clinic_entry(store, "clinic_name")
    assert (entry.value, entry.source, entry.set_by, entry.reason) == (
        "Harbour Street Clinic", "clinic", "Clinic Admin", "new sign on the door")
    assert entry.set_at == store.clock.now()
    assert clinic_name(store) == "Harbour Street Clinic"  # the printed header follows the clinic
    assert clinic_name() == "Workstation Name"  # no database at hand: the workstation's

    ops.set_clinic_setting(store, admin, "signin_attempts", "3", "audit finding 2026-14")
    ops.set_clinic_setting(store, admin, "lockout_minutes", 30, "audit finding 2026-14")
    ops.set_clinic_setting(store, admin, "paper", "letter", "US forms")
    assert AuthPolicy.for_clinic(store) == AuthPolicy(3, 30, 10)
    assert settings.clinic_value(store, "paper") == "Letter"
    ops.set_clinic_setting(store, admin, "paper", None, "back to the locale")
    assert settings.clinic_value(store, "paper") is None

    with store.read() as db:
        rows = list(db.scalars(select(ClinicSetting).where(ClinicSetting.key == "clinic_name")))
        audits = list(db.scalars(select(AuditEntry).where(AuditEntry.action == "setting")))
    assert [r.value for r in rows] == [{"value": "Harbour Street Clinic"}]  # append-only rows
    first = audits[0]
    assert (first.username, first.before, first.after) == (
        "admin", {"clinic_name": "Workstation Name"}, {"clinic_name": "Harbour Street Clinic"})
    assert first.detail == "Clinic name: new sign on the door"


def test_alarm_sound_is_one_setting_whichever_operation_sets_it(any_store):
    from ketamon.core import alarm_sound as alerts

    store, admin = any_store, add_user(any_store, "admin", "admin", "Clinic Admin")
    with store.read() as db:
        assert alerts.sound_enabled(db) == (True, None)
    ops.set_clinic_setting(store, admin, "alarm_sound", False, "visual alarms only")
    with store.read() as db:
        enabled, row = alerts.sound_enabled(db)
    assert enabled is False and row.reason == "visual alarms only"
    ops.set_alarm_sound(store, admin, True, reason="policy reverted")
    assert settings.clinic_value(store, "alarm_sound") is True


def test_only_an_administrator_changes_clinic_settings(store, actors):
    for role in ("nurse", "physician", "staff"):
        with pytest.raises(PermissionDenied, match="may not change the clinic's settings"):
            ops.set_clinic_setting(store, actors[role], "clinic_name", "Nurse's Clinic", "why not")
    assert settings.clinic_entry(store, "clinic_name").source == "default"


@pytest.mark.parametrize("name, value, words", [
    ("idle_lock_minutes", "soon", "Idle lock after: “soon” is not allowed; it takes a whole number from 0 to 1440."),
    ("signin_attempts", 0, "Wrong passwords before lock-out: “0” is not allowed; it takes a whole number from 1 "
                           "to 100."),
    ("paper", "A5", "Paper size: “A5” is not allowed; it takes one of A4, Letter."),
    ("clinic_name", "   ", "Clinic name: “   ” is not allowed; it takes text of 1–120 characters."),
    ("data_dir", "/tmp", "Data folder is set on each workstation (KETAMON_DATA_DIR), not for the clinic."),
    ("colour", "red", "There is no setting 'colour'."),
])
def test_a_bad_clinic_value_names_the_field_the_value_and_what_is_allowed(store, actors, name, value, words):
    with pytest.raises(ValidationError) as err:
        ops.set_clinic_setting(store, actors["admin"], name, value, "testing")
    assert str(err.value) == words
    with store.read() as db:
        assert db.scalar(select(ClinicSetting)) is None


def test_a_change_needs_a_reason(store, actors):
    with pytest.raises(ValidationError, match="reason"):
        ops.set_clinic_setting(store, actors["admin"], "clinic_name", "Harbour", " ")


# ---------------------------------------------------------------- the README


def _readme_table() -> str:
    text = README.read_text()
    m = re.search(r"<!-- settings-table:start -->\n(.*?)<!-- settings-table:end -->", text, re.S)
    assert m, "README.md needs the settings table between its markers"
    return m.group(1)


def test_the_readme_settings_table_is_generated_from_the_declaration():
    assert _readme_table() == settings.markdown(), (
        "regenerate it: python -m ketamon.core.settings --markdown (between the settings-table markers)")


def test_the_markdown_command_prints_the_table():
    out = subprocess.run([sys.executable, "-m", "ketamon.core.settings", "--markdown"], capture_output=True,
                         text=True, check=True, cwd=ROOT).stdout
    assert out == settings.markdown()
    for s in settings.SETTINGS.values():
        assert s.title in out and (s.env is None or s.env in out)
