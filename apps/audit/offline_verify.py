"""Check an export of the action log against the portal's signed digests, on an auditor's machine.

    python -m apps.audit.offline_verify EXPORT.jsonl DIGESTS_DIR --public-key KEY.pem [--partial]

This file is deliberately self-contained: the Python standard library and
``cryptography``, nothing from Django or the portal, no database. Copy it
alone to any machine (``pip install cryptography``) and run it there.

The portal imports its canonical serialisations from here (entry hash, digest
body, fingerprint), so the portal and this verifier cannot drift apart.

* ``EXPORT`` is the JSON Lines export of the action log (``manage.py audit
  export --jsonl FILE`` or "Export JSON Lines" on the action-log page): an
  optional header line ``{"format": "portal-action-log/1", …}``, then one
  entry per line: the entry's hash inputs and its ``hash``.
* ``DIGESTS_DIR`` holds the digest files ``digest-NNNNNNNN.json`` (``manage.py
  audit digests-export DIR``, or the zip on the portal's digests page).
* ``KEY.pem`` is the portal's Ed25519 public key (fingerprint on the
  action-log page); give ``--public-key`` once per key after a key rotation.

Exit code 0 when everything checks, 1 with the first failure named (which
entry or which digest, and why), 2 for unreadable input.
"""

from __future__ import annotations

import argparse
import base64
import bisect
import hashlib
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

GENESIS_HASH = "0" * 64
EXPORT_FORMAT = "portal-action-log/1"
DIGEST_FORMAT = "portal-audit-digest/1"
DIGEST_ACTION = "audit.digest"


# --- the canonical serialisations (the portal uses these very functions) ------------------


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8: one byte string for one value."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode()


def entry_hash(hash_inputs: dict[str, Any]) -> str:
    """SHA-256 over an entry's canonical hash inputs (its every field and ``prev_hash``)."""
    return hashlib.sha256(canonical_json(hash_inputs)).hexdigest()


def digest_hash(body: dict[str, Any]) -> str:
    """What the next digest names as ``previous_digest_hash`` (the signature covers the same bytes)."""
    return hashlib.sha256(canonical_json(body)).hexdigest()


