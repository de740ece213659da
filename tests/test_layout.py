"""The page-layout engine of printed documents, on its own: where fragments land
on pages (tables continue with their header, blocks move or shrink to fit, a
page never overflows), A4 against Letter, and the running header and footer on
every page."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PySide6.QtGui import QPdfWriter

from ketamon.documents.layout import Ctx, Flow, Fragment, paginate, paint_document, running_header, setup_page


@pytest.fixture
def device(qapp, tmp_path):
    """A PDF page (A4 unless asked) to measure and paint on, as the PDF writer sets it up."""
    def make(paper: str = "A4", name: str = "out.pdf") -> QPdfWriter:
        w = QPdfWriter(str(tmp_path / name))
        w.setResolution(600)
        setup_page(w, paper)
        return w

    return make


def _nothing(p, x, y) -> None:
    pass


def _frag(h: float, **kw) -> Fragment:
    return Fragment(h, _nothing, **kw)


def _where(pages, frag) -> list[tuple[int, float]]:
    return [(n, y) for n, page in enumerate(pages) for y, f in page.placed if f is frag]


def test_a_table_longer_than_a_page_continues_with_its_header_repeated(device):
    ctx = Ctx(device())
    flow = Flow(ctx)
    flow.table([("Time", 40), ("Reading", None)], [[f"{i:03d}", f"reading {i}"] for i in range(300)])
    header = flow.frags[0]
    rows = flow.frags[1:-1]  # the table ends with a little space
    pages = paginate(ctx, flow.frags)
    assert len(pages) >= 3
    for page in pages:
        assert page.placed[0][1] is header, "every page the table is on starts with its header"
        assert sum(f.height for _, f in page.placed) <= ctx.body_height + 1e-6
    placed_rows = [f for page in pages for _, f in page.placed if f in rows]
    assert placed_rows == rows, "every row printed once, in order"
    # the header is printed once per page and never alone at the bottom of a page
    for page in pages:
        assert [f for _, f in page.placed].count(header) == 1
        assert page.placed[-1][1] is not header


def test_a_block_taller_than_the_space_left_moves_to_the_next_page(device):
    ctx = Ctx(device())
    filler = _frag(ctx.body_height * 0.7)
    block = _frag(ctx.body_height * 0.5)
    after = _frag(ctx.pt(12))
    pages = paginate(ctx, [filler, block, after])
    assert _where(pages, filler) == [(0, 0.0)]
    assert _where(pages, block) == [(1, 0.0)], "not cut in two, not pushed into the footer"
    assert _where(pages, after) == [(1, block.height)]


def test_a_heading_stays_with_what_follows_it(device):
    ctx = Ctx(device())
    flow = Flow(ctx)
    flow.frags.append(_frag(ctx.body_height - ctx.pt(30)))
    flow.heading("Vital signs")
    heading = flow.frags[-1]
    flow.paragraph("The first line under the heading.")
    pages = paginate(ctx, flow.frags)
    assert _where(pages, heading)[0][0] == 1 == _where(pages, flow.frags[-1])[0][0]


def test_a_boxed_paragraph_a_signature_is_never_split_across_pages(device):
    ctx = Ctx(device())
    flow = Flow(ctx)
    flow.paragraph("Reviewed and signed by the supervising physician: " + "Dr Priya Shah, 20 Nov 2026 11:15 " * 4,
                   ctx.font(11, bold=True), boxed=True)
    box = list(flow.frags)
    assert len(box) >= 2, "the text wraps to more than one line"
    # the first line would fit at the foot of the page, the rest would not
    filler = _frag(ctx.body_height - box[0].height - ctx.pt(1))
    pages = paginate(ctx, [filler, *box])
    assert {_where(pages, f)[0][0] for f in box} == {1}, "every line of the box on the same page"


def test_a_drawing_taller_than_a_page_is_scaled_to_the_page_body(device):
    ctx = Ctx(device())
    sizes = []
    flow = Flow(ctx)
    flow.paragraph("Before the chart.")
    flow.block(5000, lambda p, x, y, w, h: sizes.append((w, h)))  # 5000 pt: several pages tall
    pages = paginate(ctx, flow.frags)
    chart = flow.frags[-1]
    assert chart.height == ctx.body_height
    assert _where(pages, chart) == [(1, 0.0)], "on a page of its own, from the top"
    paint_document(ctx.device, ctx, pages, lambda p, c, n: None, "footer")
    assert sizes == [(ctx.width, ctx.body_height)]


def test_a_fragment_taller_than_a_page_is_clipped_at_the_page_body(device):
    """A hand-built fragment that cannot fit starts a page and is cut at the
    body's bottom edge: it never paints over the footer."""
    ctx = Ctx(device())
    clips = []

    def draw(p, x, y):
        clips.append((p.hasClipping(), p.clipBoundingRect()))

    small = Fragment(ctx.pt(20), draw)
    huge = Fragment(ctx.body_height * 2.5, draw)
    pages = paginate(ctx, [small, huge])
    assert _where(pages, huge) == [(1, 0.0)] and len(pages) == 2
    paint_document(ctx.device, ctx, pages, lambda p, c, n: None, "footer")
    (small_clipped, _), (huge_clipped, rect) = clips
    assert not small_clipped
    assert huge_clipped
    assert rect.top() == pytest.approx(ctx.header_h) and rect.bottom() == pytest.approx(ctx.header_h + ctx.body_height)


