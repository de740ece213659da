"""Every operation's input checked at the boundary (ketamon.core.inputs): the
cases the safety review found, each refused with the field, the value and what is
allowed, nothing stored, and the refusal in the audit trail."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from ketamon.core import ops
from ketamon.core.chart import load_chart
from ketamon.core.errors import ValidationError
from ketamon.core.models import AuditEntry, DoseEvent, Patient


def _refused(call, *args, **kwargs) -> ValidationError:
    with pytest.raises(ValidationError) as err:
        call(*args, **kwargs)
    return err.value


@pytest.mark.parametrize("letter", ["", "CV", "a", "X", 1])
def test_acvpu_is_exactly_one_of_its_letters(store, nurse, esketamine_session, letter):
    err = _refused(ops.record_vitals, store, nurse, esketamine_session, heart_rate=70, consciousness=letter)
    assert err.field == "consciousness" and "A, C, V, P, U" in str(err)
    assert load_chart(store, esketamine_session).vitals == []


def test_a_measured_mean_lies_between_diastolic_and_systolic(store, nurse, esketamine_session):
    err = _refused(ops.record_vitals, store, nurse, esketamine_session, systolic=120, diastolic=80,
                   mean_arterial=130)
    assert err.field == "mean_arterial" and "between diastolic 80 and systolic 120" in str(err)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -3, 5000, True, "40"])
def test_an_infusion_rate_must_be_a_finite_number_inside_the_hard_limit(store, nurse, infusion_session,
                                                                         ready_for_dose, value):
    ready_for_dose(infusion_session)
    err = _refused(ops.record_dose, store, nurse, infusion_session, "infusion_start", rate_mg_per_h=value)
    assert err.field == "rate_mg_per_h" and "Infusion rate" in str(err)


@pytest.mark.parametrize("amount", [float("nan"), float("inf"), 5000, -28, 0])
def test_a_dose_corrected_to_an_impossible_amount_is_refused_and_the_chart_still_opens(
        store, nurse, esketamine_session, ready_for_dose, clock, amount):
    ready_for_dose(esketamine_session)
    clock.advance(minutes=1)
    dose_id = ops.record_dose(store, nurse, esketamine_session, "nasal_device").result
    err = _refused(ops.correct_dose, store, nurse, esketamine_session, dose_id, reason="typo", amount_mg=amount)
    assert err.field == "amount_mg"
    chart = load_chart(store, esketamine_session, fresh=True)
    assert [d.amount_mg for d in chart.doses] == [28]


def test_a_nasal_device_holds_one_strength(store, nurse, esketamine_session, ready_for_dose, clock):
    ready_for_dose(esketamine_session)
    err = _refused(ops.record_dose, store, nurse, esketamine_session, "nasal_device", amount_mg=-28)
    assert err.field == "amount_mg"
    err = _refused(ops.record_dose, store, nurse, esketamine_session, "nasal_device", amount_mg=56)
    assert "holds 28 mg" in str(err)
    with store.transaction() as db:
        assert list(db.scalars(select(DoseEvent))) == []


@pytest.mark.parametrize("kind, score", [("vomiting", -2), ("headache", 1e300), ("headache", 3)])
def test_only_kinds_with_a_scale_take_a_score(store, nurse, esketamine_session, kind, score):
    err = _refused(ops.record_side_effect, store, nurse, esketamine_session, kind, score=score)
    assert err.field == "score"


def test_items_only_where_the_scale_has_items(store, nurse, esketamine_session):
    err = _refused(ops.record_side_effect, store, nurse, esketamine_session, "nausea", items={"1": 2})
    assert err.field == "items"
    ok = ops.record_side_effect(store, nurse, esketamine_session, "dissociation", items={"1": 1, "2": 0})
    assert ok.result


def test_update_patient_makes_the_checks_registration_makes(store, nurse, patient_id, clock):
    tomorrow = clock.now().date() + timedelta(days=2)
    for fields, field in (({"birth_date": tomorrow}, "birth_date"), ({"weight_kg": float("nan")}, "weight_kg"),
                          ({"given_name": ""}, "given_name"), ({"given_name": "x" * 500}, "given_name"),
                          ({"sex": "yes"}, "sex"), ({"contraindications": ["bad"]}, "contraindications")):
        err = _refused(ops.update_patient, store, nurse, patient_id, **fields)
        assert err.field == field
    with store.transaction() as db:
        p = db.get(Patient, patient_id)
        assert (p.given_name, p.weight_kg, p.birth_date) == ("Lan", 61.0, date(1984, 3, 12))


def test_a_birth_date_tomorrow_is_refused_at_registration(store, nurse, clock):
    err = _refused(ops.create_patient, store, nurse, mrn="M-2", family_name="A", given_name="B",
                   birth_date=clock.now().date() + timedelta(days=2), sex="male")
    assert err.field == "birth_date" and err.value is None  # a birth date is not kept in a refusal


def test_an_entry_dated_far_before_the_session_is_refused(store, nurse, esketamine_session, clock):
    err = _refused(ops.record_vitals, store, nurse, esketamine_session, heart_rate=70,
                   measured_at=clock.now() - timedelta(hours=13))
    assert err.field == "measured_at" and "more than 12 h before" in str(err)
    ops.record_vitals(store, nurse, esketamine_session, heart_rate=70, measured_at=clock.now() - timedelta(hours=11))


def test_an_entry_ahead_of_the_clock_is_refused_within_the_clinic_tolerance(store, nurse, esketamine_session,
                                                                            clock):
    ops.record_vitals(store, nurse, esketamine_session, heart_rate=70, measured_at=clock.now() + timedelta(minutes=2))
    err = _refused(ops.record_vitals, store, nurse, esketamine_session, heart_rate=71,
                   measured_at=clock.now() + timedelta(minutes=3))
    assert "in the future" in str(err) and "at most 2 min ahead" in str(err)


def test_the_tolerance_is_a_clinic_setting(store, nurse, actors, esketamine_session, clock):
    ops.set_clinic_setting(store, actors["admin"], "future_tolerance_minutes", 5, "monitor clock runs ahead")
    ops.record_vitals(store, nurse, esketamine_session, heart_rate=70, measured_at=clock.now() + timedelta(minutes=4))


def test_a_refused_entry_is_audited_with_field_and_value_but_no_name(store, nurse, esketamine_session, patient_id):
    _refused(ops.record_vitals, store, nurse, esketamine_session, systolic=400, diastolic=80)
    _refused(ops.update_patient, store, nurse, patient_id, given_name="x" * 500)
    with store.transaction() as db:
        rows = list(db.scalars(select(AuditEntry).where(AuditEntry.action == "refused").order_by(AuditEntry.id)))
    vitals, name = rows[-2:]
    assert vitals.session_id == esketamine_session and "record_vitals" in vitals.detail
    assert "[systolic = 400]" in vitals.detail
    assert "update_patient" in name.detail and "xxxxx" not in name.detail and "[given_name]" in name.detail


@pytest.mark.parametrize("kwargs, field", [
    (dict(session_id=True), "session_id"), (dict(session_id=2**63), "session_id"),
    (dict(session_id="1"), "session_id"),
])
def test_wrong_types_are_refusals_not_crashes(store, nurse, esketamine_session, kwargs, field):
    err = _refused(ops.record_vitals, store, nurse, heart_rate=70, **kwargs)
    assert err.field == field


def test_every_operation_checks_its_input_first():
    """Each entry operation exported by ketamon.core.ops starts with its input model's check."""
    import inspect

    import ketamon.core.ops as all_ops

    unchecked = []
    for name in all_ops.__all__ if hasattr(all_ops, "__all__") else dir(all_ops):
        fn = getattr(all_ops, name)
        body = getattr(fn, "body", None)
        if body is None:
            continue
        if "inputs." not in inspect.getsource(body) or ".check(op, locals())" not in inspect.getsource(body):
            unchecked.append(name)
    assert unchecked == []


def test_a_refused_value_with_a_nul_byte_is_audited_as_printable_text(any_store):
    """Found by the generated-input suite on PostgreSQL: a refused value holding a
    NUL byte crashed the refusal's audit row (PostgreSQL text cannot hold NUL)."""
    from sqlalchemy import select

    from ketamon.core.errors import ValidationError
    from ketamon.core.models import AuditEntry

    from tests.conftest import add_user

    nurse = add_user(any_store, "nurse", "nurse", "Sam Carter RN")
    with pytest.raises(ValidationError, match="control characters"):
        ops.create_patient(any_store, nurse, mrn="a\x00b", family_name="Doe", given_name="Jo",
                           birth_date=date(1980, 1, 1), sex="female")
    with any_store.read() as db:
        detail = db.scalars(select(AuditEntry.detail).where(AuditEntry.action == "refused")).all()[-1]
    assert "\x00" not in detail and "create_patient" in detail
