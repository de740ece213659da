"""The records screen as front-desk staff use it: find a session by patient name or
MRN, date range and state; see signed / waiting / open and the monitoring form at
a glance; print and export the selected one."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QDateTimeEdit
from record_helpers import predose, to_discharged
from sqlalchemy import select

from ketamon.core import ops
from ketamon.core.models import AuditEntry
from ketamon.gui import printing
from ketamon.gui.staff import NOT_ESKETAMINE, RecordsPage
from record_helpers import TEST_PASSWORD

TODAY = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def history(store, actors, clock):
    """Lan: esketamine last week, signed; Daniel: IV yesterday, discharged, unsigned;
    Maria: IM today, planned; Tom: cancelled three weeks ago."""
    nurse, doctor = actors["nurse"], actors["physician"]
    ids = {}
    for key, mrn, fam, giv in (("lan", "MRN-100231", "Nguyen", "Thi Lan"), ("daniel", "MRN-100457", "Okafor", "Daniel"),
                               ("maria", "MRN-100512", "Rossi", "Maria"), ("tom", "MRN-100688", "Berg", "Tom")):
        ids[key] = ops.create_patient(store, nurse, mrn=mrn, family_name=fam, given_name=giv,
                                      birth_date=date(1980, 1, 2), sex="other", weight_kg=70).result
    clock.set(TODAY - timedelta(days=6))
    s = ops.create_session(store, nurse, patient_id=ids["lan"], protocol_id="esketamine-56", lot_number="L1",
                           physician_id=doctor.user_id).result
    to_discharged(store, nurse, s, clock)
    ops.sign_session(store, doctor, s, TEST_PASSWORD)
    signed_at = clock.now()
    clock.set(TODAY - timedelta(days=1))
    iv = ops.create_session(store, nurse, patient_id=ids["daniel"], protocol_id="iv-ketamine-0.5",
                            physician_id=doctor.user_id).result
    ops.cancel_session(store, nurse, iv, "Patient unwell")
    clock.set(TODAY - timedelta(days=21))
    old = ops.create_session(store, nurse, patient_id=ids["tom"], protocol_id="esketamine-84").result
    ops.cancel_session(store, nurse, old, "Moved to another clinic")
    clock.set(TODAY)
    planned = ops.create_session(store, nurse, patient_id=ids["maria"], protocol_id="im-ketamine",
                                 planned_dose_mg=30).result
    return {"signed": s, "signed_at": signed_at, "waiting": iv, "old": old, "planned": planned}


@pytest.fixture
def page(qtbot, runner, history):
    p = RecordsPage(runner)
    qtbot.addWidget(p)
    p.resize(1200, 500)
    p.show()
    qtbot.waitExposed(p)
    return p


def column(page, name: str) -> list[str]:
    from ketamon.gui.staff import COLUMNS

    return [row[COLUMNS.index(name)] for row in page.texts()]


def search_for(qtbot, page, text: str) -> None:
    page.search.selectAll()
    qtbot.keyClicks(page.search, text)
    qtbot.keyClick(page.search, Qt.Key.Key_Return)


def test_last_weeks_sessions_with_signature_and_form_at_a_glance(page, history):
    assert column(page, "Patient") == ["ROSSI, Maria", "OKAFOR, Daniel", "NGUYEN, Thi Lan"]
    assert page.count.text() == "3 sessions"
    signed_day = history["signed_at"].astimezone()
    assert column(page, "Signed") == ["Open", "Waiting for signature",
                                      f"✓ Dr Priya Shah, {signed_day:%d %b}"]
    assert column(page, "State") == ["Planned", "Cancelled", "Signed"]
    form = column(page, "Monitoring form")
    assert form[0] == form[1] == ""  # not esketamine: no form
    assert form[2].startswith("Form due 21 Nov 2026 (1 day)")  # 7 days from the treatment on 14 Nov


def test_find_by_name_or_mrn(qtbot, page):
    search_for(qtbot, page, "nguyen")
    assert column(page, "Patient") == ["NGUYEN, Thi Lan"]
    search_for(qtbot, page, "1004")
    assert column(page, "MRN") == ["MRN-100457"]
    search_for(qtbot, page, "Rossi Maria")
    assert column(page, "Patient") == ["ROSSI, Maria"]
    search_for(qtbot, page, "nobody")
    assert page.texts() == [] and page.count.text() == "No sessions found."
    assert not page.print_summary_button.isEnabled()


def choose_state(qtbot, page, label: str) -> None:
    """Arrow keys through the state list, as from the keyboard."""
    page.state.setFocus()
    qtbot.keyClick(page.state, Qt.Key.Key_Home)
    for _ in range(page.state.count()):
        if page.state.currentText() == label:
            return
        qtbot.keyClick(page.state, Qt.Key.Key_Down)
    assert page.state.currentText() == label


def test_filter_by_state_and_date_range(qtbot, page):
    choose_state(qtbot, page, "Signed")
    assert column(page, "Patient") == ["NGUYEN, Thi Lan"]
    choose_state(qtbot, page, "Finished, waiting for signature")
    assert column(page, "Patient") == ["OKAFOR, Daniel"]
    choose_state(qtbot, page, "Not signed yet")
    assert column(page, "Patient") == ["ROSSI, Maria", "OKAFOR, Daniel"]
    choose_state(qtbot, page, "Any state")
    # three weeks back: the cancelled session shows up too
    page.date_from.setFocus()
    page.date_from.setCurrentSection(QDateTimeEdit.Section.MonthSection)
    qtbot.keyClick(page.date_from, Qt.Key.Key_Down)  # one month earlier
    assert page.date_from.date().toPython() == date(2026, 10, 13)
    assert column(page, "Patient") == ["ROSSI, Maria", "OKAFOR, Daniel", "NGUYEN, Thi Lan", "BERG, Tom"]


def select_row(qtbot, page, patient: str) -> None:
    row = column(page, "Patient").index(patient)
    rect = page.table.visualItemRect(page.table.item(row, 1))
    qtbot.mouseClick(page.table.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(rect.center()))


def test_print_the_selected_summary_opens_the_preview_and_audits_it(qtbot, page, store, history):
    select_row(qtbot, page, "NGUYEN, Thi Lan")
    assert page.selected_session_id() == history["signed"]
    assert page.print_form_button.isEnabled()
    qtbot.mouseClick(page.print_summary_button, Qt.MouseButton.LeftButton)
    dialogs = [w for w in page.findChildren(object) if type(w).__name__ == "QPrintPreviewDialog"]
    assert len(dialogs) == 1 and dialogs[0].windowTitle() == "Session summary — NGUYEN, Thi Lan"
    dialogs[0].close()
    with store.read() as db:
        last = db.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert (last.action, last.session_id, last.username) == ("print", history["signed"], "nurse")


def test_monitoring_form_button_only_for_esketamine(qtbot, page):
    select_row(qtbot, page, "OKAFOR, Daniel")
    assert not page.print_form_button.isEnabled() and page.print_summary_button.isEnabled()


def test_export_buttons_hand_the_selected_session_to_the_exporter(qtbot, page, history, monkeypatch):
    calls = []
    monkeypatch.setattr(printing, "export_session", lambda parent, runner, sid, fmt: calls.append((sid, fmt)),
                        raising=False)
    select_row(qtbot, page, "OKAFOR, Daniel")
    qtbot.mouseClick(page.export_fhir_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(page.export_csv_button, Qt.MouseButton.LeftButton)
    assert calls == [(history["waiting"], "fhir"), (history["waiting"], "csv")]


def test_the_list_follows_changes_made_elsewhere(qtbot, page, runner, actors, history):
    runner.set_actor(actors["physician"])
    select_row(qtbot, page, "OKAFOR, Daniel")
    runner.run(ops.sign_session, history["waiting"], TEST_PASSWORD)
    assert column(page, "Signed")[1].startswith("✓ Dr Priya Shah")
    assert page.selected_session_id() == history["waiting"]  # the selection stays put


def test_front_desk_can_print_but_not_chart(qtbot, runner, actors, history):
    runner.set_actor(actors["staff"])
    p = RecordsPage(runner)
    qtbot.addWidget(p)
    p.show()  # a page searches when shown
    assert p.print_summary_button.isEnabled() and p.export_csv_button.isEnabled()
    window = p.open_record()
    assert not window.panel.predose.isEnabled() and not window.panel.sign_button.isEnabled()


def test_export_says_where_to_export_when_the_screen_cannot_yet(qtbot, page, history, monkeypatch, responder):
    monkeypatch.delattr(printing, "export_session", raising=False)
    select_row(qtbot, page, "OKAFOR, Daniel")
    qtbot.mouseClick(page.export_fhir_button, Qt.MouseButton.LeftButton)
    assert responder.shown[-1][0] == "inform"
    assert f"ketamon export {history['waiting']} --fhir FILE" in responder.shown[-1][2]


def test_a_hidden_list_catches_up_when_shown(qtbot, page, runner, actors, history):
    page.hide()
    runner.set_actor(actors["physician"])
    runner.run(ops.sign_session, history["waiting"], TEST_PASSWORD)
    page.show()
    qtbot.waitUntil(lambda: column(page, "Signed")[1].startswith("✓ Dr Priya Shah"))


# ---------------------------------------------------------------- the monitoring form's filing


@pytest.fixture
def overdue(store, actors, clock, history):
    """Tom's esketamine session twelve days ago: dosed, form never sent (outside the
    list's 7-day search, but in the queue of forms to file)."""
    nurse = actors["nurse"]
    clock.set(TODAY - timedelta(days=12))
    sid = ops.create_session(store, nurse, patient_id=_patient(store, history["old"]),
                             protocol_id="esketamine-56", lot_number="L7").result
    predose(store, nurse, sid)
    ops.record_dose(store, nurse, sid, "nasal_device")
    clock.set(TODAY)
    return sid


