"""A warm start shows the window before the operations' input schemas and the
protocol schema (pydantic) are loaded (ketamon.gui.app.DEFERRED_IMPORTS, the
protocol cache); they load right after, and a bad entry is still refused in words."""
import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _demo_made_once(tmp_path):
    """(the demo database, made by a first start; a function running Python code in
    a fresh process beside it): the next start is a warm one, as at a clinic."""
    db = tmp_path / "demo.sqlite3"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "KETAMON_DATA_DIR": str(tmp_path / "data")}
    run = lambda code, **extra: subprocess.run(  # noqa: E731
        [sys.executable, "-c", textwrap.dedent(code)], env={**env, **extra}, cwd=ROOT, capture_output=True,
        text=True, timeout=300)
    first = run(f"""
        from ketamon.cli import main
        raise SystemExit(main(["--demo", "--db", {str(db)!r}, "--screenshot", {str(tmp_path / "s.png")!r}]))
    """)
    assert first.returncode == 0, first.stderr
    return db, run


def test_the_window_shows_before_pydantic_loads_and_entries_are_still_checked(tmp_path):
    db, run = _demo_made_once(tmp_path)
    warm = run(f"""
        import sys
        from PySide6.QtWidgets import QMainWindow
        real_show = QMainWindow.show

        def show(window):
            print("at show:", sorted(m for m in ("pydantic", "ketamon.core.protocol_schema") if m in sys.modules))
            real_show(window)

        QMainWindow.show = show
        from ketamon.cli import main
        code = main(["--demo", "--db", {str(db)!r}])
        print("after:", "pydantic" in sys.modules)
        from ketamon.core import ops
        from ketamon.core.errors import ValidationError
        from ketamon.core.store import Store
        from ketamon.core.auth import active_actor
        store = Store({str(db)!r})
        nurse = active_actor(store, "nurse")
        try:  # an impossible SpO2 in the demo's first session
            ops.record_vitals(store, nurse, 1, spo2=250)
        except ValidationError as exc:
            print("refused:", exc)
        raise SystemExit(code)
    """, KETAMON_BENCH_STARTUP="1")
    assert warm.returncode == 0, warm.stderr
    lines = warm.stdout.splitlines()
    assert "at show: []" in lines
    assert "after: True" in lines
    (refused,) = [line for line in lines if line.startswith("refused:")]
    assert "250" in refused and "spo2" in refused.lower(), refused


#: what the window does not need to be drawn: the chart's plotting (pyqtgraph, numpy),
#: the chart itself, the dialogs and the printed summary they name, the input schemas (pydantic;
#: ketamon.core.inputs is there, as a lazy module not yet run),
#: migrations, the exports, the pages not shown
NOT_BEFORE_THE_WINDOW = ("pyqtgraph", "numpy", "ketamon.gui.chart_view", "ketamon.gui.chart_plot",
                         "ketamon.gui.dialogs", "ketamon.documents.summary", "pydantic",
                         "alembic", "ketamon.core.fhir", "ketamon.core.csv_export", "ketamon.documents.pdf",
                         "ketamon.gui.printing", "ketamon.gui.staff", "ketamon.gui.review_queue")


def test_a_warm_start_draws_the_window_first_and_its_chart_next(tmp_path):
    """Launch as a clinic does (the demo, started a second time): the window is painted
    with its sessions list and "Opening the chart…" before the chart's modules are even
    imported, and before the alert tick starts; the chart then comes, with the session's
    vital signs plotted. The start-up benchmark's two times ("shown", "chart") come in
    that order."""
    db, run = _demo_made_once(tmp_path)
    warm = run(f"""
        import sys
        from PySide6.QtWidgets import QMainWindow
        from ketamon.gui.first_paint import after_first_paint
        windows = []
        real_show = QMainWindow.show

        def at_first_paint(window):
            print("painted:", window.current_chart() is None, window.alarm_monitor.timer.isActive(),
                  window.empty_chart.text(), len(window.sessions.texts()),
                  sorted(m for m in {NOT_BEFORE_THE_WINDOW!r} if m in sys.modules))

        def show(window):
            windows.append(window)
            after_first_paint(window, lambda: at_first_paint(window), first=True)
            real_show(window)

        QMainWindow.show = show
        from ketamon.cli import main
        code = main(["--demo", "--db", {str(db)!r}])
        window = windows[0]
        chart = window.current_chart()
        print("chart:", chart.chart.patient.display_name in window.windowTitle(), window.windowTitle().endswith("(demo data)"),
              len([y for y in chart.plot.series("systolic")[1] if y == y]) > 3)
        raise SystemExit(code)
    """, KETAMON_BENCH_STARTUP="1")
    assert warm.returncode == 0, warm.stderr
    lines = warm.stdout.splitlines()
    words = [line.split()[0] for line in lines]
    assert words.index("painted:") < words.index("shown") < words.index("chart") < words.index("chart:"), lines
    (painted,) = [line for line in lines if line.startswith("painted:")]
    sessions = int(painted.split()[-2])
    assert painted == f"painted: True False Opening the chart… {sessions} []" and sessions >= 3, painted
    assert "chart: True True True" in lines
