"""The bedside monitor feed, pure: HL7 v2 (IHE PCD-01) messages parsed and
mapped to vital-sign fields (`pcd01`, `mdc`), acknowledgements built (`ack`),
MLLP framing and the listener (`mllp`), and a monitor simulator (`simulator`).

Nothing here touches the database (an import-linter contract says so): the
operation that routes a message to a session and stores it is
ketamon.core.ops.device.
"""
