"""A role set on a widget before it is first styled (a chart being built) looks
exactly as one set on a widget already shown (theme.set_role skips restyling
what Qt has not styled yet: opening a chart restyled some 300 widgets for nothing)."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel

from ketamon.gui.theme import set_role


def banner(qtbot) -> QFrame:
    """The alert banner's parts that its role styles: the frame (red when high) and
    its message (white on red: chosen by the frame's role, 50-alerts.qss)."""
    frame = QFrame()
    qtbot.addWidget(frame)
    frame.setObjectName("alertBanner")
    message = QLabel("Systolic 186 mmHg — above the protocol's limit", frame)
    message.setObjectName("alertMessage")
    QHBoxLayout(frame).addWidget(message)
    frame.resize(600, 44)
    return frame


def seen(qtbot, frame: QFrame):
    frame.show()
    qtbot.waitExposed(frame)
    return frame.grab().toImage()


def test_a_role_set_before_the_first_show_looks_as_one_set_after(qtbot):
    before = banner(qtbot)
    set_role(before, "high")  # never styled yet
    assert not before.findChild(QLabel).testAttribute(Qt.WidgetAttribute.WA_WState_Polished)
    after = banner(qtbot)
    quiet = seen(qtbot, after)
    set_role(after, "high")  # styled: restyled with its children (white text on red)
    high = after.grab().toImage()
    assert seen(qtbot, before) == high
    assert high != quiet  # the role does change what is seen
    set_role(after, None)
    assert after.grab().toImage() == quiet  # and back
