"""The action log's write paths, by stage.

- ``recording``: :func:`record`, the one recording API every write path calls in
  its own transaction, and the hash chain each entry extends;
- ``verifying``: the chain verified, and the signed digests that anchor it
  outside the database;
- ``exporting``: the log exported as CSV and as JSON Lines with each entry's
  hash inputs (for the offline verifier).
"""

from apps.audit.services.exporting import (
    EXPORT_COLUMNS,
    export_entries_csv,
    export_entries_jsonl,
)
from apps.audit.services.recording import (
    CHAIN_LOCK_KEY,
    GENESIS_HASH,
    Actor,
    ActorKind,
    Outcome,
    hash_inputs,
    not_audited,
    record,
)
from apps.audit.services.verifying import (
    DIGEST_LOCK_KEY,
    PUBLIC_KEY_FILE_NAME,
    ChainReport,
    DigestFile,
    DigestRefused,
    DigestStoreConflict,
    digest_file,
    digest_files,
    digest_storage,
    request_verification,
    store_pending_digests,
    stored_digests,
    verify_chain,
    write_digest,
)
from apps.audit.signing import DigestsOff

__all__ = [
    "CHAIN_LOCK_KEY",
    "DIGEST_LOCK_KEY",
    "EXPORT_COLUMNS",
    "GENESIS_HASH",
    "PUBLIC_KEY_FILE_NAME",
    "Actor",
    "ActorKind",
    "ChainReport",
    "DigestFile",
    "DigestRefused",
    "DigestStoreConflict",
    "DigestsOff",
    "Outcome",
    "digest_file",
    "digest_files",
    "digest_storage",
    "export_entries_csv",
    "export_entries_jsonl",
    "hash_inputs",
    "not_audited",
    "record",
    "request_verification",
    "store_pending_digests",
    "stored_digests",
    "verify_chain",
    "write_digest",
]
