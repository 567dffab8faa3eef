"""Signed digests: a rewrite by someone with full database rights is caught, in the portal and offline.

The in-database chain cannot see a rewrite that recomputed every later hash;
the digests (Ed25519-signed, kept in a store outside the database) can, and
so can an auditor's own machine with the export, the digests and the public key.
"""

from __future__ import annotations

import contextlib
import json
from io import StringIO
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import CommandError, call_command
from django.db import connection

from apps.audit import offline_verify
from apps.audit.models import AuditDigest, AuditEntry
from apps.audit.services import Actor, record, verify_chain, write_digest
from apps.audit.services.recording import _entry_hash
from apps.audit.tasks import write_audit_digest

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("tests")


def append(n: int) -> list[AuditEntry]:
    return [
        record(action="refund.request", actor=ACTOR, target_type="payment", target_id=str(i))
        for i in range(n)
    ]


def superuser_rewrite(sequence: int, reason: str) -> None:
    """Triggers off, one entry edited, every later prev_hash and hash recomputed: a clean chain."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_entry DISABLE TRIGGER audit_entry_no_update_or_delete")
        previous_hash = None
        for entry in AuditEntry.objects.filter(sequence__gte=sequence).order_by("sequence"):
            if entry.sequence == sequence:
                entry.reason = reason
            if previous_hash is not None:
                entry.prev_hash = previous_hash
            entry.hash = _entry_hash(entry)
            cursor.execute(
                "UPDATE audit_entry SET reason = %s, prev_hash = %s, hash = %s WHERE id = %s",
                [entry.reason, entry.prev_hash, entry.hash, entry.pk],
            )
            previous_hash = entry.hash
        cursor.execute(
            "ALTER TABLE audit_entry ENABLE ALWAYS TRIGGER audit_entry_no_update_or_delete"
        )


def export_for_auditor(tmp_path: Path) -> tuple[Path, Path, Path]:
    """What an auditor takes home: the JSON Lines export, the digests and the public key."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    export = tmp_path / "action-log.jsonl"
    call_command("audit", "export", "--jsonl", str(export), stdout=StringIO())
    digests = tmp_path / "digests"
    call_command("audit", "digests-export", str(digests), stdout=StringIO())
    return export, digests, digests / "public-key.pem"


def offline(export: Path, digests: Path, key: Path, *extra: str) -> tuple[int, str]:
    out = StringIO()
    with contextlib.redirect_stdout(out):
        code = offline_verify.main([str(export), str(digests), "--public-key", str(key), *extra])
    return code, out.getvalue()


# --- (a) the superuser-style rewrite -----------------------------------------------------------


def test_a_rewrite_that_recomputed_every_hash_passes_the_chain_but_not_the_digests(
    digests_on, tmp_path
):
    append(6)
    first = write_digest()
    append(3)
    write_digest()
    assert verify_chain(full=True).intact

    superuser_rewrite(3, "nothing to see here")

    # What the database can say of itself: every entry follows and hashes right.
    chain_alone = verify_chain(full=True, against_digests=False)
    assert chain_alone.intact, chain_alone.problem
    # The digests signed the entries as they were: caught at that very entry.
    full = verify_chain(full=True)
    assert (full.intact, full.broken_at, full.broken_digest) == (False, 3, first.number)
    assert "not what digest #1 signed" in full.problem
    # Offline, with nothing but the export, the digests and the public key.
    code, said = offline(*export_for_auditor(tmp_path))
    assert code == 1
    assert said.startswith("FAILED: entry #3 is not what digest #1 signed"), said


def test_the_command_names_the_rewritten_entry(digests_on):
    append(4)
    call_command("audit", "digest", stdout=StringIO())
    superuser_rewrite(2, "edited")
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("audit", "verify", "--full", stdout=out)
    assert "BROKEN at entry #2: entry #2 is not what digest #1 signed" in out.getvalue()


def test_incremental_verification_anchors_itself_on_the_latest_digest(digests_on):
    append(5)
    write_digest()
    assert verify_chain().intact  # checkpoint past every entry of digest #1
    append(2)
    superuser_rewrite(4, "rewritten below the checkpoint")
    # Without the anchor the incremental run starts after the checkpoint, sees a clean
    # chain (the rewrite recomputed every hash) ... except the checkpoint's own hash:
    # a superuser rewrites that table too.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_checkpoint SET verified_hash = audit_entry.hash FROM audit_entry "
            "WHERE audit_entry.sequence = audit_checkpoint.verified_through"
        )
    assert verify_chain(against_digests=False).intact
    report = verify_chain()  # the next scheduled run, not the next night's
    assert (report.intact, report.broken_at) == (False, 4)
    assert report.started_from == 1  # digest #1's first entry, before the checkpoint


def test_a_clean_log_verifies_offline_and_names_the_unsigned_tail(digests_on, tmp_path):
    append(3)
    write_digest()
    append(2)
    code, said = offline(*export_for_auditor(tmp_path))
    assert code == 0, said
    assert "OK: " in said
    assert "1 digests signed by sha256:" in said
    assert "proven through entry #3" in said
    assert "newer than the last digest" in said


