"""Reads over the action log: who may see which entries, listings, the chain's status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet
from django.http import Http404

from apps.audit.filters import AuditEntryFilter
from apps.audit.models import AuditDigest, AuditEntry
from apps.audit.signing import configured_public_key, fingerprint_for_display, public_key_pem
from apps.home.paging import KeysetPage, keyset_page, page_count
from apps.identity.roles import Role

REQUEST_TARGET_TYPES = ("refund_request", "freeze_request")


def visible_entries_for(user) -> QuerySet[AuditEntry]:
    """Auditors see everything; managers the entries on requests they decided and their own;
    agents the history of their own actions and of their own requests."""
    entries = AuditEntry.objects.all()
    if user.has_role(Role.AUDITOR):
        return entries
    own = Q(actor_user_id=user.pk)
    if user.has_role(Role.MANAGER):
        handled = AuditEntry.objects.filter(
            actor_user_id=user.pk, action__regex=r"\.(approve|reject)$"
        ).values("target_id")
        return entries.filter(own | Q(target_id__in=handled))
    # The requests this agent made are the targets of their own accepted "*.request" entries
    # (a refused request is recorded against the payment or account): read here, so the
    # action log needs nothing from the approvals app that records into it.
    mine = AuditEntry.objects.filter(
        actor_user_id=user.pk,
        target_type__in=REQUEST_TARGET_TYPES,
        action__endswith=".request",
    ).values("target_id")
    return entries.filter(own | Q(target_id__in=mine))


@dataclass(frozen=True)
class AuditListing:
    filters: AuditEntryFilter
    page: KeysetPage
    count: int
    count_exact: bool
    sort: str = "-sequence"


def audit_listing(user, params, *, page_size: int = 50) -> AuditListing:
    base = visible_entries_for(user)
    filters = AuditEntryFilter(params, queryset=base)
    queryset = filters.qs if filters.is_valid() else AuditEntry.objects.none()
    page = keyset_page(
        queryset,
        field="sequence",
        descending=True,
        pk="sequence",
        after=params.get("after"),
        before=params.get("before"),
        size=page_size,
    )
    # Capped, under the lists' count timeout and memo: the action log only grows.
    count, exact = page_count(queryset, page)
    return AuditListing(filters=filters, page=page, count=count, count_exact=exact)


def entry_visible_to(user, sequence: int) -> AuditEntry:
    entry = visible_entries_for(user).filter(sequence=sequence).first()
    if entry is None:
        raise Http404("No such entry, or not one you may see.")
    return entry


def chain_status() -> AuditEntry | None:
    """The newest verification run (its params say intact or where the chain broke)."""
    return AuditEntry.objects.filter(action="audit.verify").order_by("-sequence").first()


def verification_pending() -> bool:
    """A verification was asked for and its result is not in the log yet."""
    newest = (
        AuditEntry.objects.filter(action__in=("audit.verify", "audit.verify.requested"))
        .order_by("-sequence")
        .values_list("action", flat=True)
        .first()
    )
    return newest == "audit.verify.requested"


def filtered_entries(user, params) -> QuerySet[AuditEntry]:
    filters = AuditEntryFilter(params, queryset=visible_entries_for(user))
    return (filters.qs if filters.is_valid() else AuditEntry.objects.none()).order_by("-sequence")


def entries_between(start: datetime, end: datetime) -> QuerySet[AuditEntry]:
    """Every entry written in ``[start, end)``, in chain order (the action-log report).

    Unfiltered by person: callers decide who may read the whole log (auditors).
    """
    return AuditEntry.objects.filter(created_at__gte=start, created_at__lt=end).order_by("sequence")


@dataclass(frozen=True)
class SigningStatus:
    """What the action-log page says about signed digests: the key's fingerprint, the newest digest."""

    fingerprint: str
    latest: AuditDigest | None
    interval_minutes: float


def signing_status() -> SigningStatus | None:
    """None when digests are off (no signing key)."""
    from django.conf import settings

    public_key = configured_public_key()
    if public_key is None:
        return None
    return SigningStatus(
        fingerprint=fingerprint_for_display(public_key),
        latest=AuditDigest.objects.order_by("-number").first(),
        interval_minutes=settings.AUDIT_DIGEST_MINUTES,
    )


def digests_newest_first() -> QuerySet[AuditDigest]:
    return AuditDigest.objects.defer("document").order_by("-number")


def published_public_key_pem() -> bytes | None:
    public_key = configured_public_key()
    return public_key_pem(public_key) if public_key else None
