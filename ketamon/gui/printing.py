"""The printed session summary and the esketamine monitoring form, drawn with
QPainter onto a QPdfWriter (PDF, also headless) or a QPrinter (print preview).

Everything printed comes from the core read models (ketamon.core.report,
ketamon.core.rems); this module only lays them out. The layout is a small flow
engine: content becomes fragments (a heading, a line of text, a table row, the
chart), fragments are placed page by page (table headers repeat on every page a
table continues on, long text wraps and breaks between lines, nothing is
clipped), then each page is painted with its running header and "Page n of m".

Paper is not the screen: the page uses black, greys and symbols (▼ systolic,
▲ diastolic, ● heart rate with a dashed line) so it reads the same on a
black-and-white printer; colour is never the only carrier of meaning.

Every print goes through `record_print` first (role check and audit trail); a
refusal prints nothing.
"""
from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import shiboken6
from PySide6.QtCore import (
    QLocale,
    QMarginsF,
    QObject,
    QPointF,
    QRectF,
    QRunnable,
    Qt,
    QThreadPool,
    Signal,
    Slot,
)
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QGuiApplication,
    QPageLayout,
    QPageSize,
    QPagedPaintDevice,
    QPainter,
    QPainterPath,
    QPdfWriter,
    QPen,
    QPolygonF,
    QTextLayout,
    QTextOption,
)

from ketamon.core.ops.exports import EXPORTS, record_export, record_print
from ketamon.core.permissions import Actor
from ketamon.core.rems import MonitoringForm, build_form, form_from_report
from ketamon.core.report import (
    SessionReport,
    build_report,
    fmt_date,
    fmt_datetime,
    fmt_time,
    printed_by_label,
)
from ketamon.core.store import Store

log = logging.getLogger(__name__)

PAGE_SIZES = {"A4": QPageSize.PageSizeId.A4, "Letter": QPageSize.PageSizeId.Letter}
MARGINS_MM = QMarginsF(14, 12, 14, 12)
FONT_FAMILIES = ["DejaVu Sans", "Noto Sans", "Liberation Sans", "Arial", "Helvetica"]

INK = QColor("#000000")
GREY = QColor("#555555")
RULE = QColor("#999999")
SHADE = QColor("#e6e6e6")  # table header fill: light enough for any printer
ZEBRA = QColor("#f4f4f4")
HR_INK = QColor("#1d3f8a")  # dark blue: reads as black on a mono printer, the line style carries it


def default_paper(db_or_store=None) -> str:
    """The clinic's paper size (settings "paper": A4 | Letter; `db_or_store` None: this
    workstation's KETAMON_PAPER), else Letter where the locale measures in US units."""
    from ketamon.core import settings

    paper = settings.clinic_value(db_or_store, "paper")
    if paper:
        return paper
    return "Letter" if QLocale().measurementSystem() == QLocale.MeasurementSystem.ImperialUSSystem else "A4"


def _page_size(name: str) -> QPageSize:
    key = {"a4": "A4", "letter": "Letter"}.get(name.strip().lower())
    if key is None:
        raise ValueError(f"page size must be A4 or Letter, not {name!r}")
    return QPageSize(PAGE_SIZES[key])


_app: QGuiApplication | None = None


def ensure_app() -> None:
    """Text layout needs a Qt GUI application; scripts and the CLI may not have one.
    Without a display, Qt's offscreen platform is used (PDFs need no screen)."""
    global _app
    if QGuiApplication.instance() is not None:
        return
    if not os.environ.get("QT_QPA_PLATFORM") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    _app = QGuiApplication([])


# ---------------------------------------------------------------- the flow engine