def public_key_fingerprint(public_key: Ed25519PublicKey) -> str:
    """``sha256:`` and the hex SHA-256 of the key's DER SubjectPublicKeyInfo."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "sha256:" + hashlib.sha256(der).hexdigest()


def digest_file_name(number: int) -> str:
    return f"digest-{number:08d}.json"


def signed_document(body: dict[str, Any], signature: bytes) -> bytes:
    """The bytes of a digest file: the body and its Ed25519 signature (base64)."""
    document = {"digest": body, "signature": base64.b64encode(signature).decode()}
    return json.dumps(document, sort_keys=True, indent=1).encode() + b"\n"


# --- what can be wrong --------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    """The first thing that does not check: an entry (sequence) or a digest (number)."""

    message: str
    entry: int | None = None
    digest: int | None = None


class Unreadable(Exception):
    """Input that is not an export, a digest or a key at all."""


@dataclass(frozen=True)
class Digest:
    number: int
    first_sequence: int
    last_sequence: int
    prev_entry_hash: str
    entry_hashes: tuple[str, ...]
    chain_head_hash: str
    previous_digest_hash: str
    window_start: str
    window_end: str
    key_fingerprint: str
    hash: str
    source: str

    @property
    def count(self) -> int:
        return len(self.entry_hashes)

    def hash_of(self, sequence: int) -> str:
        return self.entry_hashes[sequence - self.first_sequence]


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as error:
        raise Unreadable(f"not a PEM public key: {error}") from error
    if not isinstance(key, Ed25519PublicKey):
        raise Unreadable("the public key is not an Ed25519 key")
    return key


def read_digest(
    raw: bytes, source: str, keys: dict[str, Ed25519PublicKey]
) -> tuple[Digest | None, Failure | None]:
    """Parse one digest file and check its signature against the key it names."""
    try:
        document = json.loads(raw)
        body = document["digest"]
        signature = base64.b64decode(document["signature"], validate=True)
        number = int(body["number"])
    except (ValueError, KeyError, TypeError) as error:
        return None, Failure(f"{source} is not a digest file ({error})")
    fingerprint = body.get("key_fingerprint", "")
    key = keys.get(fingerprint)
    if key is None:
        return None, Failure(
            f"digest #{number} ({source}) is signed by key {fingerprint or '(none)'}, "
            f"not by the given public key{'s' if len(keys) > 1 else ''} "
            f"({', '.join(keys)}): re-signed with another key",
            digest=number,
        )
    try:
        key.verify(signature, canonical_json(body))
    except InvalidSignature:
        return None, Failure(
            f"digest #{number} ({source}): the signature does not match its contents "
            "(the file was altered, or signed with another key)",
            digest=number,
        )
    try:
        digest = Digest(
            number=number,
            first_sequence=int(body["first_sequence"]),
            last_sequence=int(body["last_sequence"]),
            prev_entry_hash=str(body["prev_entry_hash"]),
            entry_hashes=tuple(str(h) for h in body["entry_hashes"]),
            chain_head_hash=str(body["chain_head_hash"]),
            previous_digest_hash=str(body["previous_digest_hash"]),
            window_start=str(body["window_start"]),
            window_end=str(body["window_end"]),
            key_fingerprint=fingerprint,
            hash=digest_hash(body),
            source=source,
        )
    except (KeyError, TypeError, ValueError) as error:
        return None, Failure(f"digest #{number} ({source}) lacks a field: {error}", digest=number)
    if body.get("format") != DIGEST_FORMAT:
        return None, Failure(f"digest #{number} ({source}) has an unknown format", digest=number)
    if digest.count != digest.last_sequence - digest.first_sequence + 1 or digest.count != int(
        body.get("count", -1)
    ):
        return None, Failure(
            f"digest #{number} ({source}): its count does not match its range", digest=number
        )
    head = digest.entry_hashes[-1] if digest.entry_hashes else digest.prev_entry_hash
    if head != digest.chain_head_hash:
        return None, Failure(
            f"digest #{number} ({source}): its chain head is not its last entry's hash",
            digest=number,
        )
    return digest, None


def check_digest_chain(digests: list[Digest]) -> Failure | None:
    """Numbered 1, 2, 3… with none missing; each names the one before and continues its range."""
    previous: Digest | None = None
    for digest in sorted(digests, key=lambda d: d.number):
        expected = previous.number + 1 if previous else 1
        if digest.number != expected:
            if previous and digest.number == previous.number:
                return Failure(
                    f"digest #{digest.number} appears twice ({previous.source}, {digest.source})",
                    digest=digest.number,
                )
            return Failure(
                f"digest #{expected} is missing (the next one present is #{digest.number})",
                digest=expected,
            )
        want_hash = previous.hash if previous else GENESIS_HASH
        if digest.previous_digest_hash != want_hash:
            return Failure(
                f"digest #{digest.number} does not follow digest #{expected - 1} "
                "(previous_digest_hash differs: a digest was replaced)",
                digest=digest.number,
            )
        want_first = previous.last_sequence + 1 if previous else 1
        want_prev_entry = previous.chain_head_hash if previous else GENESIS_HASH
        if digest.first_sequence != want_first or digest.prev_entry_hash != want_prev_entry:
            return Failure(
                f"digest #{digest.number} does not continue where digest #{expected - 1} ended "
                f"(starts at entry #{digest.first_sequence}, expected #{want_first})",
                digest=digest.number,
            )
        if previous and digest.window_start != previous.window_end:
            return Failure(
                f"digest #{digest.number}'s time window does not start where "
                f"digest #{previous.number}'s ended",
                digest=digest.number,
            )
        previous = digest
    return None


# --- walking the entries ------------------------------------------------------------------


@dataclass
class ChainWalk:
    """Feed entries in chain order; the first that does not check is the failure.

    Each entry must follow the previous one (sequence, ``prev_hash``), its hash
    must be what its inputs give, and — where a digest covers it — equal to the
    hash the digest signed. ``checkpoints`` (sequence → hash) are further
    hashes known from elsewhere (the portal's verification checkpoints).
    """

    digests: list[Digest]
    next_sequence: int = 1
    prev_hash: str = GENESIS_HASH
    checkpoints: dict[int, str] = field(default_factory=dict)
    partial: bool = False
    # Entries recording a digest's writing name digests that must be among ``digests``
    # (off when only some digests are given: the portal's incremental run).
    every_digest_given: bool = True
    checked: int = 0
    digest_records: dict[int, tuple[int, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Empty digests cover nothing; leaving them out keeps first_sequence strictly increasing.
        self._by_start = sorted(
            (d for d in self.digests if d.count), key=lambda d: d.first_sequence
        )
        self._starts = [d.first_sequence for d in self._by_start]
        self._index = 0

    def _digest_for(self, sequence: int) -> Digest | None:
        digests = self._by_start
        if self.partial:  # entries may jump: search
            index = bisect.bisect_right(self._starts, sequence) - 1
            if index >= 0 and sequence <= digests[index].last_sequence:
                return digests[index]
            return None
        while self._index < len(digests) and digests[self._index].last_sequence < sequence:
            self._index += 1
        if self._index < len(digests) and digests[self._index].first_sequence <= sequence:
            return digests[self._index]
        return None

    def feed(self, inputs: dict[str, Any], stated_hash: str) -> Failure | None:
        sequence = inputs.get("sequence")
        if not isinstance(sequence, int):
            return Failure(f"an entry without a sequence after #{self.next_sequence - 1}")
        self.checked += 1
        if not self.partial:
            if sequence > self.next_sequence:
                return Failure(
                    f"entry #{self.next_sequence} is missing (the next one is #{sequence})",
                    entry=self.next_sequence,
                )
            if sequence < self.next_sequence:
                return Failure(
                    f"entry #{sequence} is out of order or repeated (after #{self.next_sequence - 1})",
                    entry=sequence,
                )
            if inputs.get("prev_hash") != self.prev_hash:
                return Failure(
                    f"entry #{sequence} does not follow the previous entry (removed or inserted entries)",
                    entry=sequence,
                )
        computed = entry_hash(inputs)
        if computed != stated_hash:
            return Failure(f"entry #{sequence} was altered after it was written", entry=sequence)
        digest = self._digest_for(sequence)
        if digest is not None:
            if digest.hash_of(sequence) != computed:
                return Failure(
                    f"entry #{sequence} is not what digest #{digest.number} signed: altered "
                    "(and every later hash rewritten to hide it)",
                    entry=sequence,
                    digest=digest.number,
                )
            if (
                sequence == digest.first_sequence
                and inputs.get("prev_hash") != digest.prev_entry_hash
            ):
                return Failure(
                    f"entry #{sequence} does not follow what digest #{digest.number} signed",
                    entry=sequence,
                    digest=digest.number,
                )
        known = self.checkpoints.get(sequence)
        if known is not None and known != computed:
            return Failure(
                f"entry #{sequence} is not what an earlier verification saw: altered "
                "(and every later hash rewritten to hide it)",
                entry=sequence,
            )
        if inputs.get("action") == DIGEST_ACTION and isinstance(inputs.get("params"), dict):
            params = inputs["params"]
            if isinstance(params.get("number"), int):
                self.digest_records[params["number"]] = (sequence, str(params.get("digest_hash")))
        self.next_sequence = sequence + 1
        self.prev_hash = computed
        return None

    def finish(self) -> Failure | None:
        """Everything a digest signed must have been seen, and every recorded digest present."""
        if not self.partial and self._by_start:
            last = self._by_start[-1]
            if last.last_sequence >= self.next_sequence:
                return Failure(
                    f"entries #{self.next_sequence} to #{last.last_sequence}, signed by digest "
                    f"#{last.number}, are missing from the export",
                    entry=self.next_sequence,
                    digest=last.number,
                )
        if not self.every_digest_given:
            return None
        present = {d.number: d for d in self.digests}
        for number, (sequence, recorded_hash) in sorted(self.digest_records.items()):
            digest = present.get(number)
            if digest is None:
                return Failure(
                    f"digest #{number}, whose writing entry #{sequence} records, is missing",
                    entry=sequence,
                    digest=number,
                )
            if digest.hash != recorded_hash:
                return Failure(
                    f"digest #{number} is not the one entry #{sequence} recorded (replaced)",
                    entry=sequence,
                    digest=number,
                )
        return None


# --- the command --------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    failure: Failure | None
    entries: int
    digests: int
    proven_through: int
    unsigned_tail: tuple[int, int] | None = None
    export_filters: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None


def read_export(lines: Iterable[str]) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """(line number, hash inputs, hash) per entry; a header line yields (n, header, None)."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as error:
            raise Unreadable(f"line {number} of the export is not JSON: {error}") from error
        if not isinstance(record, dict):
            raise Unreadable(f"line {number} of the export is not a JSON object")
        if "format" in record and "sequence" not in record:
            if record["format"] != EXPORT_FORMAT:
                raise Unreadable(
                    f"the export's format is {record['format']!r}, not {EXPORT_FORMAT}"
                )
            yield number, record, None
            continue
        stated = record.pop("hash", None)
        if not isinstance(stated, str):
            raise Unreadable(f"line {number} of the export has no hash")
        yield number, record, stated


def verify(
    export_lines: Iterable[str],
    digest_files: Iterable[tuple[str, bytes]],
    public_keys: Iterable[Ed25519PublicKey],
    *,
    partial: bool = False,
) -> Verdict:
    keys = {public_key_fingerprint(key): key for key in public_keys}
    digests: list[Digest] = []
    for source, raw in digest_files:
        digest, failure = read_digest(raw, source, keys)
        if failure:
            return Verdict(failure, 0, len(digests), 0)
        digests.append(digest)
    failure = check_digest_chain(digests)
    if failure:
        return Verdict(failure, 0, len(digests), 0)
    walk = ChainWalk(digests, partial=partial)
    filters: dict[str, Any] | None = None
    for _, inputs, stated in read_export(export_lines):
        if stated is None:
            filters = inputs.get("filters") or None
            continue
        failure = walk.feed(inputs, stated)
        if failure:
            if filters and not partial and "missing" in failure.message:
                failure = Failure(
                    failure.message + f" — this export was filtered ({filters}); "
                    "use --partial to check its entries one by one",
                    failure.entry,
                    failure.digest,
                )
            return Verdict(failure, walk.checked, len(digests), 0, export_filters=filters)
    failure = walk.finish()
    signed_through = max((d.last_sequence for d in digests), default=0)
    last_seen = walk.next_sequence - 1
    tail = (signed_through + 1, last_seen) if last_seen > signed_through else None
    return Verdict(
        failure,
        walk.checked,
        len(digests),
        min(signed_through, last_seen),
        unsigned_tail=tail,
        export_filters=filters,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m apps.audit.offline_verify",
        description="Check an action-log export against the portal's signed digests.",
    )
    parser.add_argument("export", type=Path, help="the JSON Lines export of the action log")
    parser.add_argument("digests", type=Path, help="the directory holding digest-*.json")
    parser.add_argument(
        "--public-key",
        type=Path,
        action="append",
        required=True,
        help="the portal's Ed25519 public key (PEM); repeat for older keys after a rotation",
    )
    parser.add_argument(
        "--partial",
        action="store_true",
        help="the export is filtered: check each entry against the digests, not completeness",
    )
    args = parser.parse_args(argv)
    try:
        keys = [load_public_key(path.read_bytes()) for path in args.public_key]
        if not args.digests.is_dir():
            raise Unreadable(f"{args.digests} is not a directory")
        files = [(p.name, p.read_bytes()) for p in sorted(args.digests.glob("digest-*.json"))]
        with args.export.open(encoding="utf-8") as export:
            verdict = verify(export, files, keys, partial=args.partial)
    except (OSError, Unreadable) as error:
        sys.stderr.write(f"UNREADABLE: {error}\n")
        return 2
    if not verdict.ok:
        sys.stdout.write(f"FAILED: {verdict.failure.message}\n")
        return 1
    what = "entries checked one by one" if args.partial else "entries, complete and in order"
    sys.stdout.write(
        f"OK: {verdict.entries} {what}; {verdict.digests} digests signed by "
        f"{', '.join(public_key_fingerprint(k) for k in keys)} and chained; "
        f"proven through entry #{verdict.proven_through}.\n"
    )
    if verdict.unsigned_tail:
        first, last = verdict.unsigned_tail
        sys.stdout.write(
            f"Note: entries #{first} to #{last} are newer than the last digest (not yet signed).\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
