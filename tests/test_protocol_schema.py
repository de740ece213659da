"""Protocol files are checked on load and cannot widen the hard limits.

A clinic drops its own protocol file into the directory named by
KETAMON_PROTOCOLS. A broken file must be refused with its path, the field and
why (kept on the registry for an administrator), the other protocols must keep
working, and no file, nor the lack of one, may let an impossible value into the
record."""
from __future__ import annotations

import math
import re
import tempfile
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from ketamon.core import hard_limits, ops
from ketamon.core.errors import ValidationError
from ketamon.core.models import VitalSigns
from ketamon.core.protocols import (
    PARAMETERS,
    ProtocolError,
    ProtocolRegistry,
    parse_protocol,
    read_protocol_file,
    validate_alarm_rules,
)
from ketamon.core.resources import resources_dir
from ketamon.core.store import Store

SHIPPED = resources_dir() / "protocols"
SHIPPED_IDS = {"esketamine-56", "esketamine-84", "im-ketamine", "iv-ketamine-0.5"}
IV_TEXT = (SHIPPED / "iv-ketamine-0.5.toml").read_text(encoding="utf-8")
ESK_TEXT = (SHIPPED / "esketamine-56.toml").read_text(encoding="utf-8")


def clinic_file(text: str, new_id: str, **replace: str) -> str:
    """A shipped file given a new id, with each `old` text replaced by `new` once."""
    out = re.sub(r'^id = ".*"$', f'id = "{new_id}"', text, count=1, flags=re.M)
    for old, new in replace.items():
        assert old in out, old
        out = out.replace(old, new, 1)
    return out


def without_ranges(text: str, new_id: str, keep: tuple[str, ...] = ()) -> str:
    """The file with every [ranges.*] table removed except those in `keep`."""
    head, rest = text.split("[ranges.systolic]", 1)
    ranges, tail = rest.split("# Alarm rules", 1)
    tables = re.split(r"^(?=\[ranges\.)", "[ranges.systolic]" + ranges, flags=re.M)
    kept = "".join(t for t in tables if any(t.startswith(f"[ranges.{k}]") for k in keep))
    return clinic_file(head + kept + "# Alarm rules" + tail, new_id)


def load_clinic(monkeypatch, tmp_path: Path, files: dict[str, str]) -> ProtocolRegistry:
    """The registry a workstation builds with the clinic's directory in KETAMON_PROTOCOLS."""
    clinic = tmp_path / "clinic-protocols"
    clinic.mkdir()
    for name, text in files.items():
        (clinic / name).write_text(text, encoding="utf-8")
    monkeypatch.setenv("KETAMON_PROTOCOLS", str(clinic))
    return ProtocolRegistry.load()


def test_the_shipped_protocols_and_alarm_rules_pass_the_schema():
    registry = ProtocolRegistry.load([SHIPPED])
    assert registry.problems == []
    assert {p.id for p in registry.current()} == SHIPPED_IDS
    defaults = resources_dir() / "alarms" / "defaults.toml"
    import tomllib

    assert validate_alarm_rules(tomllib.loads(defaults.read_text(encoding="utf-8")), str(defaults)) == []