class Ctx:
    """Measures in the paint device's pixels; `pt(x)` converts points."""

    def __init__(self, device: QPagedPaintDevice):
        self.device = device
        self.dpi = device.resolution() if hasattr(device, "resolution") else device.logicalDpiY()
        rect = device.pageLayout().paintRectPixels(self.dpi)
        self.width = float(rect.width())
        self.height = float(rect.height())
        self.fonts: dict[str, QFont] = {}
        self.header_h = self.pt(22)
        self.footer_h = self.pt(20)

    def pt(self, points: float) -> float:
        return points * self.dpi / 72.0

    def font(self, size: float = 9, bold: bool = False, italic: bool = False) -> QFont:
        key = f"{size}-{bold}-{italic}"
        if key not in self.fonts:
            f = QFont()
            f.setFamilies(FONT_FAMILIES)
            f.setPointSizeF(size)
            f.setBold(bold)
            f.setItalic(italic)
            # no "fi"/"fl" ligatures: text copied or searched from the PDF must match what is printed
            for tag in ("liga", "clig"):
                f.setFeature(QFont.Tag(tag), 0)
            self.fonts[key] = f
        return self.fonts[key]

    def metrics(self, font: QFont) -> QFontMetricsF:
        return QFontMetricsF(font, self.device)

    def line_h(self, font: QFont) -> float:
        return self.metrics(font).lineSpacing()

    @property
    def body_height(self) -> float:
        return self.height - self.header_h - self.footer_h

    def wrap(self, text: str, font: QFont, width: float) -> list[str]:
        """Lines of `text` broken to fit `width` (words, else anywhere; never clipped)."""
        out: list[str] = []
        width = max(width, self.pt(10))
        for para in (text or "").split("\n"):
            if not para:
                out.append("")
                continue
            layout = QTextLayout(para, font, self.device)
            option = QTextOption()
            option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
            layout.setTextOption(option)
            layout.beginLayout()
            while True:
                line = layout.createLine()
                if not line.isValid():
                    break
                line.setLineWidth(width)
                out.append(para[line.textStart(): line.textStart() + line.textLength()].rstrip())
            layout.endLayout()
        return out or [""]


@dataclass
class Fragment:
    """An unbreakable piece of a page. `keep_with_next` keeps a heading or a table
    header on the same page as what follows; `repeat` is the table header to
    draw again when a page break falls inside the table."""

    height: float
    draw: Callable[[QPainter, float, float], None]  # (painter, x, y)
    keep_with_next: bool = False
    repeat: "Fragment | None" = None
    page_break_before: bool = False


@dataclass
class Page:
    placed: list[tuple[float, Fragment]] = field(default_factory=list)


def paginate(ctx: Ctx, fragments: list[Fragment]) -> list[Page]:
    pages = [Page()]
    y = 0.0
    limit = ctx.body_height
    i = 0
    while i < len(fragments):
        frag = fragments[i]
        need = frag.height
        j = i
        while fragments[j].keep_with_next and j + 1 < len(fragments):
            j += 1
            need += fragments[j].height
        need = min(need, limit)
        if pages[-1].placed and (frag.page_break_before or y + need > limit):
            pages.append(Page())
            y = 0.0
            if frag.repeat is not None and frag.repeat is not frag:
                pages[-1].placed.append((y, frag.repeat))
                y += frag.repeat.height
        pages[-1].placed.append((y, frag))
        y += frag.height
        i += 1
    return pages


def _text(p: QPainter, font: QFont, x: float, y: float, w: float, h: float, text: str,
          align=Qt.AlignmentFlag.AlignLeft, colour: QColor = INK) -> None:
    p.setFont(font)
    p.setPen(colour)
    p.drawText(QRectF(x, y, w, h), int(align | Qt.AlignmentFlag.AlignVCenter) | int(Qt.TextFlag.TextSingleLine), text)


