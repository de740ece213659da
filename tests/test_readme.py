"""The README's scripting example runs as written (against a temporary file)."""
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_scripting_example_runs(tmp_path, capsys):
    text = README.read_text()
    assert text.splitlines()[3:5] == [
        "make run     # sets up .venv and opens the demo (embedded SQLite, demo data)",
        "make test    # sets up .venv with the test extras and runs the whole suite headless",
    ]
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    code = code.replace("sqlite:////tmp/scripted.sqlite3", f"sqlite:///{tmp_path / 'scripted.sqlite3'}")
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "Vital signs saved" in out and out.splitlines()[1].startswith("dosing [(128, 80)]")


def test_the_readme_installs_the_same_debian_packages_as_ci():
    """One list (.ci/debian-packages.txt) for the README's install line and .ci/run,
    xcb plugin libraries included: a bare machine set up from either opens the window."""
    listed = [line.strip() for line in (README.parent / ".ci" / "debian-packages.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    text = README.read_text().replace("\\\n", " ")
    install = re.search(r"apt-get install --no-install-recommends ([^\n`]+)", text).group(1).split()
    assert install == listed
    assert {"libxcb-icccm4", "libxcb-keysyms1", "libxcb-cursor0", "libxkbcommon-x11-0"} <= set(listed)
    assert "debian-packages.txt" in (README.parent / ".ci" / "run").read_text()


def test_make_run_names_the_missing_libraries_and_their_packages(monkeypatch, capsys):
    """`make run` on a machine without the xcb libraries: one sentence naming the
    missing libraries and the apt-get line that installs them (not Qt's abort)."""
    import importlib.util
    import subprocess

    path = README.parent / ".ci" / "qt_check.py"
    spec = importlib.util.spec_from_file_location("qt_check", path)
    qt_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(qt_check)
    assert [qt_check.package_for(s) for s in ("libxcb-icccm.so.4", "libxkbcommon-x11.so.0", "libGL.so.1",
                                              "libxcb-render-util.so.0", "libX11-xcb.so.1")] == \
        ["libxcb-icccm4", "libxkbcommon-x11-0", "libgl1", "libxcb-render-util0", "libx11-xcb1"]

    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setattr(qt_check.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 134, "", "abort"))
    monkeypatch.setattr(qt_check, "missing_libraries", lambda: ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"])
    assert qt_check.main() == 1
    err = capsys.readouterr().err
    assert "libxcb-icccm.so.4, libxcb-keysyms.so.1 are not installed" in err
    assert "sudo apt-get install libxcb-icccm4 libxcb-keysyms1" in err and "not in .ci" not in err

    monkeypatch.delenv("DISPLAY")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert qt_check.main() == 1
    assert "xvfb-run make run" in capsys.readouterr().err