def test_the_digest_is_written_by_a_task_and_its_writing_is_recorded(digests_on):
    append(2)
    assert write_audit_digest() == 1
    digest = AuditDigest.objects.get()
    assert (digest.first_sequence, digest.last_sequence, digest.entry_count) == (1, 2, 2)
    assert (digests_on / "digest-00000001.json").read_text() == digest.document
    logged = AuditEntry.objects.get(action="audit.digest")
    assert logged.sequence == 3
    assert logged.params["digest_hash"] == digest.digest_hash
    body = json.loads(digest.document)["digest"]
    assert body["chain_head_hash"] == AuditEntry.objects.get(sequence=2).hash
    assert body["previous_digest_hash"] == offline_verify.GENESIS_HASH


def test_without_a_key_digests_are_off(settings):
    settings.AUDIT_SIGNING_KEY = ""
    assert write_audit_digest() is None
    with pytest.raises(CommandError, match="Signed digests are off"):
        call_command("audit", "digest", stdout=StringIO())


# --- (b) digests altered, removed, re-signed ---------------------------------------------------


@pytest.fixture
def two_digests(digests_on, tmp_path):
    append(3)
    write_digest()
    append(2)
    write_digest()
    return export_for_auditor(tmp_path)


def _rewrite_file(path: Path, change) -> None:
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))


def test_an_altered_digest_file_is_caught(two_digests, digests_on):
    export, digests, key = two_digests
    for path in (digests / "digest-00000001.json", digests_on / "digest-00000001.json"):
        _rewrite_file(path, lambda d: d["digest"]["entry_hashes"].__setitem__(0, "f" * 64))
    code, said = offline(export, digests, key)
    assert code == 1
    assert "digest #1 (digest-00000001.json): the signature does not match" in said
    report = verify_chain(full=True)
    assert (report.intact, report.broken_digest) == (False, 1)
    assert "signature does not match" in report.problem


@pytest.mark.parametrize(
    ("removed", "expected"),
    [
        ("digest-00000001.json", "digest #1 is missing (the next one present is #2)"),
        ("digest-00000002.json", "digest #2, whose writing entry #"),
    ],
)
def test_a_removed_digest_is_caught(two_digests, removed, expected):
    export, digests, key = two_digests
    (digests / removed).unlink()
    code, said = offline(export, digests, key)
    assert code == 1
    assert expected in said


def test_a_digest_removed_from_the_store_is_caught_by_the_portal(two_digests, digests_on):
    (digests_on / "digest-00000002.json").unlink()
    report = verify_chain()
    assert not report.intact
    assert "digest #2 (digest-00000002.json) is missing from the digest store" in report.problem


def test_a_digest_resigned_with_another_key_is_caught(two_digests, digests_on):
    export, digests, key = two_digests
    other = Ed25519PrivateKey.generate()
    path = digests / "digest-00000002.json"
    body = json.loads(path.read_text())["digest"]
    body["entry_hashes"][0] = "0" * 64  # what a forger wants signed
    path.write_bytes(
        offline_verify.signed_document(body, other.sign(offline_verify.canonical_json(body)))
    )
    code, said = offline(export, digests, key)
    assert code == 1
    assert "digest #2 (digest-00000002.json): the signature does not match" in said
    body["key_fingerprint"] = offline_verify.public_key_fingerprint(other.public_key())
    path.write_bytes(
        offline_verify.signed_document(body, other.sign(offline_verify.canonical_json(body)))
    )
    code, said = offline(export, digests, key)
    assert "is signed by key sha256:" in said
    assert "re-signed with another key" in said
    (digests_on / path.name).write_bytes(path.read_bytes())
    assert "re-signed with another key" in verify_chain().problem


def test_the_database_copy_of_a_digest_must_match_its_file(two_digests):
    AuditDigest.objects.filter(number=2).update(document="{}")
    report = verify_chain(full=True)
    assert "the database's copy of digest #2 differs from its signed file" in report.problem


def test_an_entry_removed_from_the_export_is_caught_offline(two_digests):
    export, digests, key = two_digests
    lines = export.read_text().splitlines(keepends=True)
    export.write_text("".join(line for line in lines if json.loads(line).get("sequence") != 2))
    code, said = offline(export, digests, key)
    assert (code, said.strip()) == (1, "FAILED: entry #2 is missing (the next one is #3)")


# --- (c) an empty period still gets a digest ------------------------------------------------


def test_an_empty_period_still_gets_a_signed_digest(digests_on, tmp_path):
    empty = write_digest()  # nothing written at all yet
    assert (empty.number, empty.entry_count, empty.first_sequence, empty.last_sequence) == (
        1,
        0,
        1,
        0,
    )
    quiet = write_digest()  # a quiet hour: only the previous digest's own record was written
    assert (quiet.first_sequence, quiet.last_sequence) == (1, 1)
    assert AuditEntry.objects.get(sequence=1).action == "audit.digest"
    assert json.loads(quiet.document)["digest"]["previous_digest_hash"] == empty.digest_hash
    assert verify_chain(full=True).intact
    code, said = offline(*export_for_auditor(tmp_path))
    assert code == 0, said