class Flow:
    """Builds the fragments of a document."""

    def __init__(self, ctx: Ctx):
        self.ctx = ctx
        self.frags: list[Fragment] = []
        self.body = ctx.font(9)
        self.small = ctx.font(7.5)
        self.bold = ctx.font(9, bold=True)

    def space(self, points: float) -> None:
        h = self.ctx.pt(points)
        self.frags.append(Fragment(h, lambda p, x, y: None))

    def heading(self, text: str, size: float = 11.5, page_break: bool = False) -> None:
        ctx, font = self.ctx, self.ctx.font(size, bold=True)
        above = ctx.pt(9 if size >= 11 else 6)
        h = above + ctx.line_h(font) + ctx.pt(4)

        def draw(p: QPainter, x: float, y: float) -> None:
            _text(p, font, x, y + above, ctx.width, ctx.line_h(font), text)
            p.setPen(QPen(INK, ctx.pt(0.8)))
            yy = y + above + ctx.line_h(font) + ctx.pt(1)
            p.drawLine(QPointF(x, yy), QPointF(x + ctx.width, yy))

        self.frags.append(Fragment(h, draw, keep_with_next=True, page_break_before=page_break))

    def paragraph(self, text: str, font: QFont | None = None, indent: float = 0, colour: QColor = INK,
                  boxed: bool = False) -> None:
        ctx = self.ctx
        font = font or self.body
        pad = ctx.pt(4) if boxed else 0
        width = ctx.width - ctx.pt(indent) - 2 * pad
        lh = ctx.line_h(font)
        lines = ctx.wrap(text, font, width)
        for n, line in enumerate(lines):
            first, last = n == 0, n == len(lines) - 1
            h = lh + (pad if first else 0) + (pad if last else 0)

            def draw(p, x, y, line=line, first=first, last=last, h=h):
                x0 = x + ctx.pt(indent)
                if boxed:
                    p.setPen(QPen(INK, ctx.pt(1.2)))
                    p.drawLine(QPointF(x0, y), QPointF(x0, y + h))
                    p.drawLine(QPointF(x0 + ctx.width - ctx.pt(indent), y),
                               QPointF(x0 + ctx.width - ctx.pt(indent), y + h))
                    if first:
                        p.drawLine(QPointF(x0, y), QPointF(x0 + ctx.width - ctx.pt(indent), y))
                    if last:
                        p.drawLine(QPointF(x0, y + h), QPointF(x0 + ctx.width - ctx.pt(indent), y + h))
                _text(p, font, x0 + pad, y + (pad if first else 0), width, lh, line, colour=colour)

            self.frags.append(Fragment(h, draw))

    def key_values(self, items: list[tuple[str, str]], columns: int = 2, label_pt: float = 92) -> None:
        """Label/value pairs in `columns` columns; values wrap."""
        ctx = self.ctx
        col_w = ctx.width / columns
        label_w = ctx.pt(label_pt)
        value_w = col_w - label_w - ctx.pt(6)
        lh = ctx.line_h(self.body)
        for start in range(0, len(items), columns):
            row = items[start:start + columns]
            cells = [(ctx.wrap(lbl, self.small, label_w), ctx.wrap(val, self.bold, value_w)) for lbl, val in row]
            n = max(max(len(lab), len(val)) for lab, val in cells)
            h = n * lh + ctx.pt(2)

            def draw(p, x, y, cells=cells):
                for c, (lab, val) in enumerate(cells):
                    cx = x + c * col_w
                    for k, line in enumerate(lab):
                        _text(p, self.small, cx, y + k * lh, label_w, lh, line, colour=GREY)
                    for k, line in enumerate(val):
                        _text(p, self.bold, cx + label_w, y + k * lh, value_w, lh, line)

            self.frags.append(Fragment(h, draw))

    def table(self, columns: list[tuple[str, float | None]], rows: list[list["str | tuple[str, str]"]],
              bold_rows: set[int] | None = None, boxed_cells: set[tuple[int, int]] | None = None,
              font: QFont | None = None) -> None:
        """A table whose header repeats on each page it continues on. `columns` are
        (title, width in points or None for the flexible column). A cell is text,
        or (text, note) with the note printed small and grey under the text."""
        ctx = self.ctx
        if not rows:
            self.paragraph("None recorded.", ctx.font(9, italic=True), colour=GREY)
            self.space(2)
            return
        font = font or self.body
        bold_font = ctx.font(font.pointSizeF(), bold=True)
        head_font = ctx.font(max(font.pointSizeF() - 0.5, 7), bold=True)
        note_font = ctx.font(max(font.pointSizeF() - 1.5, 6.5), italic=True)
        widths = [ctx.pt(w) if w is not None else 0.0 for _, w in columns]
        flex = [i for i, (_, w) in enumerate(columns) if w is None]
        spare = ctx.width - sum(widths)
        if flex and spare > ctx.pt(40):
            for i in flex:
                widths[i] = spare / len(flex)
        else:  # more fixed width than the page: shrink every column (text wraps, never clips)
            widths = [w or ctx.pt(40) for w in widths]
            total = sum(widths)
            widths = [w * ctx.width / total for w in widths]
        pad = ctx.pt(2.5)
        bold_rows = bold_rows or set()
        boxed_cells = boxed_cells or set()

        head_lines = [ctx.wrap(t, head_font, w - 2 * pad) for (t, _), w in zip(columns, widths)]
        head_lh = ctx.line_h(head_font)
        head_h = max(len(h) for h in head_lines) * head_lh + 2 * pad

        def draw_head(p, x, y):
            p.fillRect(QRectF(x, y, ctx.width, head_h), SHADE)
            p.setPen(QPen(INK, ctx.pt(0.6)))
            p.drawLine(QPointF(x, y), QPointF(x + ctx.width, y))
            p.drawLine(QPointF(x, y + head_h), QPointF(x + ctx.width, y + head_h))
            cx = x
            for lines, w in zip(head_lines, widths):
                for k, line in enumerate(lines):
                    _text(p, head_font, cx + pad, y + pad + k * head_lh, w - 2 * pad, head_lh, line)
                cx += w

        header = Fragment(head_h, draw_head, keep_with_next=True)
        header.repeat = header
        self.frags.append(header)
        room = ctx.body_height - head_h - 2 * pad - ctx.pt(4)
        for r, row in enumerate(rows):
            f = bold_font if r in bold_rows else font
            cells = []  # per cell: [(text, font, colour, height)]
            for cell, w in zip(row, widths):
                text, note = (cell if isinstance(cell, tuple) else (cell, ""))
                lines = [(t, f, INK, ctx.line_h(f)) for t in ctx.wrap(text, f, w - 2 * pad)] if text else []
                if note:
                    lines += [(t, note_font, GREY, ctx.line_h(note_font)) for t in ctx.wrap(note, note_font,
                                                                                           w - 2 * pad)]
                cells.append(lines)
            # a row taller than a page continues on the next (split between lines)
            parts: list[list[list]] = [[[] for _ in cells]]
            used = [0.0 for _ in cells]
            for c, lines in enumerate(cells):
                k = 0
                for line in lines:
                    if used[c] + line[3] > room:
                        k += 1
                        used[c] = 0.0
                        while len(parts) <= k:
                            parts.append([[] for _ in cells])
                    parts[k][c].append(line)
                    used[c] += line[3]
                used[c] = 0.0
            for part in parts:
                h = max([sum(line[3] for line in lines) for lines in part] + [ctx.line_h(f)]) + 2 * pad

                def draw_row(p, x, y, part=part, h=h, r=r):
                    if r % 2 == 1:
                        p.fillRect(QRectF(x, y, ctx.width, h), ZEBRA)
                    cx = x
                    for c, (lines, w) in enumerate(zip(part, widths)):
                        if (r, c) in boxed_cells:
                            p.setPen(QPen(INK, ctx.pt(1.6)))
                            p.drawRect(QRectF(cx + ctx.pt(1), y + ctx.pt(1), w - ctx.pt(2), h - ctx.pt(2)))
                        yy = y + pad
                        for text, lf, colour, lh in lines:
                            _text(p, lf, cx + pad, yy, w - 2 * pad, lh, text, colour=colour)
                            yy += lh
                        cx += w
                    p.setPen(QPen(RULE, ctx.pt(0.3)))
                    p.drawLine(QPointF(x, y + h), QPointF(x + ctx.width, y + h))

                self.frags.append(Fragment(h, draw_row, repeat=header))
        self.space(2)

    def block(self, height_pt: float, draw: Callable[[QPainter, float, float, float, float], None]) -> None:
        """A fixed-height drawing (the chart): draw(painter, x, y, width, height)."""
        ctx = self.ctx
        h = min(ctx.pt(height_pt), ctx.body_height)
        self.frags.append(Fragment(h, lambda p, x, y: draw(p, x, y, ctx.width, h)))