def _patient(store, session_id):
    from ketamon.core.models import Session

    with store.read() as db:
        return db.get(Session, session_id).patient_id


def queue_column(page, name: str) -> list[str]:
    from ketamon.gui.staff import QUEUE_COLUMNS

    return [row[QUEUE_COLUMNS.index(name)] for row in page.queue_texts()]


def select_queue_row(qtbot, page, patient: str) -> None:
    row = queue_column(page, "Patient").index(patient)
    rect = page.queue.visualItemRect(page.queue.item(row, 1))
    qtbot.mouseClick(page.queue.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(rect.center()))


def test_forms_to_file_overdue_first_then_marked_sent(qtbot, runner, actors, history, overdue, responder):
    runner.set_actor(actors["staff"])
    page = RecordsPage(runner)
    qtbot.addWidget(page)
    page.resize(1200, 700)
    page.show()
    qtbot.waitExposed(page)
    assert page.queue_box.title() == "Forms to file"
    assert queue_column(page, "Patient") == ["BERG, Tom", "NGUYEN, Thi Lan"]  # overdue first, across all dates
    assert queue_column(page, "Due") == ["OVERDUE since 15 Nov 2026", "21 Nov 2026 (1 day)"]
    assert queue_column(page, "Status") == ["Not printed", "Not printed"]
    assert page.queue_count.text() == "2 forms to file, 1 OVERDUE"
    assert page.queue.item(0, 0).foreground().color().name() != page.queue.item(1, 0).foreground().color().name()

    select_queue_row(qtbot, page, "BERG, Tom")
    responder.texts = ["fax", "FAX-0042"]
    qtbot.mouseClick(page.queue_sent_button, Qt.MouseButton.LeftButton)
    assert queue_column(page, "Patient") == ["NGUYEN, Thi Lan"]  # sent: off the queue
    assert page.queue_count.text() == "1 form to file"
    assert responder.shown[-2][0] == "ask_text" and "fax" in responder.shown[-2][2]


