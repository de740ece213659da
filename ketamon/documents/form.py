"""The esketamine monitoring form, filled from the session record
(`ketamon.core.rems.MonitoringForm`), laid out with the layout engine."""
from __future__ import annotations

from PySide6.QtGui import QPagedPaintDevice

from ketamon.core.report import fmt_date, fmt_datetime
from ketamon.core.rems import MonitoringForm
from ketamon.documents.layout import GREY, Ctx, Flow, Fragment, paginate, paint_document, running_header


def form_fragments(form: MonitoringForm, ctx: Ctx) -> list[Fragment]:
    f = Flow(ctx)
    f.paragraph(form.template.title, ctx.font(15, bold=True))
    if form.template.subtitle:
        f.paragraph(form.template.subtitle, ctx.font(9.5))
    f.paragraph(f"{form.template.version_text} · {form.clinic} · session #{form.session_id}",
                f.small, colour=GREY)
    f.space(4)
    if form.deadline:
        f.paragraph(f"File by {fmt_date(form.deadline)} ({form.template.deadline_days} days after the treatment "
                    f"on {fmt_date(form.treatment_date)})", ctx.font(11, bold=True), boxed=True)
    else:
        f.paragraph("No device recorded yet: the filing deadline starts on the treatment date.",
                    ctx.font(10, bold=True), boxed=True)
    f.space(3)
    if form.missing:
        n = len(form.missing)
        f.paragraph(f"{n} field{'s' * (n != 1)} MISSING — complete the session record before filing:",
                    ctx.font(10, bold=True))
        for x in form.missing:
            f.paragraph(f"•  {x.label}", ctx.font(9.5), indent=8)
    else:
        f.paragraph("All fields are filled from the session record.", ctx.font(10, bold=True))
    for w in form.warnings:
        f.paragraph(f"Check: {w.label} — {w.warning}", ctx.font(9.5, bold=True))
    for sec in form.sections:
        f.heading(sec.title, 11)
        rows, boxed, bold = [], set(), set()
        for r, fld in enumerate(sec.fields):
            if fld.value is None:
                answer = ("MISSING" if fld.required else "(not recorded)", fld.note)
                if fld.required:
                    boxed.add((r, 1))
                    bold.add(r)
            else:
                text = fld.value + (f"\nCHECK: {fld.warning}" if fld.warning else "")
                answer = (text, fld.note)
                if fld.warning:
                    boxed.add((r, 1))
            rows.append([fld.label, answer])
        f.table([("Field", 230), ("Answer (from the session record)", None)], rows, bold, boxed,
                font=ctx.font(9.5))
    f.space(10)
    f.paragraph("Completed by (name, signature, date): ______________________________________________", f.body)
    return f.frags


def render_form(form: MonitoringForm, device: QPagedPaintDevice) -> int:
    ctx = Ctx(device)
    pages = paginate(ctx, form_fragments(form, ctx))
    status = "COMPLETE" if form.complete else f"{len(form.missing)} MISSING"
    header = running_header(f"{form.clinic} · Esketamine monitoring form v{form.template.version}",
                             f"{form.patient_name} · {form.mrn}", status)
    # the version on every page: a page separated from the others still says which form it follows
    footer = f"{form.template.version_text} · Printed by {form.printed_by} at {fmt_datetime(form.printed_at)}" + (
        f" · times in {form.zone}" if form.zone else "")
    return paint_document(device, ctx, pages, header, footer)

