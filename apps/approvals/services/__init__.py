"""The only write paths for refund and freeze requests.

Support agents and managers *request*; only managers *decide*, never on
their own request; above the configured thresholds two distinct managers
must approve. Every step records its action-log entry in the same
transaction as the change. An approval writes an ``OutboundCall`` (outbox)
in that transaction too; the call to the Go API happens after commit in a
Celery task (``apps.approvals.tasks``), with one idempotency key for every
retry. The outcome comes only from the Go service: its answer (accepted,
refused) and then its events (``settle_*_from_events``).

Refusals (self-approval, an auditor trying to request, an amount above what
is refundable) are recorded as ``rejected`` entries in a transaction of
their own and then raised as :mod:`apps.approvals.errors`.
"""

from apps.approvals.services.deciding import (
    approve_request,
    expire_overdue_requests,
    recheck_request,
    reject_request,
)
from apps.approvals.services.records import MAX_REASON_LENGTH, REFUNDABLE_PAYMENT_STATUSES
from apps.approvals.services.requesting import (
    cancel_request,
    request_account_freeze,
    request_refund,
)
from apps.approvals.services.sending import CallOutcome, perform_outbound_call, retry_abandoned_call
from apps.approvals.services.settling import (
    RefundObserved,
    settle_freezes_from_events,
    settle_from_applied_events,
    settle_refunds_from_events,
)

__all__ = [
    "MAX_REASON_LENGTH",
    "REFUNDABLE_PAYMENT_STATUSES",
    "CallOutcome",
    "RefundObserved",
    "approve_request",
    "cancel_request",
    "expire_overdue_requests",
    "perform_outbound_call",
    "recheck_request",
    "reject_request",
    "request_account_freeze",
    "request_refund",
    "retry_abandoned_call",
    "settle_freezes_from_events",
    "settle_from_applied_events",
    "settle_refunds_from_events",
]
