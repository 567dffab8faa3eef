"""Maker-checker requests the portal owns: refund requests and account freeze requests.

Support agents (and managers) *request*; managers *decide*; the Go service
*executes*. These rows are the portal's own operational data, written only by
``apps.approvals.services``. The outcome of a request (``succeeded`` /
``failed``) is set only from the Go service's answer or from its events,
never by a person.

``OutboundCall`` is the transactional outbox: the call to a Go API is written
in the same transaction as the approval that causes it, and a Celery task
performs it after commit, with one idempotency key for every retry. Whoever
sends it first claims it (``status = sending``, ``claimed_until`` = a lease
longer than any call can last, ``attempts`` + 1) with a compare-and-set
update; nobody else can send it until the answer is recorded or the lease
has run out, and an answer is recorded only by the attempt that still holds
the claim (``apps.approvals.services.sending``).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class RequestStatus(models.TextChoices):
    REQUESTED = "requested", "Waiting for approval"
    APPROVED = "approved", "Approved"
    SUBMITTED = "submitted", "Submitted — waiting for the service"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"


OPEN_STATUSES = (RequestStatus.REQUESTED, RequestStatus.APPROVED, RequestStatus.SUBMITTED)
UNDECIDED_STATUSES = (RequestStatus.REQUESTED,)
FINAL_STATUSES = (
    RequestStatus.SUCCEEDED,
    RequestStatus.FAILED,
    RequestStatus.REJECTED,
    RequestStatus.CANCELLED,
    RequestStatus.EXPIRED,
)


class RefundCategory(models.TextChoices):
    DUPLICATE_CHARGE = "duplicate_charge", "Duplicate charge"
    NOT_RECEIVED = "not_received", "Goods or service not received"
    DEFECTIVE = "defective", "Defective or not as described"
    CANCELLED_ORDER = "cancelled_order", "Order cancelled"
    FRAUD = "fraud", "Fraud or unauthorised"
    GOODWILL = "goodwill", "Goodwill gesture"
    OTHER = "other", "Other"


class FreezeAction(models.TextChoices):
    FREEZE = "freeze", "Freeze"
    UNFREEZE = "unfreeze", "Unfreeze"


class ApprovalRequest(models.Model):
    """What refund and freeze requests share: the maker-checker lifecycle."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(
        max_length=16, choices=RequestStatus.choices, default=RequestStatus.REQUESTED
    )
    reason = models.TextField()
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    required_approvals = models.PositiveSmallIntegerField(default=1)
    rules_in_force = models.JSONField(
        default=dict, help_text="Thresholds and expiry that applied when the request was made."
    )
    payload_digest = models.CharField(max_length=64)
    target_state_digest = models.CharField(
        max_length=64, help_text="Digest of the target's state the request was checked against."
    )
    checked_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    failure_code = models.CharField(max_length=64, blank=True)
    failure_message = models.TextField(blank=True)
    overridden_by_event_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the service's event settled the request against the portal's belief.",
    )
    overridden_belief = models.CharField(
        max_length=255,
        blank=True,
        help_text="What the portal believed before the event (e.g. failed: service_unreachable).",
    )

    class Meta:
        abstract = True

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def is_undecided(self) -> bool:
        return self.status in UNDECIDED_STATUSES

    @property
    def reference(self) -> str:
        """What the portal sends as ``reference`` and what the Go service echoes in its events."""
        return str(self.id)


class RefundRequest(ApprovalRequest):
    payment = models.ForeignKey(
        "payments.Payment",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="refund_requests",
    )
    amount_cents = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    category = models.CharField(max_length=32, choices=RefundCategory.choices)
    refund_id = models.UUIDField(
        null=True, blank=True, help_text="The payments service's refund id, from its 202 answer."
    )

    class Meta:
        db_table = "approvals_refund_request"
        indexes = [
            models.Index(fields=["status", "requested_at"], name="refund_request_queue"),
            models.Index(fields=["payment", "status"], name="refund_request_payment"),
            models.Index(fields=["requested_by", "requested_at"], name="refund_request_requester"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_cents__gt=0), name="refund_request_amount_positive"
            ),
        ]

    kind = "refund"

    def __str__(self) -> str:
        return f"Refund request {self.id}"