@pytest.mark.parametrize("paper, size_mm", [("A4", (210, 297)), ("Letter", (215.9, 279.4))])
def test_page_counts_on_a4_and_letter(device, paper, size_mm):
    ctx = Ctx(device(paper))
    margins_mm = 12 + 12  # top and bottom (layout.MARGINS_MM)
    body_pt = (size_mm[1] - margins_mm) / 25.4 * 72 - 22 - 20  # less running header and footer
    assert ctx.body_height == pytest.approx(ctx.pt(body_pt), rel=1e-3)
    line = ctx.pt(12)
    per_page = int(ctx.body_height // line)
    frags = [_frag(line) for _ in range(1000)]
    pages = paginate(ctx, frags)
    assert [len(p.placed) for p in pages[:-1]] == [per_page] * (len(pages) - 1)
    assert len(pages) == -(-1000 // per_page)


def test_letter_needs_more_pages_than_a4_for_the_same_text(device):
    counts = {}
    for paper in ("A4", "Letter"):
        ctx = Ctx(device(paper, f"{paper}.pdf"))
        flow = Flow(ctx)
        for i in range(400):
            flow.paragraph(f"Line {i}: heart rate 72, SpO2 98 %, nothing unusual.")
        counts[paper] = len(paginate(ctx, flow.frags))
    assert counts["Letter"] > counts["A4"] > 1


def test_running_header_and_page_numbers_on_every_page(device, tmp_path):
    writer = device("A4", "doc.pdf")
    ctx = Ctx(writer)
    flow = Flow(ctx)
    flow.table([("Row", None)], [[f"row {i}"] for i in range(250)])
    pages = paginate(ctx, flow.frags)
    header = running_header("Ketamine Clinic · Session summary #7", "NGUYEN, Lan · MRN-1", "NOT SIGNED")
    seen = []

    def counted(p, c, n):
        seen.append(n)
        header(p, c, n)

    total = paint_document(ctx.device, ctx, pages, counted, "Printed by Alex Morgan")
    assert total == len(pages) > 2 and seen == list(range(1, total + 1))
    del ctx, writer  # finishes the file
    text = subprocess.run(["pdftotext", str(tmp_path / "doc.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout
    texts = [re.sub(r"\s+", " ", t) for t in text.split("\f") if t.strip()]
    assert len(texts) == total
    for n, page in enumerate(texts, start=1):
        assert "NGUYEN, Lan · MRN-1" in page and "NOT SIGNED" in page
        assert f"Page {n} of {total}" in page and "Printed by Alex Morgan" in page


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.floats(0.0, 1.0), st.booleans(), st.booleans()), min_size=1, max_size=60))
def test_any_sequence_of_fragments_is_placed_once_in_order_and_never_overflows(device, spec):
    ctx = Ctx(device())
    frags = [_frag(ctx.body_height * h, keep_with_next=keep, page_break_before=brk) for h, keep, brk in spec]
    pages = paginate(ctx, frags)
    placed = [f for page in pages for _, f in page.placed]
    assert placed == frags
    for n, page in enumerate(pages):
        assert page.placed, "no empty pages"
        ys = [y for y, _ in page.placed]
        assert ys == sorted(ys) and ys[0] == 0.0
        if len(page.placed) > 1:
            assert page.placed[-1][0] + page.placed[-1][1].height <= ctx.body_height + 1e-6
    for f in frags:
        if f.page_break_before:
            ((n, y),) = _where(pages, f)
            assert y == 0.0


def test_documents_never_import_widgets_or_the_gui():
    """Printing must work where there are no widgets (the command line, a server)."""
    import ast

    import ketamon.documents

    root = Path(ketamon.documents.__file__).parent
    bad = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            bad += [f"{path.name}: {n}" for n in names
                    if n.startswith(("ketamon.gui", "PySide6.QtWidgets", "PySide6.QtPrintSupport", "pyqtgraph"))]
    assert bad == []
