"""A value the screen shows as saved survives kill -9 of the app.

A child process records vital signs through the operations layer and prints the
id of each as soon as the operation returns (the moment the GUI would show
"saved"). The parent kills it with SIGKILL mid-stream, then every printed id
must be in the database with its values."""
import os
import signal
import subprocess
import sys
import textwrap

import pytest
from sqlalchemy import select

from ketamon.core.models import VitalSigns
from ketamon.core.store import Store

CHILD = textwrap.dedent(
    """
    import sys
    from datetime import date
    from ketamon.core import ops
    from ketamon.core.store import Store
    from ketamon.core.models import User
    from ketamon.core.permissions import Actor

    store = Store(sys.argv[1])
    with store.transaction() as db:
        u = User(username="n", display_name="N", role="nurse", active=True, failed_attempts=0,
                 created_at=store.clock.now())
        db.add(u); db.flush(); nurse = Actor(u.id, "n", "N", "nurse")
    pid = ops.create_patient(store, nurse, mrn="K1", family_name="Kill", given_name="Nine",
                             birth_date=date(1980, 1, 1), sex="male", weight_kg=80).result
    sid = ops.create_session(store, nurse, patient_id=pid, protocol_id="esketamine-56", lot_number="L").result
    print("ready", sid, flush=True)
    i = 0
    while True:
        i += 1
        vid = ops.record_vitals(store, nurse, sid, systolic=100 + i % 90, diastolic=60, heart_rate=60 + i % 60).result
        print("saved", vid, 100 + i % 90, 60 + i % 60, flush=True)
    """
)


@pytest.mark.slow
def test_saved_vitals_survive_sigkill(tmp_path):
    db_path = tmp_path / "kill.sqlite3"
    url = f"sqlite:///{db_path}"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, url], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "KETAMON_DATA_DIR": str(tmp_path)})
    saved: dict[int, tuple[int, int]] = {}
    try:
        for line in proc.stdout:
            parts = line.split()
            if parts[0] == "saved":
                saved[int(parts[1])] = (int(parts[2]), int(parts[3]))
                if len(saved) >= 40:
                    proc.send_signal(signal.SIGKILL)  # no clean-up, no checkpoint, no atexit
                    break
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert len(saved) >= 40
    store = Store(url)
    with store.read() as db:
        stored = {v.id: (v.systolic, v.heart_rate) for v in db.scalars(select(VitalSigns))}
    missing = {k: v for k, v in saved.items() if stored.get(k) != v}
    assert missing == {}, f"values shown as saved were lost: {missing}"
    store.dispose()