BROKEN = [
    # (what the clinic got wrong, file text, field, words in the reason)
    ("SpO2 absolute range 0-1000",
     clinic_file(IV_TEXT, "bad", **{"[ranges.spo2]\nabsolute = [50, 100]": "[ranges.spo2]\nabsolute = [0, 1000]"}),
     "ranges.spo2.absolute", ["0–1000", "hard limit 0–100 %"]),
    ("no [ranges] section", without_ranges(IV_TEXT, "bad"), "ranges", ["required"]),
    ("a band of strings",
     clinic_file(IV_TEXT, "bad", **{"critical = [80, 180]": 'critical = ["80", "180"]'}),
     "ranges.systolic.critical.low", ["number", "'80'"]),
    ("an inverted band",
     clinic_file(IV_TEXT, "bad", **{"abnormal = [90, 160]": "abnormal = [160, 90]"}),
     "ranges.systolic.abnormal", ["inverted", "160", "90"]),
    ("critical reaching beyond absolute",
     clinic_file(IV_TEXT, "bad", **{"critical = [80, 180]": "critical = [30, 180]"}),
     "ranges.systolic.critical", ["30–180", "absolute range 40–300 mmHg"]),
    ("abnormal wider than critical",
     clinic_file(IV_TEXT, "bad", **{"abnormal = [90, 160]": "abnormal = [70, 160]"}),
     "ranges.systolic.abnormal", ["70", "critical lower limit 80"]),
    ("an unknown parameter name",
     clinic_file(IV_TEXT, "bad", **{"[ranges.spo2]": "[ranges.sp02]"}),
     "ranges.sp02", ["not a known name", "spo2"]),
    ("a misspelt section",
     clinic_file(IV_TEXT, "bad", **{"[schedule]": "[schedul]"}),
     "schedul", ["not a known name"]),
    ("infinity as a limit",
     clinic_file(IV_TEXT, "bad", **{"absolute = [20, 250]": "absolute = [20, inf]"}),
     "ranges.heart_rate.absolute.high", ["finite"]),
    ("a zero interval",
     clinic_file(IV_TEXT, "bad", **{"after_dose_every = 15": "after_dose_every = 0"}),
     "schedule.after_dose_every", ["1–1440 min"]),
    ("a tenfold dose",
     clinic_file(IV_TEXT, "bad", **{"mg_per_kg = 0.5": "mg_per_kg = 5"}),
     "dose.mg_per_kg", ["5 mg/kg", "hard limit 2 mg/kg"]),
    ("an unknown route",
     clinic_file(IV_TEXT, "bad", **{'route = "iv"': 'route = "oral"'}),
     "route", ["'oral'"]),
    ("nasal devices that do not add up",
     clinic_file(ESK_TEXT, "bad", **{"mg = 56": "mg = 60"}),
     "dose.mg", ["2 devices × 28 mg"]),
    ("esketamine watched for one hour",
     clinic_file(ESK_TEXT, "bad", **{"minimum_minutes = 120": "minimum_minutes = 60"}),
     "monitoring.minimum_minutes", ["120 min", "REMS"]),
    ("an alarm rule with an unknown priority",
     clinic_file(ESK_TEXT, "bad", **{'priority = "medium"\n': 'priority = "urgent"\n'}),
     "rules.predose_gate.priority", ["'urgent'"]),
    ("an alarm threshold beyond the hard limit",
     clinic_file(ESK_TEXT, "bad", **{"systolic = 140": "systolic = 1400"}),
     "rules.predose_gate.systolic", ["1400", "20–350 mmHg"]),
]


@pytest.mark.parametrize("what, text, field, words", BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_clinic_file_is_refused_by_name_and_the_others_keep_working(monkeypatch, tmp_path, what,
                                                                            text, field, words):
    good = clinic_file(IV_TEXT, "clinic-good")
    registry = load_clinic(monkeypatch, tmp_path, {"a-good.toml": good, "b-bad.toml": text})
    bad_path = str(tmp_path / "clinic-protocols" / "b-bad.toml")

    assert {p.id for p in registry.current()} == SHIPPED_IDS | {"clinic-good"}
    with pytest.raises(KeyError):
        registry.get("bad")
    problems = [p for p in registry.problems if p.path == bad_path]
    assert problems and all(p.path == bad_path for p in registry.problems)
    (named,) = [p for p in problems if p.field == field]
    message = str(named)
    assert message.startswith(f"{bad_path}: {field}: ")
    for w in words:
        assert w in message


def test_a_toml_syntax_error_names_the_file_and_the_line(monkeypatch, tmp_path):
    lines = clinic_file(IV_TEXT, "bad").splitlines()
    n = next(i for i, line in enumerate(lines) if line.startswith("mg_per_kg"))
    lines[n] = "mg_per_kg = 0.5 mg"  # a unit typed after the number
    registry = load_clinic(monkeypatch, tmp_path, {"broken.toml": "\n".join(lines)})

    assert {p.id for p in registry.current()} == SHIPPED_IDS
    (problem,) = registry.problems
    assert problem.path.endswith("broken.toml") and problem.line == n + 1
    assert f"broken.toml: line {n + 1}: TOML syntax error" in str(problem)


def test_a_second_file_with_the_same_protocol_version_is_refused_not_fatal(monkeypatch, tmp_path):
    registry = load_clinic(monkeypatch, tmp_path, {"copy.toml": IV_TEXT})
    assert {p.id for p in registry.current()} == SHIPPED_IDS
    (problem,) = registry.problems
    assert problem.field == "version" and "iv-ketamine-0.5@1 is already defined" in problem.why
    assert registry.get("iv-ketamine-0.5").source.endswith(str(Path("protocols") / "iv-ketamine-0.5.toml"))


def test_parse_protocol_refuses_with_every_problem():
    import tomllib

    data = tomllib.loads(clinic_file(IV_TEXT, "x", **{"abnormal = [90, 160]": "abnormal = [160, 90]",
                                                       "[ranges.spo2]\nabsolute = [50, 100]":
                                                           "[ranges.spo2]\nabsolute = [0, 1000]"}))
    with pytest.raises(ProtocolError) as err:
        parse_protocol(data, "x.toml")
    assert {p.field for p in err.value.problems} == {"ranges.systolic.abnormal", "ranges.spo2.absolute"}


def test_a_missing_side_of_the_absolute_range_is_the_hard_limit(monkeypatch, tmp_path):
    text = clinic_file(IV_TEXT, "open", **{"[ranges.spo2]\nabsolute = [50, 100]":
                                           "[ranges.spo2]\nabsolute = { low = 50 }"})
    registry = load_clinic(monkeypatch, tmp_path, {"open.toml": text})
    assert registry.problems == []
    spo2 = registry.get("open").ranges["spo2"]
    assert (spo2.absolute.low, spo2.absolute.high) == (50, 100)
    assert spo2.tier(101) == "impossible"


# ---------------------------------------------------------------- generated bands

NUMBERS = st.one_of(
    st.integers(-500, 1500),
    st.integers(0, 360),  # mostly plausible, so that many files are accepted and checked
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-50, 400, allow_nan=False).map(lambda x: round(x, 1)),
)
VALUES = st.one_of(NUMBERS, NUMBERS, NUMBERS, st.text(alphabet="0123456789abc. -", max_size=3), st.booleans())


