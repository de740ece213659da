"""The page-layout engine of every printed document: content becomes fragments
(a heading, a line of text, a table row, a drawing), fragments are placed page
by page, then each page is painted with its running header and "Page n of m".

The rules a reader relies on:
- a heading or a table header stays on the page of what follows it;
- a table continuing on a new page repeats its header there;
- text wraps and a long table row splits between lines; nothing is clipped;
- a fixed drawing (the chart) taller than a page is scaled to the page body;
- a fragment built by hand that is taller than a page body starts a new page
  and is clipped at the body's bottom edge (it never runs into the footer).

Qt painting only (QtGui): no widgets, so the command line can print without
the GUI package. Measures are in the paint device's pixels; `Ctx.pt` converts
points.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from PySide6.QtCore import QLocale, QMarginsF, QPointF, QRectF, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QPageLayout,
    QPageSize,
    QPagedPaintDevice,
    QPainter,
    QPen,
    QTextLayout,
    QTextOption,
)

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


def page_size(name: str) -> QPageSize:
    """A4 or Letter (any case); anything else is refused before anything is printed."""
    key = {"a4": "A4", "letter": "Letter"}.get(name.strip().lower())
    if key is None:
        raise ValueError(f"page size must be A4 or Letter, not {name!r}")
    return QPageSize(PAGE_SIZES[key])


def setup_page(device: QPagedPaintDevice, paper: str) -> None:
    """Paper size and the printable margins, the same for a PDF and a printer."""
    device.setPageSize(page_size(paper))
    device.setPageMargins(MARGINS_MM, QPageLayout.Unit.Millimeter)


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
    """Place fragments page by page (see the module doc for the rules). A group
    kept together (`keep_with_next`) taller than a page starts a new page and
    breaks where it must."""
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


def draw_text(p: QPainter, font: QFont, x: float, y: float, w: float, h: float, text: str,
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
            draw_text(p, font, x, y + above, ctx.width, ctx.line_h(font), text)
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
                draw_text(p, font, x0 + pad, y + (pad if first else 0), width, lh, line, colour=colour)

            # a box (a signature) is never split across pages
            self.frags.append(Fragment(h, draw, keep_with_next=boxed and not last))

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
                        draw_text(p, self.small, cx, y + k * lh, label_w, lh, line, colour=GREY)
                    for k, line in enumerate(val):
                        draw_text(p, self.bold, cx + label_w, y + k * lh, value_w, lh, line)

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
                    draw_text(p, head_font, cx + pad, y + pad + k * head_lh, w - 2 * pad, head_lh, line)
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
                            draw_text(p, lf, cx + pad, yy, w - 2 * pad, lh, text, colour=colour)
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
                   header: Callable[[QPainter, Ctx, int], None], footer_left: str) -> int:
    """Paint `pages` with `header` (see `running_header`) and the footer on each;
    returns the number of pages."""
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
            header(painter, ctx, n)
            for y, frag in page.placed:
                if frag.height > ctx.body_height:  # never into the footer (see the module doc)
                    painter.save()
                    painter.setClipRect(QRectF(0, ctx.header_h, ctx.width, ctx.body_height))
                    frag.draw(painter, 0.0, ctx.header_h + y)
                    painter.restore()
                else:
                    frag.draw(painter, 0.0, ctx.header_h + y)
            fy = ctx.height - ctx.footer_h + ctx.pt(6)
            painter.setPen(QPen(RULE, ctx.pt(0.5)))
            painter.drawLine(QPointF(0, fy - ctx.pt(3)), QPointF(ctx.width, fy - ctx.pt(3)))
            lh = ctx.line_h(small)
            draw_text(painter, small, 0, fy, ctx.width * 0.78, lh, footer_left, colour=GREY)
            draw_text(painter, ctx.font(8, bold=True), 0, fy, ctx.width, lh, f"Page {n} of {total}",
                      Qt.AlignmentFlag.AlignRight)
    finally:
        painter.end()
    return len(pages)


def running_header(title: str, who: str, status: str) -> Callable[[QPainter, Ctx, int], None]:
    """Title and patient on every page (pages get separated), and whether the
    record is signed, so a loose page is never mistaken for a final record."""
    def draw(p: QPainter, ctx: Ctx, n: int) -> None:
        font, bold = ctx.font(8), ctx.font(8, bold=True)
        lh = ctx.line_h(font)
        right_w = ctx.metrics(bold).horizontalAdvance(status) + ctx.pt(4)
        left = ctx.metrics(font).elidedText(f"{who} — {title}", Qt.TextElideMode.ElideRight,
                                            ctx.width - right_w - ctx.pt(10))
        draw_text(p, font, 0, 0, ctx.width - right_w, lh, left, colour=GREY)
        draw_text(p, bold, 0, 0, ctx.width, lh, status, Qt.AlignmentFlag.AlignRight)
        p.setPen(QPen(RULE, ctx.pt(0.5)))
        p.drawLine(QPointF(0, lh + ctx.pt(3)), QPointF(ctx.width, lh + ctx.pt(3)))
    return draw


