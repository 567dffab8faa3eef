"""The chain verified, and the signed digests that anchor it outside the database.

:func:`verify_chain` walks the chain (from a checkpoint, or all of it) and,
with digests on, compares the entries with the hashes the signed digests
name; :func:`write_digest` signs what was written since the previous digest
and keeps it in the database and in ``STORAGES["audit_digests"]``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.audit import offline_verify
from apps.audit.models import AuditCheckpoint, AuditDigest, AuditEntry
from apps.audit.services.recording import (
    GENESIS_HASH,
    Actor,
    Outcome,
    _timestamp,
    hash_inputs,
    not_audited,
    record,
)
from apps.audit.signing import (
    DigestsOff,
    configured_public_key,
    configured_signing_key,
    public_key_pem,
)

logger = logging.getLogger("portal.audit")


@dataclass(frozen=True)
class ChainReport:
    intact: bool
    verified_through: int
    checked: int
    broken_at: int | None = None
    problem: str = ""
    started_from: int = 0
    digests_checked: int = 0
    broken_digest: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "intact": self.intact,
            "verified_through": self.verified_through,
            "checked": self.checked,
            "started_from": self.started_from,
            "broken_at": self.broken_at,
            "problem": self.problem,
            "digests_checked": self.digests_checked,
            "broken_digest": self.broken_digest,
        }


def verify_chain(
    *,
    full: bool = False,
    actor: Actor | None = None,
    chunk_size: int = 5_000,
    against_digests: bool = True,
) -> ChainReport:
    """Walk the chain and report intact, or the first broken entry (or digest) and why.

    Each entry must follow the previous one and hash to what it says. With
    signed digests on, entries are also compared with the hashes the digests
    signed (files read from the digest store, outside this database), so a
    rewrite that recomputed every later hash is caught too:

    * ``full``: every entry against every digest, and the digests' own chain;
    * incremental (default): from the last checkpoint, but never later than
      the start of the latest digest, whose every entry is re-checked — the
      anchor that a rewritten database cannot move.

    ``against_digests=False`` is the chain alone (what the database can say of
    itself). The run is itself recorded (``audit.verify``) and, when intact,
    checkpointed.
    """
    checkpoint = None if full else AuditCheckpoint.objects.order_by("-verified_through").first()
    expected_sequence = (checkpoint.verified_through if checkpoint else 0) + 1
    expected_prev = checkpoint.verified_hash if checkpoint else GENESIS_HASH
    digests: list[offline_verify.Digest] = []
    failure: offline_verify.Failure | None = None
    against_digests = against_digests and configured_public_key() is not None
    if against_digests:
        digests, failure = stored_digests(latest_only=not full)
    if digests and not full and digests[-1].first_sequence < expected_sequence:
        anchor = digests[-1]
        expected_sequence, expected_prev = anchor.first_sequence, anchor.prev_entry_hash
    walk = offline_verify.ChainWalk(
        digests,
        next_sequence=expected_sequence,
        prev_hash=expected_prev,
        checkpoints={checkpoint.verified_through: checkpoint.verified_hash} if checkpoint else {},
        every_digest_given=full and against_digests,
    )
    started_from = expected_sequence
    if failure is None:
        entries = AuditEntry.objects.filter(sequence__gte=expected_sequence).order_by("sequence")
        for entry in entries.iterator(chunk_size=chunk_size):
            failure = walk.feed(hash_inputs(entry), entry.hash)
            if failure:
                break
        else:
            failure = walk.finish()
    report = ChainReport(
        intact=failure is None,
        verified_through=walk.next_sequence - 1,
        checked=walk.checked,
        broken_at=failure.entry if failure else None,
        problem=failure.message if failure else "",
        started_from=started_from,
        digests_checked=len(digests),
        broken_digest=failure.digest if failure else None,
    )
    with transaction.atomic():
        if report.intact and report.verified_through:
            AuditCheckpoint.objects.create(
                verified_through=report.verified_through,
                verified_hash=walk.prev_hash,
                verified_at=timezone.now(),
                entries_checked=walk.checked,
            )
        record(
            action="audit.verify",
            actor=actor or Actor.system("audit-verify"),
            outcome=Outcome.SUCCESS if report.intact else Outcome.FAILED,
            params=report.as_dict() | {"full": full},
            reason=report.problem,
        )
    if not report.intact:
        logger.error("action log check failed: %s", report.problem)
    return report


# --- signed digests -----------------------------------------------------------------------

# Any fixed 64-bit number; it names "the digest being written" for pg_advisory_xact_lock.
DIGEST_LOCK_KEY = 0x5041_5544_4447  # "PAUDDG"


class DigestRefused(Exception):
    """The entries to sign do not verify: nothing is signed over a broken chain."""


class DigestStoreConflict(Exception):
    """A file of that number is already in the store with other contents (never overwritten)."""


@not_audited(reason="names the store")
def digest_storage() -> Storage:
    """``STORAGES["audit_digests"]``, looked up at each use (tests and reloads change it)."""
    return storages["audit_digests"]


def write_digest(*, actor: Actor | None = None) -> AuditDigest:
    """Sign a digest of every entry written since the previous digest, even when there is none.

    The digest names the first and last sequence, every entry's hash, the chain
    head, the previous digest's hash and the time window. It is kept in the
    database and as a file in the digest store; its writing is recorded
    (``audit.digest``, the first entry the next digest covers). The new entries
    are verified before they are signed. Raises :class:`DigestsOff` without a
    key, :class:`DigestRefused` over a broken chain.
    """
    key = configured_signing_key()
    actor = actor or Actor.system("audit-digest")
    store_pending_digests()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [DIGEST_LOCK_KEY])
        previous = AuditDigest.objects.order_by("-number").first()
        number = previous.number + 1 if previous else 1
        walk = offline_verify.ChainWalk(
            [],
            every_digest_given=False,
            next_sequence=previous.last_sequence + 1 if previous else 1,
            prev_hash=previous.chain_head_hash if previous else GENESIS_HASH,
        )
        first_sequence, prev_entry_hash = walk.next_sequence, walk.prev_hash
        entry_hashes: list[str] = []
        earliest = None
        entries = AuditEntry.objects.filter(sequence__gte=first_sequence).order_by("sequence")
        for entry in entries.iterator(chunk_size=5_000):
            failure = walk.feed(hash_inputs(entry), entry.hash)
            if failure:
                record(
                    action="audit.digest",
                    actor=actor,
                    target_type="audit_digest",
                    target_id=str(number),
                    outcome=Outcome.FAILED,
                    reason=failure.message,
                )
                logger.error("digest #%s refused: %s", number, failure.message)
                raise_after = DigestRefused(failure.message)
                break
            earliest = earliest or entry.created_at
            entry_hashes.append(entry.hash)
        else:
            raise_after = None
        if raise_after is None:
            digest = _sign_digest(
                key=key,
                number=number,
                previous=previous,
                first_sequence=first_sequence,
                prev_entry_hash=prev_entry_hash,
                entry_hashes=entry_hashes,
                window_start=previous.window_end if previous else (earliest or timezone.now()),
            )
            record(
                action="audit.digest",
                actor=actor,
                target_type="audit_digest",
                target_id=str(number),
                params={
                    "number": number,
                    "digest_hash": digest.digest_hash,
                    "first_sequence": digest.first_sequence,
                    "last_sequence": digest.last_sequence,
                    "count": digest.entry_count,
                    "key_fingerprint": digest.key_fingerprint,
                },
            )
    if raise_after is not None:
        raise raise_after
    _store_digest(digest)
    return digest


def _sign_digest(
    *,
    key: Any,
    number: int,
    previous: AuditDigest | None,
    first_sequence: int,
    prev_entry_hash: str,
    entry_hashes: list[str],
    window_start: datetime,
) -> AuditDigest:
    window_end = timezone.now()
    last_sequence = first_sequence + len(entry_hashes) - 1
    body = {
        "format": offline_verify.DIGEST_FORMAT,
        "number": number,
        "first_sequence": first_sequence,
        "last_sequence": last_sequence,
        "count": len(entry_hashes),
        "prev_entry_hash": prev_entry_hash,
        "entry_hashes": entry_hashes,
        "chain_head_hash": entry_hashes[-1] if entry_hashes else prev_entry_hash,
        "previous_digest_hash": previous.digest_hash if previous else GENESIS_HASH,
        "window_start": _timestamp(window_start),
        "window_end": _timestamp(window_end),
        "interval_minutes": settings.AUDIT_DIGEST_MINUTES,
        "key_fingerprint": offline_verify.public_key_fingerprint(key.public_key()),
    }
    signature = key.sign(offline_verify.canonical_json(body))
    return AuditDigest.objects.create(
        number=number,
        first_sequence=first_sequence,
        last_sequence=last_sequence,
        entry_count=len(entry_hashes),
        chain_head_hash=body["chain_head_hash"],
        previous_digest_hash=body["previous_digest_hash"],
        digest_hash=offline_verify.digest_hash(body),
        window_start=window_start,
        window_end=window_end,
        key_fingerprint=body["key_fingerprint"],
        document=offline_verify.signed_document(body, signature).decode(),
    )


def _store_digest(digest: AuditDigest) -> None:
    """Put the file in the digest store (written once; with object lock it cannot change)."""
    storage = digest_storage()
    content = digest.document.encode()
    if storage.exists(digest.file_name):
        with storage.open(digest.file_name, "rb") as handle:
            if handle.read() != content:
                raise DigestStoreConflict(
                    f"{digest.file_name} is already in the digest store with other contents"
                )
    else:
        storage.save(digest.file_name, ContentFile(content))
    AuditDigest.objects.filter(pk=digest.pk).update(stored_at=timezone.now())


@not_audited(reason="delivers files of digests whose writing was recorded")
def store_pending_digests() -> int:
    """Deliver digests whose file did not reach the store (it was down): the next run retries."""
    pending = list(AuditDigest.objects.filter(stored_at__isnull=True).order_by("number"))
    for digest in pending:
        _store_digest(digest)
    return len(pending)


@not_audited(reason="reads the digest store")
def stored_digests(
    *, latest_only: bool = False
) -> tuple[list[offline_verify.Digest], offline_verify.Failure | None]:
    """The digests as their signed files in the store say, checked against the public key.

    Every digest the database lists must be in the store, byte for byte, and no
    file in the store may be unknown to the database. ``latest_only`` reads
    the newest one only (incremental verification).
    """
    public_key = configured_public_key()
    keys = {offline_verify.public_key_fingerprint(public_key): public_key}
    storage = digest_storage()
    rows = AuditDigest.objects.order_by("number")
    if latest_only:  # the newest delivered one (store_pending_digests delivers the others)
        rows = rows.filter(stored_at__isnull=False).reverse()[:1]
    digests: list[offline_verify.Digest] = []
    for row in rows:
        if row.stored_at is None:
            continue  # not delivered yet: store_pending_digests will, at the next digest
        try:
            with storage.open(row.file_name, "rb") as handle:
                raw = handle.read()
        except FileNotFoundError:
            return digests, offline_verify.Failure(
                f"digest #{row.number} ({row.file_name}) is missing from the digest store",
                digest=row.number,
            )
        digest, failure = offline_verify.read_digest(raw, row.file_name, keys)
        if failure:
            return digests, failure
        if raw.decode() != row.document:
            return digests, offline_verify.Failure(
                f"the database's copy of digest #{row.number} differs from its signed file",
                digest=row.number,
            )
        digests.append(digest)
    newest = AuditDigest.objects.order_by("-number").first()
    try:
        _, names = storage.listdir("")
    except FileNotFoundError:  # a local store nothing was written to yet
        names = []
    newest_name = newest.file_name if newest else ""
    unknown = sorted(n for n in names if n.startswith("digest-") and n > newest_name)
    if unknown:
        return digests, offline_verify.Failure(
            f"{unknown[0]} is in the digest store but not in the database "
            f"(which lists digests through #{newest.number if newest else 0}): "
            "removed from the database"
        )
    if not latest_only:
        failure = offline_verify.check_digest_chain(digests)
        if failure:
            return digests, failure
    return digests, None


# --- what people do with the log ----------------------------------------------------------


# Every field of an entry, in the order exports (CSV, the action-log report) write them.
@dataclass(frozen=True)
class DigestFile:
    name: str
    content: bytes


def digest_files(*, actor: Actor, request: HttpRequest | None = None) -> list[DigestFile]:
    """Every signed digest as the store holds it, and the public key (``public-key.pem``).

    For auditors (the portal's digests page, ``manage.py audit digests-export``):
    the material ``offline_verify`` needs besides the export. Recorded.
    """
    public_key = configured_public_key()
    if public_key is None:
        raise DigestsOff("Signed digests are off: there is nothing to export.")
    storage = digest_storage()
    files = [DigestFile(PUBLIC_KEY_FILE_NAME, public_key_pem(public_key))]
    names = AuditDigest.objects.filter(stored_at__isnull=False).order_by("number")
    for digest in names:
        with storage.open(digest.file_name, "rb") as handle:
            files.append(DigestFile(digest.file_name, handle.read()))
    record(
        action="audit.digests.export",
        actor=actor,
        target_type="action_log",
        params={"digests": len(files) - 1},
        request=request,
    )
    return files


PUBLIC_KEY_FILE_NAME = "public-key.pem"


def digest_file(*, number: int, actor: Actor, request: HttpRequest | None = None) -> DigestFile:
    """One signed digest from the store, for an auditor to download; recorded."""
    digest = AuditDigest.objects.filter(number=number, stored_at__isnull=False).first()
    if digest is None:
        raise AuditDigest.DoesNotExist(f"No stored digest #{number}.")
    with digest_storage().open(digest.file_name, "rb") as handle:
        content = handle.read()
    record(
        action="audit.digests.export",
        actor=actor,
        target_type="audit_digest",
        target_id=str(number),
        params={"digests": 1},
        request=request,
    )
    return DigestFile(digest.file_name, content)


def request_verification(*, user: Any, request: HttpRequest | None = None) -> None:
    """Ask for a background verification of the whole chain (runs as a Celery task)."""
    from apps.audit.tasks import verify_audit_chain

    with transaction.atomic():
        record(
            action="audit.verify.requested",
            actor=Actor.for_user(user),
            target_type="action_log",
            request=request,
        )
        requested_by = user.email or user.get_username()
        transaction.on_commit(
            lambda: verify_audit_chain.delay(full=True, requested_by=requested_by)
        )