def test_the_list_shows_printed_not_sent_then_sent(qtbot, page, runner, actors, history, responder):
    select_row(qtbot, page, "NGUYEN, Thi Lan")
    assert column(page, "Monitoring form")[2].endswith("· not printed")
    dialog = page.print_form()
    dialog.close()
    assert column(page, "Monitoring form")[2].startswith("Form printed ")
    assert "not sent · due 21 Nov 2026 (1 day)" in column(page, "Monitoring form")[2]
    assert queue_column(page, "Status") == ["Printed, not sent"]
    responder.texts = ["REMS portal", ""]
    qtbot.mouseClick(page.mark_sent_button, Qt.MouseButton.LeftButton)
    assert column(page, "Monitoring form")[2].startswith("Form sent ")
    assert column(page, "Monitoring form")[2].endswith("by REMS portal")
    assert page.queue_texts() == [] and page.queue_count.text() == "No forms to file."


def test_the_form_buttons_say_why_they_are_greyed_for_iv_ketamine(qtbot, page, runner, history):
    select_row(qtbot, page, "OKAFOR, Daniel")
    assert not page.print_form_button.isEnabled() and not page.mark_sent_button.isEnabled()
    assert page.print_form_button.toolTip() == NOT_ESKETAMINE
    # forced anyway (e.g. a stale button): the core refuses with one sentence, nothing opens
    assert page.print_form(history["waiting"]) is None
    assert runner.last_refusal == (f"Session {history['waiting']} is IV ketamine; the SPRAVATO® REMS monitoring "
                                   "form applies only to esketamine sessions.")
    select_row(qtbot, page, "NGUYEN, Thi Lan")
    assert page.print_form_button.isEnabled() and page.print_form_button.toolTip() == ""