def _toml(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'
    if isinstance(v, float):
        return "nan" if math.isnan(v) else repr(v)
    return str(v)


BAND = st.one_of(
    st.none(),
    st.lists(VALUES, min_size=1, max_size=3),
    st.fixed_dictionaries({}, optional={"low": VALUES, "high": VALUES}),
)
ANY_TIERS = st.fixed_dictionaries({}, optional={"absolute": BAND, "critical": BAND, "abnormal": BAND})


@st.composite
def nested_tiers(draw, name: str) -> dict:
    """Six numbers around the hard limit, sorted into absolute ⊇ critical ⊇ abnormal,
    sometimes with a side dropped or two numbers swapped: mostly good files, some
    just over a limit."""
    hard = hard_limits.VITALS[name]
    v = sorted(draw(st.lists(st.integers(int(hard.low) - 15, int(hard.high) + 15), min_size=6, max_size=6)))
    if draw(st.booleans()):
        i = draw(st.integers(0, 4))
        v[i], v[i + 1] = v[i + 1], v[i]
    tiers = {"absolute": [v[0], v[5]], "critical": {"low": v[1], "high": v[4]}, "abnormal": [v[2], v[3]]}
    if draw(st.booleans()):
        del tiers["critical"][draw(st.sampled_from(["low", "high"]))]
    return tiers


RANGES = st.lists(st.sampled_from(list(PARAMETERS)), unique=True, max_size=4).flatmap(
    lambda names: st.fixed_dictionaries({n: st.one_of(ANY_TIERS, nested_tiers(n), nested_tiers(n)) for n in names}))


def ranges_toml(ranges: dict) -> str:
    out = []
    for name, tiers in ranges.items():
        out.append(f"[ranges.{name}]")
        for tier, band in tiers.items():
            if band is None:
                continue
            if isinstance(band, list):
                out.append(f"{tier} = [{', '.join(_toml(v) for v in band)}]")
            else:
                out.append(f"{tier} = {{ {', '.join(f'{k} = {_toml(v)}' for k, v in band.items())} }}")
    return "\n".join(out) + "\n"


def _given_values(tiers: dict, tier: str) -> list:
    band = tiers.get(tier)
    if band is None:
        return []
    return list(band) if isinstance(band, list) else list(band.values())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(RANGES)
def test_generated_ranges_are_refused_or_lie_inside_the_hard_limits_in_order(ranges):
    head = without_ranges(IV_TEXT, "generated")
    head, tail = head.split("# Alarm rules", 1)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "generated.toml"
        path.write_text(head + "[ranges]\n" + ranges_toml(ranges) + "# Alarm rules" + tail, encoding="utf-8")
        protocol, problems = read_protocol_file(path)

    if protocol is None:
        assert problems and all(p.path == str(path) and p.field and p.field.startswith("ranges.")
                                for p in problems)
        return
    assert problems == []
    for name, tiers in ranges.items():
        hard = hard_limits.VITALS[name]
        for v in _given_values(tiers, "absolute"):
            # the oracle: a number the file gives outside the hard limit is never accepted
            assert isinstance(v, (int, float)) and not isinstance(v, bool) and hard.contains(v)
    for name, r in protocol.ranges.items():
        hard = hard_limits.VITALS[name]
        a, c, n = r.absolute, r.critical, r.abnormal
        assert hard.low <= a.low <= a.high <= hard.high
        for band in (c, n):
            for v in (band.low, band.high):
                assert v is None or a.low <= v <= a.high
            if band.low is not None and band.high is not None:
                assert band.low <= band.high
        if c.low is not None and n.low is not None:
            assert n.low >= c.low
        if c.high is not None and n.high is not None:
            assert n.high <= c.high
        for v in (hard.low - 1, a.low, (a.low + a.high) / 2, a.high, hard.high + 1):
            assert r.tier(v) in ("impossible", "critical", "abnormal", "normal")
        assert r.tier(hard.high + 1) == "impossible" and r.tier(hard.low - 1) == "impossible"


# ---------------------------------------------------------------- the hard limits at the chair


@pytest.fixture
def store_without_systolic_range(sqlite_url, clock, monkeypatch, tmp_path):
    """A clinic protocol that says nothing about systolic or diastolic BP."""
    text = without_ranges(IV_TEXT, "iv-no-bp", keep=("mean_arterial", "heart_rate", "spo2", "resp_rate",
                                                      "temperature"))
    registry = load_clinic(monkeypatch, tmp_path, {"iv-no-bp.toml": text})
    assert registry.problems == [] and "systolic" not in registry.get("iv-no-bp").ranges
    store = Store(sqlite_url, clock=clock, run_migrations=False, protocols=registry)
    yield store
    store.dispose()


def count_vitals(store) -> int:
    with store.read() as db:
        return db.scalar(select(func.count()).select_from(VitalSigns))


def test_systolic_400_is_refused_even_when_the_protocol_has_no_systolic_range(store_without_systolic_range):
    from tests.conftest import add_user

    store = store_without_systolic_range
    nurse = add_user(store, "nurse", "nurse")
    doctor = add_user(store, "doctor", "physician")
    pid = ops.create_patient(store, nurse, mrn="MRN-9", family_name="Okafor", given_name="Ada",
                             birth_date=date(1979, 5, 2), sex="female", weight_kg=70.0).result
    sid = ops.create_session(store, nurse, patient_id=pid, protocol_id="iv-no-bp",
                             physician_id=doctor.user_id).result

    with pytest.raises(ValidationError) as err:
        ops.record_vitals(store, nurse, sid, systolic=400, diastolic=80)
    assert err.value.field == "systolic" and err.value.value == 400
    assert "Systolic BP 400 mmHg is not possible: allowed 20–350 mmHg" in str(err.value)
    with pytest.raises(ValidationError) as err:
        ops.record_vitals(store, nurse, sid, systolic=120, diastolic=5)
    assert err.value.field == "diastolic" and "allowed 10–250 mmHg" in str(err.value)
    assert count_vitals(store) == 0

    ops.record_vitals(store, nurse, sid, systolic=350, diastolic=80)  # at the limit: a reading, not refused
    assert count_vitals(store) == 1


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0])
def test_spo2_that_is_not_a_percentage_is_refused(store, nurse, esketamine_session, value):
    with pytest.raises(ValidationError) as err:
        ops.record_vitals(store, nurse, esketamine_session, spo2=value)
    assert err.value.field == "spo2" and "SpO2" in str(err.value)
    assert count_vitals(store) == 0


