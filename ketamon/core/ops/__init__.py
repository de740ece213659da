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
from ketamon.core.ops.exports import mark_form_sent, record_export, record_print  # noqa: F401
from ketamon.core.ops.settings import set_clinic_setting  # noqa: F401
from ketamon.core.ops.users import (  # noqa: F401
    SignedIn,
    add_user,
    change_password,
    create_first_admin,
    disable_user,
    enable_user,
    lock_screen,
    reset_password,
    sign_in,
    sign_out,
)
from ketamon.core.ops.record import (  # noqa: F401
    add_addendum,
    cancel_session,
    discharge,
    move_to_recovery,
    record_discharge_assessment,
    record_discharge_checklist,
    record_phq9,
    record_phq9_followup,
    record_predose_checklist,
    sign_session,
    start_predose_checks,
    stop_early,
)
from ketamon.core.ops.alerting import (  # noqa: F401
    acknowledge_alert,
    evaluate_sessions,
    record_predose_decision,
    report_technical_problem,
    review_alert,
    review_alerts,
    set_alarm_sound,
    set_patient_limit_changes,
    set_patient_limits,
    technical_problem_resolved,
    tick,
)
from ketamon.core.ops.device import (  # noqa: F401
    check_device_feeds,
    mark_device_artefact,
    place_session,
    receive_device_message,
    register_monitor,
    store_device_message,
    validate_device_set,
)
