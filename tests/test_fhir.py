"""The FHIR R4 export: validated by fhir.resources' R4B models, plus the
vital-signs profile facts a receiving system relies on (LOINC codes, UCUM
units, BP as a panel with components, category vital-signs)."""
import json
from datetime import timedelta

import pytest
from fhir.resources.R4B.bundle import Bundle

from ketamon.core import ops
from ketamon.core.fhir import session_bundle
from records_data import AFTER_DOSE, BASELINE, full_session, predose

VS_CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"
OBS_STATUSES = {"registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error",
                "unknown"}


@pytest.fixture
def charted(store, clock, actors, esketamine_session):
    first = full_session(store, clock, actors, esketamine_session)
    return esketamine_session, first


def resources(bundle, kind):
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def codes(resource):
    return {c["code"] for c in resource["code"].get("coding", [])}


def loinc(obs_list, code):
    return [o for o in obs_list if code in codes(o)]


def test_bundle_validates_against_the_r4_models(store, charted):
    bundle = session_bundle(store, charted[0])
    parsed = Bundle.model_validate(json.loads(json.dumps(bundle)))  # exactly what is written to the file
    assert parsed.type == "collection"
    kinds = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert {"Patient", "Encounter", "Observation", "MedicationAdministration", "DetectedIssue",
            "Practitioner"} <= kinds
    urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(urls) == len(set(urls))
    # every reference inside the bundle resolves inside the bundle
    refs = set()

    def walk(x):
        if isinstance(x, dict):
            if isinstance(x.get("reference"), str) and x["reference"].startswith("urn:uuid:"):
                refs.add(x["reference"])
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(bundle)
    assert refs <= set(urls)


def test_patient_and_encounter(store, charted):
    bundle = session_bundle(store, charted[0])
    (p,) = resources(bundle, "Patient")
    assert p["identifier"][0]["value"] == "MRN-1" and p["identifier"][0]["type"]["coding"][0]["code"] == "MR"
    assert p["name"][0]["family"] == "Nguyen" and p["gender"] == "female" and p["birthDate"] == "1984-03-12"
    (enc,) = resources(bundle, "Encounter")
    assert enc["status"] == "finished" and enc["class"]["code"] == "AMB"
    assert {x["individual"]["display"] for x in enc["participant"]} == {"Sam Carter RN", "Dr Priya Shah"}


def test_vital_signs_follow_the_profile(store, charted):
    sid, first = charted
    obs = [o for o in resources(session_bundle(store, sid), "Observation") if o["status"] != "entered-in-error"]
    vitals = [o for o in obs if o["category"][0]["coding"][0]["code"] == "vital-signs"]
    for o in vitals:
        assert o["category"][0]["coding"][0]["system"] == VS_CATEGORY_SYSTEM
        assert o["status"] in OBS_STATUSES and o["subject"]["reference"].startswith("urn:uuid:")
        assert "effectiveDateTime" in o
        assert o["meta"]["profile"][0].startswith("http://hl7.org/fhir/StructureDefinition/")
        assert o["code"]["coding"][0]["system"] == "http://loinc.org"
    bp = loinc(vitals, "85354-9")
    assert len(bp) == 1 + len(AFTER_DOSE)
    expected = [BASELINE[:2]] + [(s, d) for _, s, d, *_ in AFTER_DOSE]
    got = []
    for o in sorted(bp, key=lambda o: o["effectiveDateTime"]):
        comp = {c["code"]["coding"][0]["code"]: c["valueQuantity"] for c in o["component"]}
        assert set(comp) == {"8480-6", "8462-4"}  # the mean was derived, not measured: not exported
        for q in comp.values():
            assert (q["system"], q["code"]) == ("http://unitsofmeasure.org", "mm[Hg]")
        assert "valueQuantity" not in o  # a panel: values live in its components
        got.append((comp["8480-6"]["value"], comp["8462-4"]["value"]))
    assert got == expected
    for code, unit in (("8867-4", "/min"), ("2708-6", "%"), ("9279-1", "/min"), ("8310-5", "Cel")):
        found = loinc(vitals, code)
        assert found, code
        assert all(o["valueQuantity"]["code"] == unit and o["valueQuantity"]["system"] == "http://unitsofmeasure.org"
                   for o in found)
    assert all("59408-5" in codes(o) for o in loinc(vitals, "2708-6"))  # pulse oximetry
    assert [o["valueQuantity"]["value"] for o in loinc(vitals, "8310-5")] == [36.7]  # only the one measured
    panels = loinc(vitals, "85353-1")
    assert len(panels) == len(expected) and all(o["hasMember"] for o in panels)
    assert loinc(vitals, "29463-7")[0]["valueQuantity"]["code"] == "kg"


