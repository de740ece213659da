"""The core must stay headless: no Qt, no pyqtgraph, anywhere under ketamon.core."""
import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import ketamon.core

FORBIDDEN = ("PySide6", "pyqtgraph", "shiboken6")
CORE = Path(ketamon.core.__file__).parent


def test_core_source_imports_no_qt():
    offenders = []
    for path in CORE.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(CORE)}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []


def test_importing_every_core_module_loads_no_qt():
    modules = [m.name for m in pkgutil.walk_packages([str(CORE)], "ketamon.core.")]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


ROOT = CORE.parents[1]


def test_the_layer_rules_in_pyproject_hold():
    """The import-linter contracts in pyproject.toml (the core is headless; the
    command line and the documents never import the GUI; rules and read models
    never import the operations; the GUI never imports SQLAlchemy; no import
    loops between sibling modules). lint-imports prints which import broke one."""
    result = subprocess.run([sys.executable, "-c",
                             "import sys; from importlinter.cli import lint_imports; "
                             "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))"],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def test_documents_paint_without_widgets():
    """Documents use QtGui painting only: a PDF is written by the command line on
    a machine without a screen, and never through a widget."""
    offenders = []
    for path in (ROOT / "ketamon" / "documents").rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            offenders += [f"{path.name}: {n}" for n in names
                          if n.startswith(("PySide6.QtWidgets", "PySide6.QtPrintSupport", "pyqtgraph"))]
    assert offenders == []
