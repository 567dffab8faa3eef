"""The action log: the auditors' view (others see what concerns them), entries, export, verification."""

from __future__ import annotations

import io
import zipfile

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from apps.audit import offline_verify, selectors, services
from apps.audit.models import AuditDigest
from apps.audit.services import Actor
from apps.audit.tables import AuditEntryTable, target_link
from apps.home.csv_export import csv_response
from apps.identity.access import require_roles
from apps.identity.roles import Role


@require_roles(*Role.values)
@require_safe
def entry_list(request: HttpRequest) -> HttpResponse:
    if request.GET.get("format") == "csv":
        return csv_response(
            services.export_entries_csv(user=request.user, params=request.GET, request=request),
            "action-log",
        )
    if request.GET.get("format") == "jsonl":
        lines = services.export_entries_jsonl(
            actor=Actor.for_user(request.user),
            user=request.user,
            params=request.GET,
            request=request,
        )
        return _attachment(
            StreamingHttpResponse(lines, content_type="application/jsonl; charset=utf-8"),
            f"action-log-{timezone.now():%Y%m%d-%H%M%S}.jsonl",
        )
    listing = selectors.audit_listing(request.user, request.GET)
    context = {
        "list_url": reverse("audit:list"),
        "listing": listing,
        "table": AuditEntryTable(listing.page.rows),
        "sortable": {},
        **_chain_context(request),
    }
    template = "audit/entry_list.html"
    if request.htmx and request.htmx.target == "results":
        template += "#results"
    return render(request, template, context)


@require_roles(*Role.values)
@require_safe
def entry_detail(request: HttpRequest, sequence: int) -> HttpResponse:
    entry = selectors.entry_visible_to(request.user, sequence)
    return render(
        request,
        "audit/entry_detail.html",
        {"entry": entry, "target": target_link(entry.target_type, entry.target_id)},
    )


def _chain_context(request: HttpRequest) -> dict:
    return {
        "chain": selectors.chain_status(),
        "signing": selectors.signing_status(),
        "verification_pending": selectors.verification_pending(),
        "sees_everything": request.user.has_role(Role.AUDITOR),
    }


@require_roles(*Role.values)
@require_safe
def chain_status(request: HttpRequest) -> HttpResponse:
    """The tamper-check panel (polled while a verification runs)."""
    return render(request, "audit/entry_list.html#chain-status", _chain_context(request))


# Auditors may start a verification: it reads the log and appends its own result, nothing else.
@require_roles(Role.AUDITOR)
@require_POST
def verify_now(request: HttpRequest) -> HttpResponse:
    services.request_verification(user=request.user, request=request)
    if request.htmx:
        return render(request, "audit/entry_list.html#chain-status", _chain_context(request))
    messages.success(request, "Verification started. Its result appears here when it is done.")
    return redirect("audit:list")


# --- signed digests, for auditors to check the log on their own machines -------------------


def _attachment(response: HttpResponse, filename: str) -> HttpResponse:
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_roles(Role.AUDITOR)
@require_safe
def digest_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "audit/digest_list.html",
        {
            "signing": selectors.signing_status(),
            "digests": selectors.digests_newest_first()[:200],
        },
    )


@require_roles(Role.AUDITOR)
@require_safe
def public_key(request: HttpRequest) -> HttpResponse:
    pem = selectors.published_public_key_pem()
    if pem is None:
        raise Http404("Signed digests are off: there is no public key.")
    return _attachment(
        HttpResponse(pem, content_type="application/x-pem-file"),
        services.PUBLIC_KEY_FILE_NAME,
    )


@require_roles(Role.AUDITOR)
@require_safe
def digest_download(request: HttpRequest, number: int) -> HttpResponse:
    try:
        file = services.digest_file(
            number=number, actor=Actor.for_user(request.user), request=request
        )
    except AuditDigest.DoesNotExist as missing:
        raise Http404(str(missing)) from None
    return _attachment(HttpResponse(file.content, content_type="application/json"), file.name)


@require_roles(Role.AUDITOR)
@require_safe
def digest_archive(request: HttpRequest) -> HttpResponse:
    """Every digest and the public key in one zip: unpack it as DIGESTS_DIR for offline_verify."""
    try:
        files = services.digest_files(actor=Actor.for_user(request.user), request=request)
    except services.DigestsOff as off:
        raise Http404(str(off)) from None
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in files:
            archive.writestr(f"audit-digests/{file.name}", file.content)
        # The verifier itself: one file, Python and `cryptography` only.
        archive.write(offline_verify.__file__, "offline_verify.py")
    return _attachment(
        HttpResponse(buffer.getvalue(), content_type="application/zip"),
        f"audit-digests-{timezone.now():%Y%m%d-%H%M%S}.zip",
    )