def test_late_entry_keeps_measured_and_entered_times(store, charted):
    sid, first = charted
    hr = loinc(resources(session_bundle(store, sid), "Observation"), "8867-4")
    at60 = (first + timedelta(minutes=60)).isoformat(timespec="seconds")
    (late,) = [o for o in hr if o["effectiveDateTime"] == at60]
    assert late["issued"] == (first + timedelta(minutes=75)).isoformat(timespec="seconds")
    assert any("Entered late" in n["text"] for n in late["note"])


def test_a_correction_is_corrected_and_the_original_entered_in_error(store, charted):
    sid, first = charted
    hr = loinc(resources(session_bundle(store, sid), "Observation"), "8867-4")
    at20 = (first + timedelta(minutes=20)).isoformat(timespec="seconds")
    both = {o["status"]: o for o in hr if o["effectiveDateTime"] == at20}
    assert both["entered-in-error"]["valueQuantity"]["value"] == 87
    assert both["corrected"]["valueQuantity"]["value"] == 78
    assert "heart rate typed as 87" in both["corrected"]["note"][0]["text"]


def test_dose_events_are_medication_administrations(store, charted):
    sid, first = charted
    mas = resources(session_bundle(store, sid), "MedicationAdministration")
    assert len(mas) == 2
    for ma, minutes in zip(sorted(mas, key=lambda m: m["effectiveDateTime"]), (0, 5)):
        med = ma["contained"][0]
        assert med["code"]["coding"][0] == {"system": "http://hl7.org/fhir/sid/ndc", "code": "50458-028",
                                            "display": "Spravato (esketamine) nasal spray"}
        assert med["batch"]["lotNumber"] == "LOT-1" and ma["medicationReference"]["reference"] == "#med"
        assert ma["dosage"]["dose"] == {"value": 28.0, "unit": "mg", "system": "http://unitsofmeasure.org",
                                        "code": "mg"}
        assert ma["dosage"]["route"]["coding"][0]["code"] == "46713006"
        assert ma["status"] == "completed"
        assert ma["effectiveDateTime"] == (first + timedelta(minutes=minutes)).isoformat(timespec="seconds")


