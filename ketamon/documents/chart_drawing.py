"""The blood pressure / heart rate chart as printed: drawn with QPainter into a
fixed block of the page (see `layout.Flow.block`).

Paper is not the screen: black, greys and symbols (▼ systolic, ▲ diastolic,
● heart rate with a dashed line) so it reads the same on a black-and-white
printer; colour is never the only carrier of meaning.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPainterPath, QPen, QPolygonF

from ketamon.core.report import SessionReport
from ketamon.documents.layout import GREY, HR_INK, INK, RULE, SHADE, Ctx, draw_text


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


def draw_bp_hr_chart(report: SessionReport, ctx: Ctx, printed: list | None = None
                     ) -> Callable[[QPainter, float, float, float, float], None]:
    """The chart of the sets the summary prints (`printed`, default the report's
    `vitals_for_print()`): a 1 Hz feed is thinned here exactly as in the table."""
    printed = report.vitals_for_print()[0] if printed is None else printed
    # a device set marked artefact is listed in the table, never drawn as the patient's
    vit = [v for v in printed if (v.systolic is not None or v.heart_rate is not None) and v.verdict != "artefact"]
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
            draw_text(p, ctx.font(9, italic=True), px, py, pw, ph, "No blood pressure or heart rate recorded.",
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
            draw_text(p, tiny, x0, Y(v) - lh / 2, left - ctx.pt(3), lh, str(v), Qt.AlignmentFlag.AlignRight, GREY)
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
            draw_text(p, tiny, xx - ctx.pt(20), py + ph + ctx.pt(3), ctx.pt(40), lh, tick.strftime("%H:%M"),
                      Qt.AlignmentFlag.AlignHCenter, GREY)
            tick += timedelta(minutes=step)
        draw_text(p, tiny, x0, y0, ctx.pt(140), lh, "mmHg · beats/min", colour=GREY)

        # dose events: dotted verticals labelled at the top
        last_label_x = -1e9
        for m in [m for m in marks if m.kind == "dose"]:
            xx = X(m.at)
            p.setPen(QPen(INK, ctx.pt(0.7), Qt.PenStyle.DotLine))
            p.drawLine(QPointF(xx, py), QPointF(xx, py + ph))
            fm = ctx.metrics(tiny)
            w = fm.horizontalAdvance(m.label) + ctx.pt(2)
            lx = max(xx - w / 2, last_label_x + ctx.pt(1))
            draw_text(p, ctx.font(7, bold=True), lx, py - lh - ctx.pt(1), w, lh, m.label, Qt.AlignmentFlag.AlignHCenter)
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
            draw_text(p, tiny, lx, ly, w, lh, m.label, Qt.AlignmentFlag.AlignHCenter)
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
            draw_text(p, small, lx, ly, w, lh, label)
            lx += w

    return draw

