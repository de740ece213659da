"""What a protocol check accepted is remembered by the file's content, so a warm
start does not build the schema (ketamon.core.protocols._Accepted); a changed or
bad file is still checked and refused."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ketamon.core.protocols import ProtocolRegistry, protocol_dirs
from ketamon.core.resources import resources_dir

SHIPPED = resources_dir() / "protocols"


def copy_protocols(dst: Path) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for f in SHIPPED.glob("*.toml"):
        (dst / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    return dst


def by_key(registry: ProtocolRegistry) -> dict:
    return {p.key: p for p in registry.current()}


def test_protocols_from_the_cache_equal_those_the_schema_built(tmp_path):
    cache = tmp_path / "protocols.json"
    checked = ProtocolRegistry.load([SHIPPED], cache=cache)
    assert cache.exists() and len(json.loads(cache.read_text())["protocols"]) == len(checked.current())
    warm = ProtocolRegistry.load([SHIPPED], cache=cache)
    assert by_key(warm) == by_key(checked) and warm.problems == [] == checked.problems
    assert {p.source for p in warm.current()} == {str(f) for f in SHIPPED.glob("*.toml")}


def test_a_file_made_bad_after_it_was_accepted_is_refused_and_listed(tmp_path):
    folder = copy_protocols(tmp_path / "protocols")
    cache = tmp_path / "protocols.json"
    assert len(ProtocolRegistry.load([folder], cache=cache).current()) == 4
    path = folder / "im-ketamine.toml"
    path.write_text(path.read_text().replace("[ranges.spo2]\nabsolute = [50, 100]",
                                          "[ranges.spo2]\nabsolute = [0, 1000]", 1))
    for _ in range(2):  # and again: a refusal is never remembered as accepted
        registry = ProtocolRegistry.load([folder], cache=cache)
        assert "im-ketamine" not in {p.id for p in registry.current()}
        (problem,) = [p for p in registry.problems if p.path == str(path)]
        assert problem.field == "ranges.spo2.absolute" and "hard limit" in problem.why


def test_a_cache_of_other_code_or_garbage_is_ignored(tmp_path):
    cache = tmp_path / "protocols.json"
    good = by_key(ProtocolRegistry.load([SHIPPED], cache=cache))
    data = json.loads(cache.read_text())
    for entry in data["protocols"].values():  # what older code might have kept
        entry["ranges"]["spo2"]["absolute"]["low"] = 0
    cache.write_text(json.dumps({**data, "code": "other code"}))
    assert by_key(ProtocolRegistry.load([SHIPPED], cache=cache)) == good
    cache.write_text("{not json")
    assert by_key(ProtocolRegistry.load([SHIPPED], cache=cache)) == good


def test_a_warm_start_does_not_import_the_schema(tmp_path):
    code = ("import sys; from ketamon.core.protocols import default_registry; r = default_registry(); "
            "print(len(r.current()), 'ketamon.core.protocol_schema' in sys.modules, 'pydantic' in sys.modules)")
    env = {"KETAMON_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    runs = [subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
            for _ in range(2)]
    n = len(list(p for d in protocol_dirs() for p in Path(d).glob("*.toml")))
    assert runs == [f"{n} True True\n", f"{n} False False\n"]