def paint_document(device: QPagedPaintDevice, ctx: Ctx, pages: list[Page],
                   running_header: Callable[[QPainter, Ctx, int], None], footer_left: str) -> int:
    painter = QPainter()
    if not painter.begin(device):
        raise OSError("could not start printing (is the output file writable?)")
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        total = len(pages)
        small = ctx.font(7.5)
        for n, page in enumerate(pages, start=1):
            if n > 1:
                device.newPage()
            running_header(painter, ctx, n)
            for y, frag in page.placed:
                frag.draw(painter, 0.0, ctx.header_h + y)
            fy = ctx.height - ctx.footer_h + ctx.pt(6)
            painter.setPen(QPen(RULE, ctx.pt(0.5)))
            painter.drawLine(QPointF(0, fy - ctx.pt(3)), QPointF(ctx.width, fy - ctx.pt(3)))
            lh = ctx.line_h(small)
            _text(painter, small, 0, fy, ctx.width * 0.78, lh, footer_left, colour=GREY)
            _text(painter, ctx.font(8, bold=True), 0, fy, ctx.width, lh, f"Page {n} of {total}",
                  Qt.AlignmentFlag.AlignRight)
    finally:
        painter.end()
    return len(pages)


def _running_header(title: str, who: str, status: str) -> Callable[[QPainter, Ctx, int], None]:
    """Title and patient on every page (pages get separated), and whether the
    record is signed, so a loose page is never mistaken for a final record."""
    def draw(p: QPainter, ctx: Ctx, n: int) -> None:
        font, bold = ctx.font(8), ctx.font(8, bold=True)
        lh = ctx.line_h(font)
        right_w = ctx.metrics(bold).horizontalAdvance(status) + ctx.pt(4)
        left = ctx.metrics(font).elidedText(f"{who} — {title}", Qt.TextElideMode.ElideRight,
                                            ctx.width - right_w - ctx.pt(10))
        _text(p, font, 0, 0, ctx.width - right_w, lh, left, colour=GREY)
        _text(p, bold, 0, 0, ctx.width, lh, status, Qt.AlignmentFlag.AlignRight)
        p.setPen(QPen(RULE, ctx.pt(0.5)))
        p.drawLine(QPointF(0, lh + ctx.pt(3)), QPointF(ctx.width, lh + ctx.pt(3)))
    return draw


