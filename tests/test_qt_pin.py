"""Guard against the PySide6 6.12.0 trap: on Python 3.11 every void Qt call
dropped a reference to None, and a long session aborted with
"Fatal Python error: none_dealloc". On 3.11 None is not immortal, so the leak is
visible in sys.getrefcount(None) — and, long enough, as that very abort.

Checked: with PySide6-Essentials 6.12.0 the second test fails (the child aborts);
with the pinned 6.11.3 it passes."""
import os
import subprocess
import sys
import textwrap
from importlib.metadata import version

import pytest

STRESS = textwrap.dedent(
    """
    import sys
    from PySide6.QtWidgets import QApplication, QLineEdit
    app = QApplication([])
    edit = QLineEdit()
    before = sys.getrefcount(None)
    for i in range(30000):          # a long session's worth of void calls
        edit.setText("x")
        edit.setEnabled(bool(i & 1))
    print(before - sys.getrefcount(None))
    """
)


def test_installed_pyside6_is_the_pinned_one():
    assert version("PySide6-Essentials") == "6.11.3"
    assert version("shiboken6") == "6.11.3"


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="None is immortal from 3.12 on; no refcount to watch")
def test_void_qt_calls_do_not_eat_references_to_none():
    result = subprocess.run([sys.executable, "-c", STRESS], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 0, f"Qt binding aborted a long session: {result.stderr[-500:]}"
    lost = int(result.stdout.strip().splitlines()[-1])
    # A healthy binding leaves None's count where it was, give or take temporaries;
    # the broken one loses one reference per call (60000).
    assert abs(lost) < 100, f"None lost {lost} references over 60000 void Qt calls"
