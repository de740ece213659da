"""The printed session summary: the whole record of one session, from the
core's read model (`ketamon.core.report.SessionReport`), laid out with the
layout engine. This module only lays out; every figure comes from the report.

Long 1 Hz device sessions are thinned for the vitals table by the report
(`SessionReport.vitals_for_print`), and the page says so.
"""
from __future__ import annotations

from datetime import timedelta

from PySide6.QtGui import QPagedPaintDevice

from ketamon.core import formats
from ketamon.core.report import SessionReport, fmt_date, fmt_datetime, fmt_time
from ketamon.documents.chart_drawing import draw_bp_hr_chart
from ketamon.documents.layout import GREY, Ctx, Flow, Fragment, paginate, paint_document, running_header


def _yn(value: bool | None) -> str:
    return "–" if value is None else "yes" if value else "no"


def summary_fragments(report: SessionReport, ctx: Ctx) -> list[Fragment]:
    f = Flow(ctx)
    big = ctx.font(15, bold=True)
    f.paragraph(report.clinic, big)
    f.paragraph(f"Treatment session summary — session #{report.session_id}", ctx.font(11, bold=True))
    if not report.signature.signed:
        f.paragraph("NOT SIGNED — this record is not final", ctx.font(10, bold=True), boxed=True)
    f.space(4)
    f.key_values([(i.label, i.value) for i in report.header])
    if report.contraindications:
        f.paragraph("Contraindications: " + ", ".join(report.contraindications), f.bold)

    f.heading("Blood pressure and heart rate")
    printed, thinned = report.vitals_for_print()
    f.block(210, draw_bp_hr_chart(report, ctx, printed))

    f.heading("Vital signs")
    news = report.news2_available
    cols: list[tuple[str, float | None]] = [("Time", 42), ("BP mmHg", 46), ("Mean", 32), ("HR /min", 30),
                                            ("SpO2 %", 32), ("RR /min", 30), ("Temp °C", 32), ("O2", 24),
                                            ("ACVPU", 36)]
    if news:
        cols.append(("NEWS2", 38))
    cols += [("Entered by", 76), ("Notes", None)]
    rows = []
    for v in printed:
        notes = []
        if v.late:
            notes.append(f"L: late, entered {fmt_time(v.entered_at)}")
        if v.corrected:
            notes.append(f"C: corrected ({v.correction_reason or 'no reason'})")
        if v.source == "device":
            notes.append(f"D: from device, {v.verdict_note or 'not validated'}")
        if v.comment:
            notes.append(v.comment)
        mean = "–" if v.mean_arterial is None else (f"{v.mean_arterial}" if v.mean_measured else f"({v.mean_arterial})")
        row = [fmt_time(v.measured_at) + (f" {v.marks}" if v.marks else ""), v.bp, mean,
               _n(v.heart_rate), _n(v.spo2), _n(v.resp_rate),
               "–" if v.temperature is None else f"{v.temperature:.1f}",
               "–" if v.on_oxygen is None else ("O2" if v.on_oxygen else "air"), v.consciousness or "–"]
        if news:
            row.append(v.news2 or "–")
        row += [v.who, "; ".join(notes)]
        rows.append(row)
    f.table(cols, rows, font=ctx.font(8.5))
    if thinned:
        f.paragraph(thinned, f.bold)
    key = ("Marks: L late entry · C corrected (original in Corrections) · D device (V validated, A artefact, "
           "by a nurse) · (n) mean calculated from BP")
    if news:
        key += " · NEWS2 * temperature from an earlier set · – no complete set"
    f.paragraph(key, f.small, colour=GREY)

    f.heading("Dose events")
    f.table([("Time", 40), ("Event", None), ("Entered by", 80), ("Notes", 130)],
            [[fmt_time(d.at), d.text, d.who, _entry_notes(d)] for d in report.doses])
    f.paragraph(f"Planned {report.dose_text}. Given in total: {report.given_mg:g} mg.", f.body)

    f.heading("Side effects and scores")
    f.table([("Time", 40), ("Side effect / score", None), ("Entered by", 80), ("Notes", 130)],
            [[fmt_time(e.at), e.text, e.who, _entry_notes(e)] for e in report.side_effects])
    if report.notes:
        f.heading("Nursing notes", 10)
        f.table([("Time", 40), ("Note", None), ("Entered by", 80)],
                [[fmt_time(n.at), n.text + (f" (corrected: {n.correction_reason})" if n.corrected else ""), n.who]
                 for n in report.notes])

    before = [a for a in report.assessments if a.kind in ("predose_checklist", "predose_decision", "phq9",
                                                          "phq9_followup")]
    f.heading("Pre-dose checks and PHQ-9", 10)
    if not before:
        f.paragraph("Not recorded.", ctx.font(9, italic=True), colour=GREY)
    for a in before:
        _assessment(f, a)

    f.heading("Alerts")
    rows, bold = [], set()
    for i, a in enumerate(report.alerts):
        state = f"cleared {fmt_time(a.cleared_at)}" if a.cleared_at else "not cleared"
        rows.append([fmt_time(a.raised_at), f"{a.mark} {a.priority}".strip(),
                     a.message + (" [technical]" if a.category == "technical" else "") + f" ({state})",
                     a.acknowledgement, a.review])
        if a.priority == "high":
            bold.add(i)
    f.table([("Raised", 42), ("Priority", 50), ("Alert", None), ("Acknowledged", 100), ("Review", 130)], rows, bold)
    if rows:
        f.paragraph("Priority marks: *** high · ** medium · * low", f.small, colour=GREY)

    d = report.discharge
    f.heading("Discharge")
    kv = [(f"{d.score_label}", (d.assessment.total_text + f" (needs {d.threshold}) — "
                                 + ("fit for discharge" if d.score_passed else "BELOW THRESHOLD"))
           if d.assessment else "not recorded"),
          ("Assessed", f"{fmt_time(d.assessment.at)} by {d.assessment.who}" if d.assessment else "–"),
          ("Monitoring", (f"{formats.duration(timedelta(minutes=d.monitored_minutes))} "
                          f"(minimum {formats.duration(timedelta(minutes=d.minimum_minutes))}) — "
                          + ("met" if d.minimum_met else "NOT MET")) if d.monitored_minutes is not None
           else "not completed"),
          ("Ready to leave", fmt_time(d.ready_to_leave_at) if d.ready_to_leave_at else "not recorded"),
          ("Discharged", fmt_datetime(d.discharged_at) if d.discharged_at else
           (f"stopped early {fmt_datetime(d.stopped_at)}" if d.stopped_at else "not discharged")),
          ("Checklist", f"{fmt_time(d.checklist.at)} by {d.checklist.who}" if d.checklist else "not recorded")]
    f.key_values(kv)
    if d.assessment:
        f.table([(d.score_label, None), ("Points — answer", 230)], [[i.label, i.value] for i in d.assessment.items])
    if d.checklist:
        f.space(3)
        f.table([("Discharge checklist", None), ("Answer", 120)], [[i.label, i.value] for i in d.checklist.items])
    others = [a for a in report.assessments if a not in before and a is not d.assessment and a is not d.checklist]
    for a in others:
        _assessment(f, a)

    if report.corrections:
        f.heading("Corrections")
        f.table([("Corrected", 58), ("Entry", 60), ("Was", None), ("Now", None), ("Reason", 90), ("By", 64)],
                [[fmt_time(c.entered_at), f"{c.entity} {fmt_time(c.at)}", c.original, c.replacement, c.reason,
                  c.who] for c in report.corrections])

    f.heading("Session timeline")
    f.table([("Time", 40), ("Step", 170), ("By", 90), ("Reason", None)],
            [[fmt_time(s.at), s.text, s.who, s.reason or ""] for s in report.states])

    f.heading("Signatures")
    sig = report.signature
    f.key_values([("Charting nurse", report.nurse or "not recorded"),
                  ("Supervising physician", report.physician or "not recorded")])
    f.paragraph(signature_line(sig), ctx.font(11, bold=True), boxed=True)
    if sig.signed:
        f.paragraph(SIGNATURE_HOW, ctx.font(9, italic=True), colour=GREY)

    f.heading("Addenda")
    if not report.addenda:
        f.paragraph("No addenda.", ctx.font(9, italic=True), colour=GREY)
    for n, a in enumerate(report.addenda, start=1):
        f.paragraph(f"Addendum {n} — {fmt_datetime(a.at)} by {a.author}", f.bold)
        f.paragraph(f"Reason: {a.reason}", ctx.font(9, italic=True), indent=8)
        f.paragraph(a.text, f.body, indent=8)
        f.space(4)
    return f.frags


