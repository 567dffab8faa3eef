"""The event intake's write paths, by stage (the only code that writes the read models).

- ``applying``: one batch of messages in one transaction — parse, dead letters,
  per-aggregate locks, classify, merge, ledger, counters (its docstring has the steps);
- ``staging``: the staging tables, ``COPY`` and merge statements the batch goes through;
- ``replaying``: dead letters replayed and message files ingested through that same path.
"""

from apps.events.services.applying import (
    UNKNOWN_SOURCE,
    BatchResult,
    IncomingMessage,
    apply_event_batch,
    keep_dead_letter,
    touch_heartbeat,
)
from apps.events.services.replaying import ingest_message_file, replay_dead_letters
from apps.events.services.staging import LEDGER_COLUMNS, READ_MODELS

__all__ = [
    "LEDGER_COLUMNS",
    "READ_MODELS",
    "UNKNOWN_SOURCE",
    "BatchResult",
    "IncomingMessage",
    "apply_event_batch",
    "ingest_message_file",
    "keep_dead_letter",
    "replay_dead_letters",
    "touch_heartbeat",
]
