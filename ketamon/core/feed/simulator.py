"""A bedside monitor simulator for demos, tests and clinic IT: realistic PCD-01
ORU^R01 messages (ECG heart rate, SpO2, pulse, respiratory rate every second;
an NIBP set every `nibp_every` seconds), sent over MLLP on one persistent
connection, each acknowledgement read before the next message.

Scenarios: `steady`; `hypertension` (the NIBP climbs 2 mmHg a minute);
`desaturation` (SpO2 falls from 97 % to 84 % over five minutes); `probe-off`
(the oximeter's values stop after 30 s and, after 60 s, the monitor sends
nothing at all, as a pulled cable does).
"""
from __future__ import annotations

import math
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone

from ketamon.core.feed.mllp import Decoder, frame

SCENARIOS = ("steady", "hypertension", "desaturation", "probe-off")

#: field → (MDC code, MDC name, MDC unit code, unit name)
_OBX = {
    "systolic": ("150021", "MDC_PRESS_BLD_NONINV_SYS", "266016", "MDC_DIM_MMHG"),
    "diastolic": ("150022", "MDC_PRESS_BLD_NONINV_DIA", "266016", "MDC_DIM_MMHG"),
    "mean_arterial": ("150023", "MDC_PRESS_BLD_NONINV_MEAN", "266016", "MDC_DIM_MMHG"),
    "heart_rate": ("147842", "MDC_ECG_HEART_RATE", "264864", "MDC_DIM_BEAT_PER_MIN"),
    "pulse": ("149530", "MDC_PULS_OXIM_PULS_RATE", "264864", "MDC_DIM_BEAT_PER_MIN"),
    "spo2": ("150456", "MDC_PULS_OXIM_SAT_O2", "262688", "MDC_DIM_PERCENT"),
    "resp_rate": ("151562", "MDC_RESP_RATE", "264928", "MDC_DIM_RESP_PER_MIN"),
}


def ts(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y%m%d%H%M%S+0000")


def message(values: dict[str, float], at: datetime, *, chair: str | None, patient: str | None = None,
            control_id: str = "1", monitor_id: str = "SIM-MONITOR") -> bytes:
    """One PCD-01 ORU^R01 message carrying `values` (fields of _OBX) measured at `at`."""
    stamp = ts(at)
    segments = [
        f"MSH|^~\\&|{monitor_id}^0001^EUI-64|KETAMON-SIM|KETAMON|CLINIC|{stamp}||ORU^R01^ORU_R01|{control_id}|P|"
        "2.6|||AL|NE||UNICODE UTF-8|||IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO",
        f"PID|||{patient}^^^CLINIC^MR" if patient else "PID|||",
        f"PV1||O|{chair}" if chair else "PV1||O|",
        f"OBR|1|{control_id}^KETAMON-SIM|{control_id}^KETAMON-SIM|182777000^monitoring of patient^SNOMED-CT"
        f"|||{stamp}",
    ]
    for n, (name, value) in enumerate(values.items(), start=1):
        code, label, unit, unit_label = _OBX[name]
        segments.append(f"OBX|{n}|NM|{code}^{label}^MDC|1.1.1.{n}|{value:g}|{unit}^{unit_label}^MDC|||||R|||"
                        f"{stamp}||||{monitor_id}")
    return ("\r".join(segments) + "\r").encode()


@dataclass
class Scenario:
    """The values a monitor shows `t` seconds after it was switched on (None: it sends nothing)."""

    name: str = "steady"
    nibp_every: int = 300

    def values(self, t: int) -> dict[str, float] | None:
        if self.name == "probe-off" and t >= 60:
            return None
        wobble = math.sin(t / 7.0)
        hr = round(74 + 3 * wobble)
        out: dict[str, float] = {"heart_rate": hr, "pulse": hr, "resp_rate": round(14 + wobble)}
        if not (self.name == "probe-off" and t >= 30):
            spo2 = 97 - (min(t, 300) * 13 / 300 if self.name == "desaturation" else 0)
            out["spo2"] = round(spo2 + (wobble > 0.8))
        if t % self.nibp_every == 0:
            rise = (t / 60) * 2 if self.name == "hypertension" else 0
            sys_, dia = round(128 + rise), round(80 + rise / 2)
            out |= {"systolic": sys_, "diastolic": dia, "mean_arterial": round(dia + (sys_ - dia) / 3)}
        return out


def run(to: tuple[str, int], *, chair: str | None, patient: str | None = None, scenario: str = "steady",
        rate: float = 1.0, count: int | None = None, nibp_every: int = 300, monitor_id: str = "SIM-MONITOR",
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        say: Callable[[str], None] = print) -> int:
    """Send one message every 1/rate seconds until `count` (or interrupted);
    reconnect when the connection drops. Returns how many were acknowledged."""
    plan = Scenario(scenario, nibp_every)
    link = Link(to, say)
    acknowledged = 0
    for t in _seconds(count):
        started = time.monotonic()
        values = plan.values(t)
        if values is not None:
            raw = message(values, now(), chair=chair, patient=patient, control_id=f"SIM{t + 1}",
                          monitor_id=monitor_id)
            reply = link.send(raw)
            if reply is not None:
                acknowledged += 1
                code = reply.split(b"|")[1].decode(errors="replace") if reply.startswith(b"MSA") else "?"
                if code not in ("AA", "CA") or t % 10 == 0:
                    say(f"message {t + 1}: {code} {_reason(reply)}".rstrip())
        time.sleep(max(0.0, 1.0 / rate - (time.monotonic() - started)))
    link.close()
    return acknowledged


def _seconds(count: int | None) -> Iterator[int]:
    t = 0
    while count is None or t < count:
        yield t
        t += 1


class Link:
    """One persistent MLLP connection to the listener, opened when first needed
    and again after it dropped."""

    def __init__(self, to: tuple[str, int], say: Callable[[str], None] = print):
        self.to, self.say = to, say
        self._sock: socket.socket | None = None
        self._decoder = Decoder()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock = None

    def send(self, raw: bytes) -> bytes | None:
        """Send one message and wait for its ACK; the ACK's MSA segment, or None
        when the listener cannot be reached (said once per failure)."""
        try:
            if self._sock is None:
                self._sock = socket.create_connection(self.to, timeout=10)
                self._decoder = Decoder()
            self._sock.sendall(frame(raw))
            while True:
                data = self._sock.recv(65536)
                if not data:
                    raise ConnectionError("closed by the listener")
                replies = self._decoder.feed(data)
                if replies:
                    return next((seg for seg in replies[0].split(b"\r") if seg.startswith(b"MSA")), b"")
        except OSError as exc:
            self.say(f"cannot reach {self.to[0]}:{self.to[1]}: {exc}")
            self.close()
            return None


def _reason(msa: bytes) -> str:
    parts = msa.split(b"|")
    return parts[3].decode(errors="replace") if len(parts) > 3 else ""
