"""The look: theme variables (resources/styles/theme.toml) and the numbered
stylesheets (resources/styles/NN-*.qss) that use them as `{{ name }}`
(`{{ icons }}` is the resources/icons directory, for url(...)).

Widgets never hard-code colours: they read `colour(name)` (plot pens) or set a
dynamic `role` property the stylesheet styles (`set_role`).
"""
from __future__ import annotations

import functools
import re
import tomllib

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from ketamon.core.resources import resource

THEME = "light"
_VAR = re.compile(r"\{\{\s*([a-z0-9_]+)\s*\}\}")


@functools.cache
def variables(theme: str = THEME) -> dict[str, str]:
    with open(resource("styles", "theme.toml"), "rb") as fh:
        return dict(tomllib.load(fh)[theme])


def colour(name: str, theme: str = THEME) -> str:
    return variables(theme)[name]


def stylesheet(theme: str = THEME) -> str:
    """All NN-*.qss files in order, with the theme's variables filled in.

    An unknown variable is an error (a typo would otherwise silently drop a rule)."""
    values = dict(variables(theme), icons=resource("icons").as_posix())
    parts = []
    for path in sorted(resource("styles").glob("[0-9][0-9]-*.qss")):
        text = path.read_text(encoding="utf-8")

        def fill(m: re.Match) -> str:
            if m.group(1) not in values:
                raise KeyError(f"{path.name}: unknown theme variable {m.group(1)!r}")
            return values[m.group(1)]

        parts.append(f"/* {path.name} */\n" + _VAR.sub(fill, text))
    return "\n".join(parts)


def point_size(name: str = "font_size", theme: str = THEME) -> float:
    """A theme font size in points (for painting outside the stylesheet, e.g. plot axes)."""
    return float(variables(theme)[name].removesuffix("pt"))


def set_role(widget: QWidget, role: str | None) -> None:
    """Set the `role` property the stylesheet keys on, and re-apply the style."""
    if widget.property("role") == role:
        return
    widget.setProperty("role", role)
    repolish(widget)


def repolish(widget: QWidget) -> None:
    """Re-apply the style sheet to `widget` and every widget inside it. A rule may
    choose a part by a property of the part's container (`QFrame#alertBanner
    [role="high"] QLabel#alertMessage`: white on red), and Qt re-applies the style
    sheet only to the widget whose property changed: the high alert's message
    stayed in the quiet banner's dark text, on red."""
    for w in (widget, *widget.findChildren(QWidget)):
        if not w.testAttribute(Qt.WidgetAttribute.WA_WState_Polished):
            continue  # never styled yet (a chart being built): its first polish reads the property
        style = w.style()
        style.unpolish(w)
        style.polish(w)
    widget.update()


def set_invalid(widget: QWidget, invalid: bool) -> None:
    """Mark an input field as holding the value that was refused."""
    if bool(widget.property("invalid")) == invalid:
        return
    widget.setProperty("invalid", invalid)
    repolish(widget)
