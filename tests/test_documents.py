"""The printed summary and monitoring form as headless PDFs (no widgets): checked
for content (pdftotext), page size (pdfinfo) and for ink outside the printable
area (pdftoppm). Moved from tests/gui/: printing needs no window."""
import re
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from ketamon.core import ops
from ketamon.core.errors import PermissionDenied
from ketamon.core.models import AuditEntry
from ketamon.core.report import fmt_time
from ketamon.documents import pdf
from records_data import AFTER_DOSE, BASELINE, full_session, predose


def pdf_text(path: Path) -> str:
    out = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return re.sub(r"\s+", " ", out)


def pdf_pages(path: Path) -> list[str]:
    out = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return [re.sub(r"\s+", " ", p) for p in out.split("\f") if p.strip()]


def page_size(path: Path) -> str:
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    return re.search(r"Page size:\s+(.*)", info).group(1)


def audit_rows(store, action):
    with store.read() as db:
        return list(db.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


@pytest.fixture
def charted(qapp, store, clock, actors, esketamine_session):
    """A signed session; qapp so that printing uses the one application of the test run."""
    first = full_session(store, clock, actors, esketamine_session)
    return esketamine_session, first


def test_summary_pdf_holds_the_whole_record(store, actors, charted, tmp_path, monkeypatch):
    monkeypatch.setenv("KETAMON_CLINIC_NAME", "Harbour Street Clinic")
    sid, first = charted
    out = tmp_path / "summary.pdf"
    pages = pdf.write_summary_pdf(store, actors["staff"], sid, out)
    text = pdf_text(out)
    for words in ["Harbour Street Clinic", "NGUYEN, Lan", "MRN-1", "12 Mar 1984", "Esketamine nasal spray 56 mg",
                  "Intranasal", "56 mg (2 devices × 28 mg)", "LOT-1", "Sam Carter RN", "Dr Priya Shah",
                  "Blood pressure and heart rate", "Systolic", "Diastolic", "Heart rate (dashed)",
                  "Nasal device 1 given", "Nasal device 2 given", "Sedation: MOAA/S 4", "Nausea 3/10",
                  "Dissociation 5/24 (CADSS-6)", "PHQ-9", "10 / 27 (moderate)",
                  # the alert text wraps in its cell; it keeps the rise over the pre-dose BP
                  "systolic 166 above the", "abnormal limit 160; +38/+20 mmHg", "from the pre-dose 128/82",
                  "Acknowledged", "Reviewed",
                  "Expected BP peak at", "Modified Aldrete score", "10 / 10 (needs 9)",
                  "2 h 01 min (minimum 2 h 00 min) — met", "heart rate typed as 87", "Signed by Dr Priya Shah at",
                  "Addendum 1", "Reason: Phone follow-up next day", "mood brighter",
                  "Printed by Alex Morgan (Front desk) at"]:
        assert words in text, words
    for minute, (sy, di) in [(None, BASELINE[:2])] + [(m, (s, d)) for m, s, d, *_ in AFTER_DOSE]:
        assert f"{sy}/{di}" in text
        at = first + timedelta(minutes=minute) if minute is not None else None
        if at is not None:
            assert fmt_time(at) in text
    for _, _, _, hr, sp, rr in AFTER_DOSE:
        assert f" {hr} " in text and f" {sp} " in text
    assert "NOT SIGNED" not in text
    per_page = pdf_pages(out)
    assert len(per_page) == pages >= 2
    for n, page in enumerate(per_page, start=1):
        assert f"Page {n} of {pages}" in page
        assert "NGUYEN, Lan" in page and "MRN-1" in page  # a loose page still says whose it is


def test_a4_and_letter(store, actors, charted, tmp_path):
    sid, _ = charted
    pdf.write_summary_pdf(store, actors["staff"], sid, tmp_path / "a4.pdf", "A4")
    pdf.write_summary_pdf(store, actors["staff"], sid, tmp_path / "letter.pdf", "Letter")
    assert page_size(tmp_path / "a4.pdf").endswith("(A4)")  # 210 × 297 mm
    assert page_size(tmp_path / "letter.pdf").startswith("612 x 792")  # 8.5 × 11 in
    with pytest.raises(ValueError, match="A4 or Letter"):
        pdf.write_summary_pdf(store, actors["staff"], sid, tmp_path / "x.pdf", "A3")
    assert not (tmp_path / "x.pdf").exists()


def _pgm(path: Path) -> tuple[int, int, bytes]:
    data = path.read_bytes()
    magic, w, h, maxval, rest = data.split(maxsplit=4)
    assert magic == b"P5" and maxval == b"255"
    return int(w), int(h), rest


@pytest.mark.parametrize("paper", ["A4", "Letter"])
def test_nothing_is_drawn_outside_the_printable_area(store, actors, charted, tmp_path, paper):
    """No clipped or overflowing table, chart or text: the outer 10 mm of every page stays white."""
    sid, _ = charted
    out = tmp_path / "summary.pdf"
    pages = pdf.write_summary_pdf(store, actors["staff"], sid, out, paper)
    subprocess.run(["pdftoppm", "-gray", "-r", "50", str(out), str(tmp_path / "p")], check=True)
    images = sorted(tmp_path.glob("p-*.pgm"))
    assert len(images) == pages
    band = round(10 / 25.4 * 50)  # 10 mm at 50 dpi
    for img in images:
        w, h, px = _pgm(img)
        inked = [(x, y) for y in range(h) for x in range(w)
                 if (x < band or x >= w - band or y < band or y >= h - band) and px[y * w + x] < 200]
        assert inked == [], f"{img.name}: ink in the margin at {inked[:5]}"
        body = sum(1 for b in px if b < 128)
        assert body > 500  # and the page is not blank


def test_unsigned_session_says_so_and_what_is_not_recorded(qapp, store, clock, actors, nurse, esketamine_session,
                                                            tmp_path):
    predose(store, clock, nurse, esketamine_session)
    ops.record_dose(store, nurse, esketamine_session, "nasal_device")
    out = tmp_path / "draft.pdf"
    pdf.write_summary_pdf(store, nurse, esketamine_session, out)
    text = pdf_text(out)
    assert "NOT SIGNED — this record is not final" in text
    assert "Modified Aldrete score not recorded" in text
    assert "not completed" in text and "not discharged" in text and "No addenda." in text
    assert "Printed by Sam Carter RN (Nurse)" in text


def test_a_long_table_continues_with_its_header_on_every_page(qapp, store, clock, actors, nurse, esketamine_session,
                                                               tmp_path):
    predose(store, clock, nurse, esketamine_session)
    ops.record_dose(store, nurse, esketamine_session, "nasal_device")
    rates = [60 + i for i in range(70)]
    for hr in rates:
        clock.advance(minutes=2)
        ops.record_vitals(store, nurse, esketamine_session, systolic=120 + hr % 30, diastolic=80, heart_rate=hr,
                          spo2=97, comment="patient comfortable, talking quietly with the nurse about the weekend"
                          if hr == 100 else None)
    out = tmp_path / "long.pdf"
    pdf.write_summary_pdf(store, nurse, esketamine_session, out, "Letter")
    pages = pdf_pages(out)
    with_rows = [p for p in pages if "80 (" in p or "/80" in p]
    assert len(with_rows) >= 2
    for page in with_rows:
        assert "BP mmHg" in page and "Entered by" in page  # the header is repeated
    text = " ".join(pages)
    for hr in rates:
        assert f" {hr} " in text
    assert "talking quietly with the nurse about the weekend" in text  # wrapped, not cut


def test_printing_is_audited_and_role_checked(store, actors, charted, tmp_path):
    sid, _ = charted
    out = tmp_path / "s.pdf"
    pdf.write_summary_pdf(store, actors["staff"], sid, out)
    (row,) = audit_rows(store, "print")
    assert row.username == "desk" and row.session_id == sid and str(out) in row.detail
    assert row.detail.startswith("Session summary")
    denied = tmp_path / "admin.pdf"
    with pytest.raises(PermissionDenied, match="may not print session summaries"):
        pdf.write_summary_pdf(store, actors["admin"], sid, denied)
    assert not denied.exists()
    assert len(audit_rows(store, "print")) == 1
    assert any("record_print" in (r.detail or "") for r in audit_rows(store, "refused"))


def test_monitoring_form_pdf_flags_missing_fields(qapp, store, clock, actors, nurse, patient_id, tmp_path):
    sid = ops.create_session(store, nurse, patient_id=patient_id, protocol_id="esketamine-56",
                             lot_number="LOT-2").result
    predose(store, clock, nurse, sid)
    ops.record_dose(store, nurse, sid, "nasal_device")
    first = clock.now()
    out = tmp_path / "form.pdf"
    pdf.write_form_pdf(store, actors["staff"], sid, out)
    text = pdf_text(out)
    treated = first.astimezone().date()
    assert "Esketamine Monitoring Form" in text and "Form template v2 (REMS update 2024-12-31)" in text
    assert f"File by {(treated + timedelta(days=7)).strftime('%d %b %Y')}" in text
    assert "fields MISSING" in text and text.count("MISSING") >= 7
    assert "Monitoring provider" in text and "no supervising physician recorded" in text
    assert "LOT-2" in text and "NGUYEN, Lan" in text
    (row,) = audit_rows(store, "print")
    assert row.detail.startswith("Esketamine monitoring form")


def test_complete_monitoring_form_pdf(store, actors, charted, tmp_path):
    sid, first = charted
    out = tmp_path / "form.pdf"
    pdf.write_form_pdf(store, actors["staff"], sid, out, "Letter")
    text = pdf_text(out)
    # every field ketamon holds is filled; the v2 fields it cannot know are left to the staff
    assert "3 fields MISSING" in text and "REMS enrolment" in text and "Serious adverse event" in text
    assert "121" in text and "166/102 mmHg" in text