def test_an_infusion_is_one_administration_with_its_rate_and_period(store, clock, nurse, infusion_session):
    predose(store, clock, nurse, infusion_session)
    start = clock.now()
    ops.record_dose(store, nurse, infusion_session, "infusion_start", rate_mg_per_h=45)
    clock.advance(minutes=20)
    ops.record_dose(store, nurse, infusion_session, "infusion_stop")
    bundle = session_bundle(store, infusion_session)
    Bundle.model_validate(bundle)
    (ma,) = resources(bundle, "MedicationAdministration")
    assert ma["contained"][0]["code"]["coding"][0] == {"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                       "code": "238082"}
    assert ma["effectivePeriod"]["start"] == start.isoformat(timespec="seconds")
    assert ma["effectivePeriod"]["end"] == (start + timedelta(minutes=20)).isoformat(timespec="seconds")
    assert ma["dosage"]["rateQuantity"]["code"] == "mg/h" and ma["dosage"]["rateQuantity"]["value"] == 45
    assert ma["dosage"]["dose"]["value"] == 15.0  # 45 mg/h for 20 minutes, derived from the events
    assert ma["dosage"]["route"]["coding"][0]["code"] == "47625008" and ma["status"] == "completed"


def test_alerts_are_detected_issues_with_acknowledgement_and_review(store, charted):
    bundle = session_bundle(store, charted[0])
    (issue,) = [i for i in resources(bundle, "DetectedIssue") if "166" in i["code"]["text"]]
    assert issue["severity"] == "moderate"
    actions = [m["action"]["text"] for m in issue["mitigation"]]
    assert actions[0] == "Acknowledged" and actions[1].startswith("Reviewed: Expected BP peak")
    assert [m["author"]["display"] for m in issue["mitigation"]] == ["Sam Carter RN", "Dr Priya Shah"]
    (implicated,) = issue["implicated"]  # the vital-sign set that raised it
    urls = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    assert "85353-1" in codes(urls[implicated["reference"]])


def test_scales_are_observations(store, charted):
    obs = resources(session_bundle(store, charted[0]), "Observation")
    by_text = {o["code"].get("text"): o for o in obs}
    assert [o["valueInteger"] for o in obs if o["code"].get("text") == "MOAA/S"] == [4, 5]
    cadss = by_text["CADSS-6"]
    assert cadss["valueInteger"] == 5 and len(cadss["component"]) == 6
    assert by_text["Nausea (0–10)"]["valueInteger"] == 3
    (phq9,) = loinc(obs, "44261-6")
    assert phq9["valueInteger"] == 10 and phq9["category"][0]["coding"][0]["code"] == "survey"
    item9 = [c for c in phq9["component"] if c["code"]["coding"][0]["code"] == "44260-8"]
    assert item9[0]["valueInteger"] == 0
    assert by_text["Modified Aldrete score"]["valueInteger"] == 10


def test_exporting_twice_gives_the_same_ids(store, charted):
    a = [e["fullUrl"] for e in session_bundle(store, charted[0])["entry"]]
    b = [e["fullUrl"] for e in session_bundle(store, charted[0])["entry"]]
    assert a == b


def test_the_written_file_is_the_same_bundle_compact_and_valid(store, charted, tmp_path):
    """What `export --fhir` writes (streamed, entry by entry) is the bundle the
    tests above check, as compact JSON, and validates as FHIR R4."""
    from ketamon.core.exporting import write_export

    out = tmp_path / "bundle.json"
    write_export(store, charted[0], "fhir", out)
    text = out.read_text(encoding="utf-8")
    assert text.count("\n") == 1 and text.endswith("}\n") and ": " not in text.split('"entry"')[0]
    written = json.loads(text)
    Bundle.model_validate(written)
    assert written == session_bundle(store, charted[0])


def _peak_while_writing(store, sid, path) -> int:
    import gc
    import tracemalloc

    from ketamon.core.chart import forget_chart_cache
    from ketamon.core.exporting import write_export

    forget_chart_cache()
    gc.collect()
    tracemalloc.start()
    try:
        write_export(store, sid, "fhir", path)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_long_device_session_is_written_in_bounded_memory(store, actors, tmp_path, monkeypatch):
    """Six times the observations, not six times the memory: the vital-sign sets
    are read in chunks (small here, so both sessions take several) and each
    resource is written as it is made."""
    from ketamon.core import stored_vitals
    from ketamon.core.scenario import device_session

    monkeypatch.setattr(stored_vitals, "CHUNK_ROWS", 100)

    small = device_session(store, actors["nurse"], hours=0.1, hz=1)  # 360 sets
    large = device_session(store, actors["nurse"], hours=0.6, hz=1)  # 2 160 sets
    peak_small = _peak_while_writing(store, small, tmp_path / "small.json")
    peak_large = _peak_while_writing(store, large, tmp_path / "large.json")
    size_small, size_large = (tmp_path / "small.json").stat().st_size, (tmp_path / "large.json").stat().st_size
    assert size_large > 5 * size_small
    assert peak_large < 1.5 * peak_small, (peak_small, peak_large)
    assert peak_large < size_large / 4
    bundle = json.loads((tmp_path / "large.json").read_text())
    # heart rate, SpO2, respiratory rate and the panel for every set
    assert sum(1 for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation") >= 4 * 2160
