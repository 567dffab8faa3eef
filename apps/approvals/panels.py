"""The request panels other pages show: refund requests on a payment, freezes on an account.

The payment and account pages include them; the approvals views re-render
them after a request is made. Each says what the person may do there.
"""

from __future__ import annotations

from django.http import HttpRequest

from apps.accounts.models import Account, AccountStatus
from apps.approvals import selectors, services
from apps.approvals.forms import FreezeRequestForm, RefundRequestForm, amount_step
from apps.approvals.models import FreezeAction
from apps.identity.roles import WRITER_ROLES
from apps.payments.models import Payment

# How often an open request's status is asked for again (htmx polling).
POLL_SECONDS = 3


def refund_panel_context(
    request: HttpRequest, payment: Payment, form: RefundRequestForm | None = None
) -> dict:
    """A payment's refund requests and, for agents and managers, the form to ask for one."""
    return {
        "payment": payment,
        "refund_requests": list(selectors.refund_requests_for_payment(payment.payment_id)),
        "refund_form": form or RefundRequestForm(payment=payment),
        "payment_refundable": payment.status in services.REFUNDABLE_PAYMENT_STATUSES,
        "amount_step": amount_step(payment.currency),
        "can_request_refund": request.user.has_role(*WRITER_ROLES),
        "poll_seconds": POLL_SECONDS,
    }


def freeze_panel_context(request: HttpRequest, account: Account) -> dict:
    """An account's freeze requests and, for agents and managers, the form to ask for one."""
    freeze_requests = list(selectors.freeze_requests_for_account(account.account_id))
    frozen = account.status == AccountStatus.FROZEN
    action = FreezeAction.UNFREEZE if frozen else FreezeAction.FREEZE
    return {
        "account": account,
        "freeze_requests": freeze_requests,
        "freeze_action": action,
        "freeze_form": FreezeRequestForm(initial={"action": action}),
        "can_request_freeze": (
            request.user.has_role(*WRITER_ROLES)
            and not any(item.is_open for item in freeze_requests)
            and account.status in (AccountStatus.ACTIVE, AccountStatus.FROZEN)
        ),
        "poll_seconds": POLL_SECONDS,
    }
