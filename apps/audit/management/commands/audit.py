"""``manage.py audit …``: verify the action log, sign digests, export what auditors check offline.

audit verify [--json] [--full]      is the chain intact (and what the digests signed)?
audit digest                        sign a digest of the entries since the last one, now
audit export --jsonl FILE           the whole log as JSON Lines with every hash input ("-": stdout)
audit digests-export DIR            the signed digests and the public key, for offline_verify
audit generate-key FILE             a new Ed25519 signing key (PEM) for AUDIT_SIGNING_KEY_FILE
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.audit.services import (
    Actor,
    DigestRefused,
    digest_files,
    export_entries_jsonl,
    verify_chain,
    write_digest,
)
from apps.audit.signing import (
    DigestsOff,
    fingerprint_for_display,
    generate_signing_key_pem,
    load_signing_key,
)


class Command(BaseCommand):
    help = "Verify the action log, sign its digests, export it for offline verification."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        verify = sub.add_parser(
            "verify", help="walk the chain from the last checkpoint (or from the start)"
        )
        verify.add_argument("--json", action="store_true")
        verify.add_argument(
            "--full", action="store_true", help="ignore checkpoints; verify every entry"
        )
        sub.add_parser("digest", help="sign a digest of the entries since the previous one")
        export = sub.add_parser("export", help="export the whole log for offline verification")
        export.add_argument("--jsonl", required=True, metavar="FILE", help='a file, or "-"')
        digests = sub.add_parser("digests-export", help="copy the digests and the public key")
        digests.add_argument("directory", type=Path)
        key = sub.add_parser("generate-key", help="write a new Ed25519 signing key (PEM)")
        key.add_argument("file", type=Path)

    def handle(self, *args, action: str, **options) -> None:
        operator = os.environ.get("USER") or os.environ.get("LOGNAME") or "unknown"
        actor = Actor.system(f"cli:{operator}")
        try:
            getattr(self, "_" + action.replace("-", "_"))(actor, **options)
        except DigestsOff as off:
            raise CommandError(str(off)) from None

    def _verify(self, actor: Actor, *, json: bool = False, full: bool = False, **_) -> None:
        report = verify_chain(full=full, actor=actor)
        if json:
            self.stdout.write(_dumps(report.as_dict()))
        elif report.intact:
            digests = f", against {report.digests_checked} signed digest(s)" * bool(
                report.digests_checked
            )
            self.stdout.write(
                f"Intact: verified through entry #{report.verified_through} "
                f"({report.checked} checked from #{report.started_from}{digests})."
            )
        elif report.broken_at is not None:
            self.stdout.write(f"BROKEN at entry #{report.broken_at}: {report.problem}")
        else:
            self.stdout.write(f"BROKEN: {report.problem}")
        if not report.intact:
            raise CommandError("the action log's chain is broken", returncode=3)

    def _digest(self, actor: Actor, **_) -> None:
        try:
            digest = write_digest(actor=actor)
        except DigestRefused as refused:
            raise CommandError(f"no digest signed: {refused}", returncode=3) from None
        covered = (
            f"entries #{digest.first_sequence} to #{digest.last_sequence} ({digest.entry_count})"
            if digest.entry_count
            else "no entries (an empty period)"
        )
        self.stdout.write(
            f"Digest #{digest.number}: {covered}, signed by {digest.key_fingerprint}."
        )

    def _export(self, actor: Actor, *, jsonl: str, **_) -> None:
        lines = export_entries_jsonl(actor=actor)
        if jsonl == "-":
            sys.stdout.writelines(lines)
            return
        count = -1  # the header line
        with Path(jsonl).open("w", encoding="utf-8") as handle:
            for line in lines:
                handle.write(line)
                count += 1
        self.stdout.write(f"Exported {count} entries to {jsonl}.")

    def _digests_export(self, actor: Actor, *, directory: Path, **_) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        files = digest_files(actor=actor)
        for file in files:
            (directory / file.name).write_bytes(file.content)
        self.stdout.write(
            f"Copied {len(files) - 1} digest(s) and the public key to {directory}. Check with:\n"
            f"  python -m apps.audit.offline_verify EXPORT.jsonl {directory} "
            f"--public-key {directory / files[0].name}"
        )

    def _generate_key(self, actor: Actor, *, file: Path, **_) -> None:
        if file.exists():
            raise CommandError(f"{file} exists; a signing key is never overwritten.")
        pem = generate_signing_key_pem()
        file.touch(mode=0o600)
        file.write_bytes(pem)
        fingerprint = fingerprint_for_display(load_signing_key(pem.decode()).public_key())
        self.stdout.write(f"Wrote {file} (public key fingerprint {fingerprint}).")


def _dumps(payload) -> str:
    return json.dumps(payload, indent=2)
