"""A warm start shows the window before the operations' input schemas and the
protocol schema (pydantic) are loaded (ketamon.gui.app.DEFERRED_IMPORTS, the
protocol cache); they load right after, and a bad entry is still refused in words."""
import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_window_shows_before_pydantic_loads_and_entries_are_still_checked(tmp_path):
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