def test_records_show_when_each_session_began_not_only_its_scheduled_time(qtbot, page, store, actors, history,
                                                                          clock):
    from ketamon.gui.widgets import local_hm

    nurse = actors["nurse"]
    maria = history["planned"]
    clock.advance(minutes=10)
    predose(store, nurse, maria)  # checked in 10 min after the scheduled time
    checked_in = clock.now()
    search_for(qtbot, page, "Rossi")
    assert column(page, "Began") == [local_hm(checked_in)]
    clock.advance(minutes=15)
    ops.record_dose(store, nurse, maria, "im_injection", amount_mg=30, site="Deltoid, left")
    search_for(qtbot, page, "Rossi")
    assert column(page, "Began") == [local_hm(clock.now())] and local_hm(clock.now()) != local_hm(checked_in)
    search_for(qtbot, page, "Okafor")
    assert column(page, "Began") == ["not begun"]  # cancelled before the checks


def test_every_column_shows_without_scrolling_on_a_1366_screen(qtbot, runner, history):
    """The Records table at the width it has in a 1366×768 window: no horizontal
    scroll bar, the monitoring form's column on screen, the short columns whole,
    and a long one elided with its whole text on hover."""
    from ketamon.gui.staff import COLUMNS

    p = RecordsPage(runner)
    qtbot.addWidget(p)
    p.resize(1075, 700)  # the page's width beside the today list at 1366 px
    p.show()
    qtbot.waitExposed(p)
    table = p.table
    qtbot.waitUntil(lambda: table.horizontalScrollBar().maximum() == 0)
    header = table.horizontalHeader()
    widths = [header.sectionSize(c) for c in range(len(COLUMNS))]
    assert sum(widths) <= table.viewport().width()
    assert header.sectionViewportPosition(COLUMNS.index("Monitoring form")) + widths[-1] \
        <= table.viewport().width()
    for name in ("Scheduled", "Began", "Patient", "MRN", "State"):  # never elided
        col = COLUMNS.index(name)
        assert widths[col] >= table.sizeHintForColumn(col)
    form_col = COLUMNS.index("Monitoring form")
    row = column(p, "Monitoring form").index(next(t for t in column(p, "Monitoring form") if t))
    assert table.item(row, form_col).toolTip().startswith(table.item(row, form_col).text())

    p.resize(1900, 700)  # a wide screen: every text whole, the table filled
    qtbot.waitUntil(lambda: sum(header.sectionSize(c) for c in range(len(COLUMNS)))
                    == table.viewport().width())
    for col in range(len(COLUMNS)):
        assert header.sectionSize(col) >= table.sizeHintForColumn(col)