# ---------------------------------------------------------------- the BP/HR chart


def _triangle(cx: float, cy: float, size: float, down: bool) -> QPolygonF:
    """▼ (down=True) has its tip at the value; ▲ likewise from below."""
    s = size
    if down:
        return QPolygonF([QPointF(cx, cy), QPointF(cx - s * 0.6, cy - s), QPointF(cx + s * 0.6, cy - s)])
    return QPolygonF([QPointF(cx, cy), QPointF(cx - s * 0.6, cy + s), QPointF(cx + s * 0.6, cy + s)])


def draw_marker(p: QPainter, kind: str, x: float, y: float, size: float) -> None:
    p.setPen(QPen(INK if kind != "hr" else HR_INK, size * 0.12))
    if kind == "systolic":
        p.setBrush(QBrush(INK))
        p.drawPolygon(_triangle(x, y, size, down=True))
    elif kind == "diastolic":
        p.setBrush(QBrush(INK))
        p.drawPolygon(_triangle(x, y, size, down=False))
    elif kind == "hr":
        p.setBrush(QBrush(HR_INK))
        p.drawEllipse(QPointF(x, y), size * 0.38, size * 0.38)
    p.setBrush(Qt.BrushStyle.NoBrush)


def _nice_step(span_minutes: float) -> int:
    for step in (5, 10, 15, 20, 30, 60, 120, 240):
        if span_minutes / step <= 10:
            return step
    return 480