class FreezeRequest(ApprovalRequest):
    account = models.ForeignKey(
        "accounts.Account",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="freeze_requests",
    )
    action = models.CharField(max_length=8, choices=FreezeAction.choices)

    class Meta:
        db_table = "approvals_freeze_request"
        indexes = [
            models.Index(fields=["status", "requested_at"], name="freeze_request_queue"),
            models.Index(fields=["account", "status"], name="freeze_request_account"),
            models.Index(fields=["requested_by", "requested_at"], name="freeze_request_requester"),
        ]

    kind = "freeze"

    def __str__(self) -> str:
        return f"{self.get_action_display()} request {self.id}"


class DecisionKind(models.TextChoices):
    APPROVE = "approve", "Approved"
    REJECT = "reject", "Rejected"


class Decision(models.Model):
    """One manager's decision on one request. Final: never updated.

    A manager may appear twice on a request only if it was re-checked in
    between (approvals before a re-check no longer count); the row lock on the
    request serialises decisions, so no unique constraint is needed.
    """

    refund_request = models.ForeignKey(
        RefundRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="decisions"
    )
    freeze_request = models.ForeignKey(
        FreezeRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="decisions"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(max_length=8, choices=DecisionKind.choices)
    comment = models.TextField()
    decided_at = models.DateTimeField()
    rules_in_force = models.JSONField(default=dict)

    class Meta:
        db_table = "approvals_decision"
        constraints = [
            models.CheckConstraint(
                condition=(Q(refund_request__isnull=False) & Q(freeze_request__isnull=True))
                | (Q(refund_request__isnull=True) & Q(freeze_request__isnull=False)),
                name="decision_exactly_one_request",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} by {self.decided_by_id}"


class CallStatus(models.TextChoices):
    PENDING = "pending", "Waiting to be sent"
    SENDING = "sending", "Being sent"
    ACCEPTED = "accepted", "Accepted by the service"
    REFUSED = "refused", "Refused by the service"
    ABANDONED = "abandoned", "Service unreachable — gave up retrying"


class OutboundCall(models.Model):
    """A call to a Go API, written in the transaction that decided it (outbox)."""

    class Operation(models.TextChoices):
        CREATE_REFUND = "payments.create_refund", "Create refund"
        FREEZE_ACCOUNT = "accounts.freeze", "Freeze account"
        UNFREEZE_ACCOUNT = "accounts.unfreeze", "Unfreeze account"

    id = models.BigAutoField(primary_key=True)
    operation = models.CharField(max_length=32, choices=Operation.choices)
    refund_request = models.OneToOneField(
        RefundRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="call"
    )
    freeze_request = models.OneToOneField(
        FreezeRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="call"
    )
    idempotency_key = models.CharField(max_length=255, unique=True)
    path_id = models.UUIDField(help_text="The payment or account id in the URL.")
    body = models.JSONField()
    status = models.CharField(max_length=16, choices=CallStatus.choices, default=CallStatus.PENDING)
    attempts = models.PositiveIntegerField(
        default=0, help_text="Attempts so far; each attempt has its own number, never reused."
    )
    attempts_before_retry = models.PositiveIntegerField(
        default=0, help_text="Attempts made before a manager's last retry (the budget restarts)."
    )
    claimed_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="While sending: nobody else may send the call before this (the send lease).",
    )
    next_attempt_at = models.DateTimeField()
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    response = models.JSONField(null=True, blank=True)
    request_id = models.CharField(
        max_length=128, help_text="The portal request that caused the call."
    )
    created_at = models.DateTimeField()

    class Meta:
        db_table = "approvals_outbound_call"
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="outbound_call_due")]

    def __str__(self) -> str:
        return f"{self.operation} {self.path_id} ({self.status})"
