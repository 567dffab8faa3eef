"""An auditor fetches the verification material from the portal: fingerprint, export, digests."""

from __future__ import annotations

import contextlib
import io
import zipfile
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from apps.audit import offline_verify
from apps.audit.models import AuditEntry
from apps.audit.selectors import signing_status
from apps.audit.services import write_digest
from tests.audit.test_digests import append

pytestmark = pytest.mark.django_db


def test_the_action_log_shows_the_public_keys_fingerprint(auditor_client, digests_on):
    write_digest()
    page = auditor_client.get("/action-log/").content.decode()
    assert signing_status().fingerprint in page
    assert "Newest digest" in page
    assert "#1 at" in page
    assert 'href="/action-log/digests/"' in page


def test_without_a_key_the_page_says_digests_are_off(auditor_client):
    assert b"Signed digests are off" in auditor_client.get("/action-log/").content


def test_an_auditor_downloads_export_and_digests_and_checks_them_offline(
    auditor_client, auditor, digests_on, tmp_path
):
    append(4)
    write_digest()
    listing = auditor_client.get("/action-log/digests/")
    assert b'href="/action-log/digests/1.json"' in listing.content
    single = auditor_client.get("/action-log/digests/1.json")
    assert single.content == (digests_on / "digest-00000001.json").read_bytes()

    archive = zipfile.ZipFile(io.BytesIO(auditor_client.get("/action-log/digests/all.zip").content))
    archive.extractall(tmp_path)
    assert (tmp_path / "offline_verify.py").read_bytes() == Path(
        offline_verify.__file__
    ).read_bytes()
    key = auditor_client.get("/action-log/digests/public-key.pem")
    assert key.content == (tmp_path / "audit-digests" / "public-key.pem").read_bytes()

    response = auditor_client.get("/action-log/?format=jsonl")
    assert response["Content-Disposition"].endswith('.jsonl"')
    export = tmp_path / "action-log.jsonl"
    export.write_bytes(b"".join(response.streaming_content))
    out = StringIO()
    with contextlib.redirect_stdout(out):
        code = offline_verify.main(
            [
                str(export),
                str(tmp_path / "audit-digests"),
                "--public-key",
                str(tmp_path / "audit-digests" / "public-key.pem"),
            ]
        )
    assert code == 0, out.getvalue()
    assert AuditEntry.objects.filter(
        action="audit.export", actor_user_id=auditor.pk, params__format="jsonl"
    ).exists()
    assert AuditEntry.objects.filter(action="audit.digests.export").count() == 2


def test_a_filtered_export_is_checked_entry_by_entry(auditor_client, digests_on, tmp_path):
    append(4)
    write_digest()
    files = tmp_path / "d"
    call_command("audit", "digests-export", str(files), stdout=StringIO())
    export = tmp_path / "filtered.jsonl"
    response = auditor_client.get("/action-log/?target_type=payment&format=jsonl")
    export.write_bytes(b"".join(response.streaming_content))
    args = [str(export), str(files), "--public-key", str(files / "public-key.pem")]
    out = StringIO()
    with contextlib.redirect_stdout(out):
        assert offline_verify.main(args) == 1
    assert "this export was filtered" in out.getvalue()
    out = StringIO()
    with contextlib.redirect_stdout(out):
        assert offline_verify.main([*args, "--partial"]) == 0, out.getvalue()
    assert "4 entries checked one by one" in out.getvalue()


def test_only_auditors_fetch_digests(agent_client, manager_client, digests_on):
    write_digest()
    for client in (agent_client, manager_client):
        assert client.get("/action-log/digests/").status_code == 403
        assert client.get("/action-log/digests/all.zip").status_code == 403
        assert client.get("/action-log/digests/1.json").status_code == 403


def test_an_unknown_digest_is_404(auditor_client, digests_on):
    assert auditor_client.get("/action-log/digests/9.json").status_code == 404
