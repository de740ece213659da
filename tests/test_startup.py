"""Start-up skips what a warm start does not need: the database already at the
newest schema is opened with one query and Alembic is never imported; a new
database is still migrated, and a database from a newer ketamon is refused."""
import os
import shutil
import subprocess
import sys
import textwrap

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from ketamon.core.models import Base
from ketamon.core.store import MIGRATIONS_DIR, Store, schema_revision
from ketamon.migrations import HEAD

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_python(code: str, tmp_path) -> subprocess.CompletedProcess:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "KETAMON_DATA_DIR": str(tmp_path / "data")}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=180)


def test_the_head_known_to_the_package_is_alembics_head():
    """Forgetting to update ketamon.migrations.HEAD with a new migration fails here
    (otherwise every start would run Alembic, or an upgrade would be skipped)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert ScriptDirectory.from_config(cfg).get_heads() == [HEAD]


def test_a_new_database_is_created_at_head_with_every_table(tmp_path):
    store = Store(str(tmp_path / "new.sqlite3"))
    try:
        assert schema_revision(store.engine) == HEAD
        with store.engine.connect() as conn:
            assert set(Base.metadata.tables) <= set(inspect(conn).get_table_names())
    finally:
        store.dispose()


def test_a_warm_start_opens_the_database_without_alembic(sqlite_template, tmp_path):
    db = tmp_path / "clinic.sqlite3"
    shutil.copy(sqlite_template, db)
    out = run_python(f"""
        import sys
        from ketamon.core.store import Store
        store = Store({str(db)!r})
        with store.read() as d:
            pass
        print(sorted(m for m in ("alembic", "mako") if m in sys.modules))
    """, tmp_path)
    assert (out.returncode, out.stdout.strip()) == (0, "[]"), out.stderr


def test_the_demo_window_starts_warm_without_alembic_or_documents(tmp_path):
    """`--screenshot` of the demo, started a second time: the window is drawn, and
    neither Alembic nor the FHIR / printing modules were imported on the way
    (pydantic waits for the first check or save: tests/test_startup_deferred.py)."""
    db, png = tmp_path / "demo.sqlite3", tmp_path / "demo.png"
    first = run_python(f"""
        from ketamon.cli import main
        raise SystemExit(main(["--demo", "--db", {str(db)!r}, "--screenshot", {str(png)!r}]))
    """, tmp_path)
    assert first.returncode == 0, first.stderr
    png.unlink()
    warm = run_python(f"""
        import sys
        from ketamon.cli import main
        code = main(["--demo", "--db", {str(db)!r}, "--screenshot", {str(png)!r}])
        print(sorted(m for m in ("alembic", "fhir", "ketamon.core.fhir", "ketamon.gui.printing")
                     if m in sys.modules))
        raise SystemExit(code)
    """, tmp_path)
    assert (warm.returncode, warm.stdout.strip().splitlines()[-1]) == (0, "[]"), warm.stderr
    assert png.stat().st_size > 10_000


def test_a_database_from_a_newer_ketamon_is_refused_in_one_sentence(sqlite_template, tmp_path):
    """The window does not start on it; the person is told why, and nothing is written."""
    db = tmp_path / "clinic.sqlite3"
    shutil.copy(sqlite_template, db)
    store = Store(str(db), run_migrations=False)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'f00dfeedbeef'"))
    store.dispose()
    before = db.read_bytes()
    out = run_python(f"""
        from ketamon.cli import main
        raise SystemExit(main(["--db", {str(db)!r}, "--screenshot", {str(tmp_path / "x.png")!r}]))
    """, tmp_path)
    assert out.returncode == 2
    assert (f"cannot open the database {db}: it was made by a newer version of ketamon (schema f00dfeedbeef): "
            "update ketamon to open it") in out.stderr.splitlines()
    assert db.read_bytes() == before and not (tmp_path / "x.png").exists()


def test_the_launch_benchmark_times_the_window_and_the_chart_against_the_bare_floor(tmp_path, capsys, monkeypatch):
    """benchmarks/launch.py at one repeat: both ketamon figures (the window's first paint,
    then the chart's) and the bare window's, so the benchmark cannot rot unnoticed."""
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    try:
        import launch
    finally:
        sys.path.remove(os.path.join(ROOT, "benchmarks"))
    monkeypatch.setenv("KETAMON_DATA_DIR", str(tmp_path))
    bare_shown, bare_chart = launch.launch_times([sys.executable, "-c", launch.BARE],
                                                 {**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert bare_shown > 0 and bare_chart is None
    assert launch.main(["--repeats", "1", "--no-compile"]) == 0  # writes no bytecode into the checkout
    out = capsys.readouterr().out
    shown, chart = (float(line.split()[4]) for line in out.splitlines() if "ketamon --demo:" in line)
    assert 0 < shown < chart, out
    assert "bare window floor" in out