#: what the physician's signature on a record means, printed beside their name and the time
SIGNATURE_MEANING = "Reviewed and signed by the supervising physician"
#: how the signature was given (the signer typed their password again to sign)
SIGNATURE_HOW = "Electronic signature: the signer confirmed it with their own password."


def signature_line(sig) -> str:
    """The signature as printed: its meaning, the signer's name, the date and time."""
    if not sig.signed:
        return sig.text
    return f"{SIGNATURE_MEANING}: {sig.signed_by or '–'}, {fmt_datetime(sig.signed_at)}"


def _n(x) -> str:
    return "–" if x is None else f"{x}"


def _entry_notes(e) -> str:
    notes = []
    if e.late:
        notes.append(f"late, entered {fmt_time(e.entered_at)}")
    if e.corrected:
        notes.append(f"corrected ({e.correction_reason or 'no reason'})")
    return "; ".join(notes)


def _assessment(f: Flow, a) -> None:
    ctx = f.ctx
    title = f"{a.label} — {fmt_time(a.at)} by {a.who}"
    if a.total is not None:
        title += f" — total {a.total_text}"
    f.paragraph(title, f.bold)
    for flag in a.flags:
        f.paragraph(flag, ctx.font(9.5, bold=True), boxed=True)
    if a.items:
        f.table([("Item", None), ("Answer", 170)], [[i.label, i.value] for i in a.items], font=ctx.font(8.5))
    if a.comment:
        f.paragraph(f"Comment: {a.comment}", f.body, indent=8)
    f.space(4)


def render_summary(report: SessionReport, device: QPagedPaintDevice) -> int:
    """Lay out and paint the summary on `device`; returns the number of pages."""
    ctx = Ctx(device)
    pages = paginate(ctx, summary_fragments(report, ctx))
    status = report.signature.text if report.signature.signed else "NOT SIGNED"
    header = running_header(f"{report.clinic} · Session summary #{report.session_id}",
                             f"{report.patient_name} · {report.mrn} · {fmt_date(report.session_date)}", status)
    footer = f"Printed by {report.printed_by} at {fmt_datetime(report.printed_at)} · times in {report.zone}"
    return paint_document(device, ctx, pages, header, footer)

