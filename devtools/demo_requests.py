"""``python -m devtools.demo_requests`` — the demo's refund and freeze requests.

The Go stand-in seeds accounts and payments; this adds what the portal
itself owns, made the way people make it (through ``apps.approvals.services``,
so every step is in the action log): a few requests waiting for a manager,
one above the two-manager threshold, a freeze request, one rejected, and
one approved that the worker sends to the stand-in, whose events then
complete it. The requests come from two demo colleagues who never sign in,
so the demo users find work in their queue.

It waits for the event intake to fill the read models first, does nothing
when the demo data is already there (a second run), and then stays up
until the demo stops, so the process supervisor keeps the other processes.
"""

from __future__ import annotations

import os
import signal
import sys
import time

COLLEAGUES = {
    "demo-sam": ("Sam", "Support", ["agent"]),
    "demo-dana": ("Dana", "Decider", ["manager"]),
}
WANTED_PAYMENTS = 300


def _wait_for_payments(timeout: float = 900) -> bool:
    from apps.payments.models import Payment

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if Payment.objects.filter(status="settled", refunded_cents=0).count() >= WANTED_PAYMENTS:
            return True
        time.sleep(3)
    return False


def _colleague(username: str):
    from apps.identity.models import User

    first, last, roles = COLLEAGUES[username]
    user, _ = User.objects.get_or_create(
        username=username,
        defaults={
            "first_name": first,
            "last_name": last,
            "email": f"{username}@example.com",
            "roles": roles,
        },
    )
    return user


def _payments(currency: str, count: int, *, minimum: int = 0, maximum: int | None = None):
    from apps.payments.models import Payment

    payments = Payment.objects.filter(
        status="settled", refunded_cents=0, currency=currency, amount_cents__gte=minimum
    )
    if maximum is not None:
        payments = payments.filter(amount_cents__lte=maximum)
    return list(payments.order_by("-created_at")[:count])


def seed() -> str:
    from django.utils import timezone

    from apps.accounts.models import Account
    from apps.approvals import services
    from apps.approvals.models import FreezeRequest, RefundRequest

    sam, dana = _colleague("demo-sam"), _colleague("demo-dana")
    if RefundRequest.objects.filter(requested_by=sam).exists():
        return "the demo requests are already there"

    eur = _payments("EUR", 4, maximum=25_000)  # below the demo threshold: one manager
    other = [p for c in ("JPY", "USD", "GBP") for p in _payments(c, 1)]
    made = []
    reasons = [
        ("duplicate_charge", "Charged twice for the same order; the bank statement shows both."),
        ("not_received", "Parcel lost in transit; the carrier confirmed it."),
        ("defective", "Item arrived broken; photos in the ticket."),
        ("goodwill", "Long delay on the delivery; goodwill gesture agreed on the phone."),
    ]
    for payment, (category, reason) in zip(eur[:2] + other, reasons, strict=False):
        made.append(
            services.request_refund(
                requester=sam,
                payment_id=payment.payment_id,
                amount_cents=max(payment.amount_cents // 2, 1),
                category=category,
                reason=reason,
            )
        )
    # A large one: above the threshold, it needs two managers.
    large = _payments("EUR", 1, minimum=30_000)  # above the demo threshold, EUR 250
    if large:
        made.append(
            services.request_refund(
                requester=sam,
                payment_id=large[0].payment_id,
                amount_cents=large[0].amount_cents,
                category="fraud",
                reason="Card used without the customer's consent; chargeback threatened.",
            )
        )
    if len(eur) >= 4:
        rejected = services.request_refund(
            requester=sam,
            payment_id=eur[2].payment_id,
            amount_cents=eur[2].amount_cents,
            category="other",
            reason="Customer changed their mind after the trial.",
        )
        services.reject_request(
            approval_request=rejected,
            rejecter=dana,
            comment="Outside the refund policy: the trial ended 30 days ago.",
        )
        approved = services.request_refund(
            requester=sam,
            payment_id=eur[3].payment_id,
            amount_cents=max(eur[3].amount_cents // 4, 1),
            category="defective",
            reason="One of four items was defective.",
        )
        # The worker sends it to the stand-in; its events complete the request.
        services.approve_request(
            approval_request=approved,
            approver=dana,
            comment="Partial refund for the defective item.",
            authenticated_at=timezone.now(),
        )
    account = Account.objects.filter(status="active").order_by("-created_at").first()
    if account is not None and not FreezeRequest.objects.filter(account=account).exists():
        services.request_account_freeze(
            requester=sam,
            account_id=account.account_id,
            action="freeze",
            reason="Several chargebacks this week; the customer does not answer.",
        )
    return (
        f"{len(made)} refund requests waiting for a manager, one approved, one rejected, one freeze"
    )


def first_digest() -> str:
    """The action log's first signed digest right away (beat signs the next ones on schedule)."""
    from apps.audit.models import AuditDigest
    from apps.audit.services import Actor, write_digest
    from apps.audit.signing import DigestsOff

    if AuditDigest.objects.exists():
        return "signed digests: already written"
    try:
        digest = write_digest(actor=Actor.system("demo"))
    except DigestsOff as off:
        return str(off)
    return f"signed digest #{digest.number} of the action log ({digest.key_fingerprint})"


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.development")
    import django

    django.setup()
    print("waiting for the event intake to fill the read models…", flush=True)
    try:
        if _wait_for_payments():
            print(f"demo requests: {seed()}", flush=True)
            print(first_digest(), flush=True)
        else:
            print("the read models did not fill in time; no demo requests this run", flush=True)
    except Exception as error:  # the demo goes on without its requests
        print(f"could not create the demo requests: {error!r}", file=sys.stderr, flush=True)
    # Stay up: a process that ends makes the supervisor stop the whole demo.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:
            signal.pause()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
