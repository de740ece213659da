"""Monitor messages for the device feed tests: a PCD-01 ORU^R01 built segment by
segment, so each test changes exactly what it is about."""
from __future__ import annotations

from datetime import datetime

from tests.conftest import T0

#: OBX rows: (MDC code^name, value, unit) — a full NIBP/HR/SpO2/RR set in MDC units
FULL_SET = [
    ("150021^MDC_PRESS_BLD_NONINV_SYS^MDC", "128", "266016^MDC_DIM_MMHG^MDC"),
    ("150022^MDC_PRESS_BLD_NONINV_DIA^MDC", "82", "266016^MDC_DIM_MMHG^MDC"),
    ("150023^MDC_PRESS_BLD_NONINV_MEAN^MDC", "97", "266016^MDC_DIM_MMHG^MDC"),
    ("147842^MDC_ECG_HEART_RATE^MDC", "74", "264864^MDC_DIM_BEAT_PER_MIN^MDC"),
    ("150456^MDC_PULS_OXIM_SAT_O2^MDC", "97", "262688^MDC_DIM_PERCENT^MDC"),
    ("151562^MDC_RESP_RATE^MDC", "14", "264928^MDC_DIM_RESP_PER_MIN^MDC"),
]
#: the same values in UCUM units
UCUM_SET = [(code, value, {"266016": "mm[Hg]", "264864": "/min", "262688": "%", "264928": "/min"}
             [unit.split("^")[0]] + "^^UCUM") for code, value, unit in FULL_SET]


def ts(at: datetime) -> str:
    return at.strftime("%Y%m%d%H%M%S+0000")


def message(obx=FULL_SET, *, chair: str | None = "CHAIR3", patient: str | None = "MRN-1", obr: bool = True,
            enhanced: bool = True, sent: datetime = T0, obr_time: datetime | None = T0,
            obx_time: datetime | None = None, control_id: str = "MSG1", monitor: str = "MON-7",
            kind: str = "ORU^R01^ORU_R01") -> bytes:
    ack_modes = "AL|NE" if enhanced else "|"
    segments = [f"MSH|^~\\&|{monitor}^0012^EUI-64|ICU|KETAMON|CLINIC|{ts(sent)}||{kind}|{control_id}|P|2.6|||"
                f"{ack_modes}||||IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO"]
    if patient is not None:
        segments.append(f"PID|||{patient}^^^CLINIC^MR||Doe^Jo")
    segments.append(f"PV1||O|{chair}" if chair else "PV1||O|")
    if obr:
        segments.append(f"OBR|1|{control_id}^MON|{control_id}^MON|182777000^monitoring of patient^SNOMED-CT|||"
                        f"{ts(obr_time) if obr_time else ''}")
    for n, (code, value, unit) in enumerate(obx, start=1):
        segments.append(f"OBX|{n}|NM|{code}|1.0.1.{n}|{value}|{unit}|||||R|||{ts(obx_time) if obx_time else ''}")
    return ("\r".join(segments) + "\r").encode()


def msa(ack: bytes) -> list[str]:
    """The MSA segment's fields: [MSA, code, control id, text]."""
    segment = next(s for s in ack.decode().split("\r") if s.startswith("MSA"))
    return segment.split("|")


def errors(ack: bytes) -> list[str]:
    """ERR-3 codes (HL7 table 0357) of an acknowledgement."""
    return [s.split("|")[3].split("^")[0] for s in ack.decode().split("\r") if s.startswith("ERR")]
