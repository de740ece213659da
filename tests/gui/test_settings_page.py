"""The Settings page: an administrator changes a clinic-wide setting with a reason
(stored, audited, shown with who and when); anyone else is refused with a sentence;
a value that does not fit is refused naming the field, the value and what is allowed."""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from sqlalchemy import select

from ketamon.core import ops, settings
from ketamon.core.models import AuditEntry, ClinicSetting
from ketamon.core.report import clinic_name
from ketamon.gui.runner import OpRunner
from ketamon.gui.settings_page import SettingsPage


@pytest.fixture
def page_as(qtbot, store, actors):
    def open_(role: str) -> SettingsPage:
        runner = OpRunner(store, actors[role])
        page = SettingsPage(runner)
        runner.setParent(page)
        qtbot.addWidget(page)
        page.resize(900, 640)
        page.show()
        qtbot.waitExposed(page)
        page.activateWindow()
        return page

    return open_


def _type(qtbot, widget, text: str) -> None:
    widget.selectAll()
    qtbot.keyClicks(widget, text) if text else widget.clear()


def test_an_administrator_renames_the_clinic_and_sees_who_and_when(qtbot, page_as, store, monkeypatch):
    monkeypatch.delenv("KETAMON_CLINIC_NAME", raising=False)
    page = page_as("admin")
    name = page.fields["clinic_name"]
    assert name.editor.text() == "Ketamine Treatment Clinic"
    assert name.source.text() == "Not set for the clinic: the default applies."
    assert page.note.isHidden()  # an administrator is not told they may not

    _type(qtbot, name.editor, "Harbour Street Clinic")
    qtbot.keyClicks(page.reason, "new sign on the door")
    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)

    assert page.message.text() == "✓ Clinic name for the clinic: Harbour Street Clinic"
    assert not page.message.is_refusal
    assert clinic_name(store) == "Harbour Street Clinic"  # what the next printout says
    when = store.clock.now().astimezone().strftime("%d %b %Y %H:%M")
    assert name.source.text() == f"Set by Clinic Admin, {when}: new sign on the door"
    assert page.reason.text() == ""
    with store.read() as db:
        (audit,) = db.scalars(select(AuditEntry).where(AuditEntry.action == "setting"))
    assert audit.username == "admin" and audit.after == {"clinic_name": "Harbour Street Clinic"}


def test_typed_editors_save_numbers_switches_and_choices(qtbot, page_as, store):
    page = page_as("admin")
    page.fields["idle_lock_minutes"].editor.setValue(5)
    page.fields["alarm_sound"].editor.setChecked(False)
    page.fields["paper"].editor.setCurrentText("Letter")
    qtbot.keyClicks(page.reason, "clinic policy 12")
    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    assert not page.message.is_refusal, page.message.text()
    assert [settings.clinic_value(store, n) for n in ("idle_lock_minutes", "alarm_sound", "paper")] == [
        5, False, "Letter"]
    assert page.fields["paper"].source.text().startswith("Set by Clinic Admin")
    assert page.fields["clinic_name"].source.text().startswith("Not set for the clinic")  # untouched, not saved


def test_a_nurse_is_refused_with_a_sentence_and_nothing_changes(qtbot, page_as, store):
    page = page_as("nurse")
    assert page.note.isVisible()
    _type(qtbot, page.fields["clinic_name"].editor, "Nurse's Clinic")
    qtbot.keyClicks(page.reason, "why not")
    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    assert page.message.is_refusal
    assert page.message.text() == "Not saved: Sam Carter RN (Nurse) may not change the clinic's settings."
    assert page.fields["clinic_name"].editor.text() == "Nurse's Clinic"  # what was typed stays
    with store.read() as db:
        assert db.scalar(select(ClinicSetting)) is None


def test_a_bad_value_names_the_field_the_value_and_what_is_allowed(qtbot, page_as, store):
    page = page_as("admin")
    editor = page.fields["clinic_name"].editor
    _type(qtbot, editor, "   ")
    qtbot.keyClicks(page.reason, "tidy up")
    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    assert page.message.text() == ("Not saved: Clinic name: “   ” is not allowed; "
                                   "it takes text of 1–120 characters.")
    qtbot.waitUntil(editor.hasFocus, timeout=1000)  # the cursor goes to the field to correct
    with store.read() as db:
        assert db.scalar(select(ClinicSetting)) is None


def test_a_change_made_elsewhere_shows_without_losing_what_is_typed(qtbot, page_as, store, actors):
    page = page_as("admin")
    _type(qtbot, page.fields["clinic_name"].editor, "Half typed")
    page.runner.run(ops.set_clinic_setting, "lockout_minutes", 45, "audit finding")
    assert page.fields["lockout_minutes"].editor.value() == 45
    assert page.fields["lockout_minutes"].source.text().startswith("Set by Clinic Admin")
    assert page.fields["clinic_name"].editor.text() == "Half typed"


def test_the_settings_tab_shows_for_an_administrator_only(qtbot, store, actors):
    from ketamon.gui.main_window import MainWindow

    runner = OpRunner(store, actors["admin"])
    w = MainWindow(runner, idle_lock=False)
    qtbot.addWidget(w)
    w.show()
    tabs = [w.tabs.tabText(i) for i in range(w.tabs.count())]
    assert w.tabs.isTabVisible(tabs.index("Settings"))
    runner.set_actor(actors["physician"])
    assert not w.tabs.isTabVisible(tabs.index("Settings"))
    w.close()


def test_an_administrator_sees_a_refused_protocol_file_and_why(qtbot, store, actors, monkeypatch, tmp_path):
    """A clinic protocol file the schema refuses is listed on the Settings page with
    its path, the field and why; the shipped protocols keep working."""
    from ketamon.core.protocols import ProtocolRegistry
    from ketamon.core.resources import resource

    text = resource("protocols", "esketamine-56.toml").read_text()
    text = text.replace('id = "esketamine-56"', 'id = "clinic-esk"').replace(
        "[ranges.spo2]\nabsolute = [50, 100]", "[ranges.spo2]\nabsolute = [0, 1000]")
    assert "[0, 1000]" in text
    (tmp_path / "bad-spo2.toml").write_text(text)
    monkeypatch.setenv("KETAMON_PROTOCOLS", str(tmp_path))
    store.protocols = ProtocolRegistry.load()
    runner = OpRunner(store, actors["admin"])
    page = SettingsPage(runner)
    qtbot.addWidget(page)
    shown = page.protocol_problems.text()
    assert "bad-spo2.toml" in shown and "ranges.spo2.absolute" in shown and "0–1000" in shown, shown
    assert "4 protocols loaded" in shown
    assert store.protocols.get("esketamine-56")  # the others keep working


def test_a_session_whose_protocol_is_gone_is_refused_in_words(store, actors):
    from ketamon.core.errors import KetamonError
    from ketamon.core.protocols import ProtocolRegistry

    with pytest.raises(KetamonError, match="is not available on this workstation"):
        ProtocolRegistry([]).get("esketamine-56", 1)
