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
