"""Changing a clinic-wide setting (ketamon.core.settings, scope "clinic").

Append-only like every clinical entry: each change is a new clinic_settings row
saying who, when and why; the newest row per setting is in force. Workstation
settings are not changed here: they belong to each computer's environment.
"""
from __future__ import annotations

from typing import Any

from ketamon.core import settings
from ketamon.core.errors import ValidationError
from ketamon.core.models import ClinicSetting
from ketamon.core import inputs
from ketamon.core.ops.base import Op, operation
from ketamon.core.permissions import Permission


def check_clinic_value(name: str, value: Any) -> tuple[settings.Setting, Any]:
    """The declared setting and `value` typed by its declaration, or a ValidationError
    naming the field, the value and what is allowed. None returns a setting without a
    declared default (e.g. paper size) to "unset"."""
    s = settings.SETTINGS.get(name)
    if s is None:
        raise ValidationError(f"There is no setting {name!r}.", "name", name)
    if s.scope != settings.CLINIC:
        raise ValidationError(f"{s.title} is set on each workstation ({s.env}), not for the clinic.", "name", name)
    if value is None and s.default is None:
        return s, None
    try:
        return s, s.type.check(value)
    except ValueError:
        shown = value if isinstance(value, str) else repr(value)
        raise ValidationError(f"{s.title}: “{shown}” is not allowed; it takes {s.type.allowed}.", name,
                              value) from None


@operation(Permission.MANAGE_SETTINGS)
def set_clinic_setting(op: Op, name: str, value: Any, reason: str) -> int:
    """Set a clinic-wide setting, with a reason. Returns the new row's id."""
    inputs.ClinicSettingInput.check(op, locals())
    s, value = check_clinic_value(name, value)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(f"Give the reason for changing {s.title}.", "reason", reason)
    was = settings.clinic_entry(op.db, name).value
    row = ClinicSetting(key=name, value=settings.stored(name, value), reason=reason, set_at=op.now,
                        set_by_id=op.actor.user_id)
    op.db.add(row)
    op.db.flush()
    op.audit("setting", entity="clinic_setting", entity_id=row.id, before={name: was}, after={name: value},
             detail=f"{s.title}: {reason}")
    op.changes.mark(settings=True)
    shown = s.type.show(value) if value is not None else "unset"
    op.changes.message = f"{s.title} for the clinic: {shown}"
    return row.id
