"""Acknowledgements (HL7 v2 ACK) for the device feed.

Enhanced mode, when MSH-15/16 ask for it (PCD-01 sends AL/NE): CA accepted, CE
error, CR rejected; otherwise original mode AA / AE / AR. The reasons go in MSA-3
and one ERR segment each (ERR-3 the HL7 table 0357 code, ERR-4 severity, ERR-8
the words). Built here rather than with python-hl7's `create_ack`, because
garbage (no MSH to copy) must be answered too, and with the same code path.
"""
from __future__ import annotations

from datetime import datetime

from ketamon.core.feed.pcd01 import Header

ACCEPT, ERROR, REJECT = "A", "E", "R"
_NAMES = {"100": "Segment sequence error", "101": "Required field missing", "102": "Data type error",
          "200": "Unsupported message type", "204": "Unknown key identifier", "207": "Application internal error"}


def escape(text: str) -> str:
    """Text as an HL7 field may carry it: separators escaped, line breaks gone."""
    out = text.replace("\\", "\\E\\").replace("|", "\\F\\").replace("^", "\\S\\").replace("&", "\\T\\")
    out = out.replace("~", "\\R\\")
    return "".join(ch if ch.isprintable() else " " for ch in out)[:400]


def code_for(header: Header | None, outcome: str) -> str:
    """MSA-1 for an outcome (ACCEPT, ERROR, REJECT) in the mode the sender asked for."""
    return ("C" if header is not None and header.enhanced else "A") + outcome


def build(header: Header | None, outcome: str, reasons: list[tuple[str, str]], now: datetime,
          control_id: str) -> bytes:
    """The ACK's bytes (segments separated by CR). `reasons`: (table 0357 code, words)."""
    h = header or Header()
    msh = "|".join(["MSH", "^~\\&", "KETAMON", escape(h.receiving_facility), escape(h.sending_app),
                    escape(h.sending_facility), now.strftime("%Y%m%d%H%M%S%z"), "", "ACK^R01^ACK", control_id,
                    escape(h.processing_id), escape(h.version)])
    text = escape("; ".join(words for _, words in reasons))
    segments = [msh, "|".join(["MSA", code_for(header, outcome), escape(h.control_id), text])]
    severity = "W" if outcome == ACCEPT else "E"
    segments += [f"ERR|||{code}^{_NAMES.get(code, '')}^HL70357|{severity}||||{escape(words)}"
                 for code, words in reasons]
    return ("\r".join(segments) + "\r").encode("utf-8")