def draw_bp_hr_chart(report: SessionReport, ctx: Ctx) -> Callable[[QPainter, float, float, float, float], None]:
    vit = [v for v in report.vitals_for_print()[0] if v.systolic is not None or v.heart_rate is not None]
    marks = report.chart_marks

    def draw(p: QPainter, x0: float, y0: float, width: float, height: float) -> None:
        small, tiny = ctx.font(7.5), ctx.font(7)
        lh = ctx.line_h(small)
        legend_h = lh + ctx.pt(6)
        left, right = ctx.pt(34), ctx.pt(8)
        top, bottom = ctx.pt(14), ctx.pt(16) + legend_h
        px, py = x0 + left, y0 + top
        pw, ph = width - left - right, height - top - bottom
        p.setPen(QPen(INK, ctx.pt(0.6)))
        p.drawRect(QRectF(px, py, pw, ph))
        if not vit and not marks:
            _text(p, ctx.font(9, italic=True), px, py, pw, ph, "No blood pressure or heart rate recorded.",
                  Qt.AlignmentFlag.AlignHCenter, GREY)
            return
        times = [v.measured_at for v in vit] + [m.at for m in marks]
        t_start, t_end = min(times), max(times)
        t_start -= timedelta(minutes=5)
        t_end += timedelta(minutes=5)
        span = max((t_end - t_start) / timedelta(minutes=1), 20)
        values = [x for v in vit for x in (v.systolic, v.diastolic, v.heart_rate) if x is not None]
        lo = min([40] + [x - 10 for x in values])
        hi = max([200] + [x + 10 for x in values])
        lo, hi = (lo // 20) * 20, -(-hi // 20) * 20

        def X(t: datetime) -> float:
            return px + (t - t_start) / timedelta(minutes=1) / span * pw

        def Y(v: float) -> float:
            return py + ph - (v - lo) / (hi - lo) * ph

        # grid and axes
        for v in range(int(lo), int(hi) + 1, 20):
            p.setPen(QPen(SHADE if v % 40 else RULE, ctx.pt(0.4)))
            p.drawLine(QPointF(px, Y(v)), QPointF(px + pw, Y(v)))
            _text(p, tiny, x0, Y(v) - lh / 2, left - ctx.pt(3), lh, str(v), Qt.AlignmentFlag.AlignRight, GREY)
        step = _nice_step(span)
        local_start = t_start.astimezone()
        first_tick = local_start.replace(second=0, microsecond=0)
        first_tick += timedelta(minutes=(-first_tick.minute) % step)
        tick = first_tick
        while tick <= t_end:
            xx = X(tick)
            p.setPen(QPen(SHADE, ctx.pt(0.4)))
            p.drawLine(QPointF(xx, py), QPointF(xx, py + ph))
            p.setPen(QPen(INK, ctx.pt(0.5)))
            p.drawLine(QPointF(xx, py + ph), QPointF(xx, py + ph + ctx.pt(3)))
            _text(p, tiny, xx - ctx.pt(20), py + ph + ctx.pt(3), ctx.pt(40), lh, tick.strftime("%H:%M"),
                  Qt.AlignmentFlag.AlignHCenter, GREY)
            tick += timedelta(minutes=step)
        _text(p, tiny, x0, y0, ctx.pt(140), lh, "mmHg · beats/min", colour=GREY)

        # dose events: dotted verticals labelled at the top
        last_label_x = -1e9
        for m in [m for m in marks if m.kind == "dose"]:
            xx = X(m.at)
            p.setPen(QPen(INK, ctx.pt(0.7), Qt.PenStyle.DotLine))
            p.drawLine(QPointF(xx, py), QPointF(xx, py + ph))
            fm = ctx.metrics(tiny)
            w = fm.horizontalAdvance(m.label) + ctx.pt(2)
            lx = max(xx - w / 2, last_label_x + ctx.pt(1))
            _text(p, ctx.font(7, bold=True), lx, py - lh - ctx.pt(1), w, lh, m.label, Qt.AlignmentFlag.AlignHCenter)
            last_label_x = lx + w

        # side effects: ticks along the bottom, labels staggered so they never overlap
        rows_end: list[float] = []
        for m in [m for m in marks if m.kind == "side_effect"]:
            xx = X(m.at)
            fm = ctx.metrics(tiny)
            w = fm.horizontalAdvance(m.label) + ctx.pt(3)
            lx = min(max(xx - w / 2, px + ctx.pt(1)), px + pw - w - ctx.pt(1))
            row = next((i for i, end in enumerate(rows_end) if lx > end), len(rows_end))
            if row == len(rows_end):
                rows_end.append(0)
            rows_end[row] = lx + w
            ly = py + ph - (row + 1) * (lh + ctx.pt(1)) - ctx.pt(1)
            p.fillRect(QRectF(lx, ly, w, lh), QColor("#ffffff"))
            p.setPen(QPen(GREY, ctx.pt(0.4)))
            p.drawRect(QRectF(lx, ly, w, lh))
            _text(p, tiny, lx, ly, w, lh, m.label, Qt.AlignmentFlag.AlignHCenter)
            p.setPen(QPen(INK, ctx.pt(0.6)))
            p.drawLine(QPointF(xx, py + ph), QPointF(xx, py + ph - ctx.pt(3)))

        bp = [v for v in vit if v.systolic is not None]
        xs = sorted(X(v.measured_at) for v in vit)
        gap = min((b - a for a, b in zip(xs, xs[1:]) if b > a), default=ctx.pt(20))
        size = max(min(ctx.pt(6.5), gap * 0.9), ctx.pt(2.5))  # dense charts get smaller symbols
        # BP: thin bar between ▼ systolic and ▲ diastolic, thin solid lines joining readings
        for attr in ("systolic", "diastolic"):
            p.setPen(QPen(GREY, ctx.pt(0.6)))
            pts = [QPointF(X(v.measured_at), Y(getattr(v, attr))) for v in bp]
            for a, b in zip(pts, pts[1:]):
                p.drawLine(a, b)
        for v in bp:
            xx = X(v.measured_at)
            p.setPen(QPen(INK, ctx.pt(0.8)))
            p.drawLine(QPointF(xx, Y(v.systolic)), QPointF(xx, Y(v.diastolic)))
            draw_marker(p, "systolic", xx, Y(v.systolic), size)
            draw_marker(p, "diastolic", xx, Y(v.diastolic), size)
        hr = [v for v in vit if v.heart_rate is not None]
        path = QPainterPath()
        for k, v in enumerate(hr):
            pt = QPointF(X(v.measured_at), Y(v.heart_rate))
            path.moveTo(pt) if k == 0 else path.lineTo(pt)
        p.setPen(QPen(HR_INK, ctx.pt(1.0), Qt.PenStyle.DashLine))
        p.drawPath(path)
        for v in hr:
            draw_marker(p, "hr", X(v.measured_at), Y(v.heart_rate), size)

        # legend
        size = ctx.pt(6.5)
        ly = y0 + height - legend_h + ctx.pt(3)
        lx = px
        for kind, label in (("systolic", "Systolic"), ("diastolic", "Diastolic"), ("hr", "Heart rate (dashed)"),
                            ("dose", "Dose event (dotted)"), ("se", "Side effect / score")):
            cy = ly + lh / 2
            if kind in ("systolic", "diastolic", "hr"):
                if kind == "hr":
                    p.setPen(QPen(HR_INK, ctx.pt(1.0), Qt.PenStyle.DashLine))
                    p.drawLine(QPointF(lx, cy), QPointF(lx + ctx.pt(16), cy))
                    draw_marker(p, "hr", lx + ctx.pt(8), cy, size)
                    lx += ctx.pt(20)
                else:
                    draw_marker(p, kind, lx + ctx.pt(4), cy + (size / 2 if kind == "systolic" else -size / 2), size)
                    lx += ctx.pt(10)
            elif kind == "dose":
                p.setPen(QPen(INK, ctx.pt(0.7), Qt.PenStyle.DotLine))
                p.drawLine(QPointF(lx + ctx.pt(3), ly), QPointF(lx + ctx.pt(3), ly + lh))
                lx += ctx.pt(8)
            else:
                p.setPen(QPen(GREY, ctx.pt(0.4)))
                p.drawRect(QRectF(lx, ly + ctx.pt(1), ctx.pt(12), lh - ctx.pt(2)))
                lx += ctx.pt(16)
            w = ctx.metrics(small).horizontalAdvance(label) + ctx.pt(14)
            _text(p, small, lx, ly, w, lh, label)
            lx += w

    return draw


# ---------------------------------------------------------------- the summary


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
    f.block(210, draw_bp_hr_chart(report, ctx))

    f.heading("Vital signs")
    news = report.news2_available
    cols: list[tuple[str, float | None]] = [("Time", 42), ("BP mmHg", 46), ("Mean", 32), ("HR /min", 30),
                                            ("SpO2 %", 32), ("RR /min", 30), ("Temp °C", 32), ("O2", 24),
                                            ("ACVPU", 36)]
    if news:
        cols.append(("NEWS2", 38))
    cols += [("Entered by", 76), ("Notes", None)]
    rows = []
    printed, thinned = report.vitals_for_print()
    for v in printed:
        notes = []
        if v.late:
            notes.append(f"L: late, entered {fmt_time(v.entered_at)}")
        if v.corrected:
            notes.append(f"C: corrected ({v.correction_reason or 'no reason'})")
        if v.source == "device":
            notes.append("D: from device")
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
    key = "Marks: L late entry · C corrected (original in Corrections) · D device · (n) mean calculated from BP"
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
          ("Monitoring", (f"{d.monitored_minutes} min (minimum {d.minimum_minutes:g}) — "
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
    f.paragraph(sig.text, ctx.font(11, bold=True), boxed=True)

    f.heading("Addenda")
    if not report.addenda:
        f.paragraph("No addenda.", ctx.font(9, italic=True), colour=GREY)
    for n, a in enumerate(report.addenda, start=1):
        f.paragraph(f"Addendum {n} — {fmt_datetime(a.at)} by {a.author}", f.bold)
        f.paragraph(f"Reason: {a.reason}", ctx.font(9, italic=True), indent=8)
        f.paragraph(a.text, f.body, indent=8)
        f.space(4)
    return f.frags


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
    header = _running_header(f"{report.clinic} · Session summary #{report.session_id}",
                             f"{report.patient_name} · {report.mrn} · {fmt_date(report.session_date)}", status)
    footer = f"Printed by {report.printed_by} at {fmt_datetime(report.printed_at)} · times in {report.zone}"
    return paint_document(device, ctx, pages, header, footer)


# ---------------------------------------------------------------- the monitoring form


def form_fragments(form: MonitoringForm, ctx: Ctx) -> list[Fragment]:
    f = Flow(ctx)
    f.paragraph(form.template.title, ctx.font(15, bold=True))
    if form.template.subtitle:
        f.paragraph(form.template.subtitle, ctx.font(9.5))
    f.paragraph(f"Template version {form.template.version} · {form.clinic} · session #{form.session_id}",
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
    header = _running_header(f"{form.clinic} · Esketamine monitoring form v{form.template.version}",
                             f"{form.patient_name} · {form.mrn}", status)
    footer = f"Printed by {form.printed_by} at {fmt_datetime(form.printed_at)}" + (
        f" · times in {form.zone}" if form.zone else "")
    return paint_document(device, ctx, pages, header, footer)


# ---------------------------------------------------------------- entry points


def _setup(device, page_size: str) -> None:
    device.setPageSize(_page_size(page_size))
    device.setPageMargins(MARGINS_MM, QPageLayout.Unit.Millimeter)


def _write_pdf(path: str | os.PathLike, page_size: str, title: str, render: Callable[[QPagedPaintDevice], int]) -> int:
    """Render into a temporary file beside `path`, then move it into place: a
    failed print never leaves half a PDF behind."""
    ensure_app()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".ketamon-", suffix=".pdf", dir=path.parent)
    os.close(fd)
    try:
        writer = QPdfWriter(tmp)
        writer.setResolution(600)
        writer.setCreator("ketamon")
        writer.setTitle(title)
        _setup(writer, page_size)
        pages = render(writer)
        del writer  # finishes the file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return pages


def _who(actor: Actor) -> str:
    return printed_by_label(actor.display_name, actor.role)


def write_summary_pdf(store: Store, actor: Actor, session_id: int, path: str | os.PathLike,
                      page_size: str = "A4") -> int:
    """Print the session summary to a PDF (audited; refused without the PRINT
    permission). Returns the number of pages."""
    _page_size(page_size)
    record_print(store, actor, session_id, "summary", destination=str(path))
    report = build_report(store, session_id, printed_by=_who(actor))
    return _write_pdf(path, page_size, f"Session summary {session_id}", lambda dev: render_summary(report, dev))


def write_form_pdf(store: Store, actor: Actor, session_id: int, path: str | os.PathLike,
                   page_size: str = "A4") -> int:
    """Print the esketamine monitoring form to a PDF (audited)."""
    _page_size(page_size)
    record_print(store, actor, session_id, "form", destination=str(path))
    form = build_form(store, session_id, printed_by=_who(actor))
    return _write_pdf(path, page_size, f"Esketamine monitoring form {session_id}", lambda dev: render_form(form, dev))


def print_preview(parent, runner, session_id: int, what: str = "summary", page_size: str | None = None):
    """Open the print preview (window-modal, does not block) for the summary or
    the monitoring form ("form"). The print is audited first; when the operation
    is refused the runner shows why and nothing opens (returns None)."""
    from PySide6.QtPrintSupport import QPrinter, QPrintPreviewDialog

    if runner.run(record_print, session_id, what, destination="print preview") is None:
        return None
    report = build_report(runner.store, session_id, printed_by=_who(runner.actor))
    if what == "form":
        form = form_from_report(report)
        render = lambda printer: render_form(form, printer)  # noqa: E731
        title = f"Esketamine monitoring form — {report.patient_name}"
    else:
        render = lambda printer: render_summary(report, printer)  # noqa: E731
        title = f"Session summary — {report.patient_name}"
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    _setup(printer, page_size or default_paper(runner.store))
    dialog = QPrintPreviewDialog(printer, parent)
    dialog.setWindowTitle(title)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.paintRequested.connect(render)
    dialog._printer = printer  # keep it alive as long as the dialog
    dialog.open()
    return dialog


def print_form_preview(parent, runner, session_id: int, page_size: str | None = None):
    return print_preview(parent, runner, session_id, "form", page_size)


# ---------------------------------------------------------------- exports from the GUI


class ExportJob(QObject):
    """An export written on a worker thread (a long session's FHIR bundle takes a
    while to build; the window must not freeze). `finished(path, error)` is
    emitted on the GUI thread once the file is in place; `error` is "" on success."""

    finished = Signal(str, str)
    _result = Signal(str, str)  # from the worker thread, queued to _done
    _running: set["ExportJob"] = set()

    def __init__(self, store: Store, session_id: int, fmt: str, path: str, parent_widget=None):
        super().__init__()
        self.store, self.session_id, self.fmt, self.path = store, session_id, fmt, path
        self.parent_widget = parent_widget
        self.error: str | None = None
        ExportJob._running.add(self)  # alive until done, whatever happens to the screen
        self._result.connect(self._done, Qt.ConnectionType.QueuedConnection)

    def start(self) -> None:
        job = self

        class _Work(QRunnable):
            def run(self) -> None:  # worker thread: core only, no widgets
                from ketamon.core.exporting import export_text, write_atomic

                try:
                    write_atomic(job.path, export_text(job.store, job.session_id, job.fmt))
                    job._result.emit(job.path, "")
                except Exception as exc:  # reported to the user on the GUI thread
                    log.exception("export of session %s as %s failed", job.session_id, job.fmt)
                    job._result.emit(job.path, str(exc) or type(exc).__name__)

        QThreadPool.globalInstance().start(_Work())

    @Slot(str, str)
    def _done(self, path: str, error: str) -> None:
        from ketamon.gui import prompts

        self.error = error
        ExportJob._running.discard(self)
        if error:
            parent = self.parent_widget if self.parent_widget is not None and shiboken6.isValid(
                self.parent_widget) else None
            prompts.warn(parent, "Export failed", f"The export was not written to {path}:\n{error}")
        self.finished.emit(path, error)


def export_session(parent, runner, session_id: int, fmt: str) -> ExportJob | None:
    """Ask where to save, audit the export (role-checked: a refusal writes nothing),
    then write the file in the background. A failure is shown as a warning."""
    from ketamon.core.exporting import FORMATS, suggested_filename
    from ketamon.gui import prompts

    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    path = prompts.ask_save_path(parent, f"Export {EXPORTS[fmt]}", suggested_filename(session_id, fmt),
                                 FORMATS[fmt][1])
    if not path:
        return None
    if runner.run(record_export, session_id, fmt, destination=path) is None:
        return None
    job = ExportJob(runner.store, session_id, fmt, path, parent)
    job.start()
    return job
