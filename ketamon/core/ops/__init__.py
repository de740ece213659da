"""The operations layer: every change to the data goes through here.

Call an operation as `ops.record_vitals(store, actor, session_id, systolic=…)`;
it returns a `Changes`. See ops.base for the contract.
"""
from ketamon.core.ops.base import Changes, Op, operation  # noqa: F401
from ketamon.core.ops.charting import (  # noqa: F401
    add_note,
    correct_dose,
    create_patient,
    create_session,
    current_entries,
    record_dose,
    record_side_effect,
    record_vitals,
    set_lot_number,
    update_patient,
)
