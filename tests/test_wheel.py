"""The built wheel is complete: installed (not editable) in a fresh virtual
environment, ketamon finds its protocols, stylesheets and sounds and shows its
window. Guards against resources found relative to the source tree, which work
in a checkout and fail with FileNotFoundError once installed."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: what a wheel is built from; copied so that a build never leaves build/ in the checkout
SOURCES = ("pyproject.toml", "setup.py", "README.md", "ketamon", "resources")

pytestmark = pytest.mark.slow


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=240, **kw)
    assert out.returncode == 0, f"{' '.join(map(str, cmd))}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy(path, src / name)
    out = tmp_path_factory.mktemp("wheel")
    # With build isolation: the venv's own setuptools may predate bdist_wheel (Python 3.11's venv
    # ships 65.x); pip installs the pyproject's build requirement as a user's pip would.
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out), str(src)])
    (whl,) = out.glob("ketamon-*.whl")
    return whl


def test_the_wheel_holds_every_resource_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"ketamon/resources/{p.relative_to(ROOT / 'resources').as_posix()}"
               for p in (ROOT / "resources").rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert shipped and shipped - names == set()
    assert not any(n.startswith("resources/") for n in names)  # no top-level "resources" package
    modules = {f"{p.relative_to(ROOT).as_posix()}" for p in (ROOT / "ketamon").rglob("*.py")
               if "__pycache__" not in p.parts}
    assert modules - names == set()


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed (not editable, no dependencies
    downloaded: a .pth file makes this test run's dependencies importable)."""
    venv = tmp_path_factory.mktemp("venv") / "fresh"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    # a plain path line: the test venv's own .pth files (its editable ketamon finder) are not run
    (site / "test-dependencies.pth").write_text("\n".join(sorted(deps)) + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "--quiet",
          str(wheel)])
    return venv


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KETAMON_", "PYTHON"))}
    return env | {"QT_QPA_PLATFORM": "offscreen", "KETAMON_DATA_DIR": str(tmp_path / "data")}


def test_ketamon_comes_from_the_wheel_with_its_resources(installed, tmp_path):
    probe = ("import ketamon, importlib.resources as r; from ketamon.core.resources import resource;"
             "print(ketamon.__file__); print(r.files('ketamon.resources'));"
             "print(resource('protocols', 'esketamine-56.toml'))")
    out = _run([str(installed / "bin" / "python"), "-c", probe], cwd=tmp_path, env=_env(tmp_path)).stdout.split()
    assert all(Path(p).is_relative_to(installed) for p in out), out


def test_the_installed_ketamon_shows_its_window(installed, tmp_path):
    from PySide6.QtGui import QImage

    png = tmp_path / "out.png"
    _run([str(installed / "bin" / "ketamon"), "--demo", "--screenshot", str(png)], cwd=tmp_path,
         env=_env(tmp_path))
    image = QImage(str(png))
    assert (image.width(), image.height()) == (1440, 900)
    colours = {image.pixel(x, y) for x in range(0, 1440, 12) for y in range(0, 900, 12)}
    assert len(colours) > 20, "the screenshot is blank"