@pytest.mark.parametrize("value", ["98", True])
def test_a_vital_that_is_not_a_number_is_refused_not_a_crash(store, nurse, esketamine_session, value):
    with pytest.raises(ValidationError) as err:
        ops.record_vitals(store, nurse, esketamine_session, spo2=value)
    assert err.value.field == "spo2" and "must be a number" in str(err.value)
    assert count_vitals(store) == 0


def test_every_shipped_absolute_range_lies_inside_the_hard_limits():
    for protocol in ProtocolRegistry.load([SHIPPED]).current():
        for name, r in protocol.ranges.items():
            hard = hard_limits.VITALS[name]
            assert hard.low <= r.absolute.low <= r.absolute.high <= hard.high, (protocol.key, name)


def test_a_broken_alarm_defaults_file_is_listed_with_the_protocol_refusals(monkeypatch, tmp_path):
    import shutil

    copy = tmp_path / "resources"
    shutil.copytree(resources_dir() / "protocols", copy / "protocols")
    (copy / "alarms").mkdir()
    defaults = (resources_dir() / "alarms" / "defaults.toml").read_text(encoding="utf-8")
    (copy / "alarms" / "defaults.toml").write_text(defaults.replace("above = 120", "above = 1200"),
                                                   encoding="utf-8")
    monkeypatch.setenv("KETAMON_RESOURCES", str(copy))
    monkeypatch.delenv("KETAMON_PROTOCOLS", raising=False)

    registry = ProtocolRegistry.load()
    assert {p.id for p in registry.current()} == SHIPPED_IDS
    (problem,) = registry.problems
    assert problem.path == str(copy / "alarms" / "defaults.toml")
    assert problem.field == "hr_sustained.above" and "1200 lies outside the hard limit 10–350 /min" in problem.why
