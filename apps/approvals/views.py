"""Requesting refunds and freezes, the approval queue, and each request's page.

Views are thin: forms check what was typed, ``services`` enforce the rules
and record every step, ``selectors`` decide what a person may see and which
buttons to show. htmx requests get the fragment they swap; the same URLs
work as plain form posts.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST, require_safe

from apps.accounts.selectors import account_detail
from apps.approvals import selectors, services
from apps.approvals.errors import ApprovalError, ReauthenticationRequired
from apps.approvals.forms import DecisionForm, FreezeRequestForm, RefundRequestForm
from apps.approvals.models import ApprovalRequest, FreezeAction
from apps.approvals.panels import POLL_SECONDS, freeze_panel_context, refund_panel_context
from apps.identity.access import require_roles, require_writer
from apps.identity.roles import Role
from apps.identity.selectors import authenticated_at, recent_sign_in
from apps.payments.selectors import payment_detail
from apps.workspace.services import note_list_looked, note_record_opened

QUEUE_POLL_SECONDS = 10


# --- helpers ---------------------------------------------------------------------


def _recently_signed_in(request: HttpRequest) -> bool:
    return recent_sign_in(request, settings.APPROVAL_MAX_AUTH_AGE_MINUTES * 60)


def _card_context(request: HttpRequest, approval_request: ApprovalRequest, *, place: str) -> dict:
    """What the request card needs: the request, its target, the buttons this person gets."""
    return {
        "item": approval_request,
        "place": place,
        "actions": selectors.actions_for(
            user=request.user,
            approval_request=approval_request,
            recently_signed_in=_recently_signed_in(request),
        ),
        "poll_seconds": POLL_SECONDS,
        "awaiting": selectors.awaiting_count(manager=request.user),
        "max_auth_minutes": settings.APPROVAL_MAX_AUTH_AGE_MINUTES,
        # Where a plain form post comes back to; after an htmx post, where that one came from.
        "back_url": request.get_full_path()
        if request.method == "GET"
        else request.POST.get("next", ""),
    }


def _back(request: HttpRequest, approval_request: ApprovalRequest) -> HttpResponse:
    """Where a plain (non-htmx) form post returns to."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}):
        return redirect(target)
    return redirect("approvals:detail", request_id=approval_request.pk)


def _reauthenticate(request: HttpRequest, approval_request: ApprovalRequest) -> HttpResponse:
    """Step-up: sign in again at the IdP, then come back to the request."""
    back = reverse("approvals:detail", kwargs={"request_id": approval_request.pk})
    url = f"{reverse('identity:reauthenticate')}?{urlencode({'next': back})}"
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


def _after_write(
    request: HttpRequest, approval_request: ApprovalRequest, text: str, *, error: bool = False
) -> HttpResponse:
    if request.htmx:
        fresh = selectors.request_visible_to(user=request.user, request_id=approval_request.pk)
        context = _card_context(request, fresh, place=request.POST.get("place", "detail"))
        context["notice"] = text
        context["notice_is_error"] = error
        return render(request, "approvals/request_card.html", context)
    (messages.error if error else messages.success)(request, text)
    return _back(request, approval_request)


# --- lists -----------------------------------------------------------------------


@require_writer
@require_safe
def my_requests(request: HttpRequest) -> HttpResponse:
    """The requester's own refund and freeze requests, newest first, updated live while open."""
    items = selectors.requests_of(user=request.user)
    # The start page links here filtered: ?state=open (still going) or ?state=decided
    # (approved or rejected by a manager).
    state = request.GET.get("state", "")
    if state == "open":
        items = [item for item in items if item.is_open]
    elif state == "decided":
        items = [item for item in items if item.decided_at is not None]
    if not request.htmx:
        note_list_looked(owner=request.user, list_name="approvals:mine")
    context = {
        "state": state,
        "items": items,
        "polling": selectors.any_open(items),
        "poll_seconds": POLL_SECONDS,
    }
    template = "approvals/my_requests.html"
    if request.htmx and request.htmx.target == "my-requests":
        template += "#my-requests"
    return render(request, template, context)


@require_roles(Role.MANAGER)
@require_safe
def approval_queue(request: HttpRequest) -> HttpResponse:
    """Undecided requests, oldest first, each with its context and the decision buttons."""
    items = selectors.approval_queue(manager=request.user)
    # The start page links here filtered: ?waiting=me (I can decide) or ?waiting=second.
    waiting = request.GET.get("waiting", "")
    if waiting == "me":
        items = [i for i in items if not i.is_mine and not i.approved_by_me]
    elif waiting == "second":
        items = [i for i in items if i.approvals_so_far > 0]
    recently = _recently_signed_in(request)
    cards = [
        {
            "item": item,
            "actions": selectors.actions_for(
                user=request.user, approval_request=item, recently_signed_in=recently
            ),
        }
        for item in items
    ]
    context = {
        "cards": cards,
        "max_auth_minutes": settings.APPROVAL_MAX_AUTH_AGE_MINUTES,
        "awaiting": selectors.awaiting_count(manager=request.user),
        "overridden": selectors.settled_against_belief(),
        "queue_poll_seconds": QUEUE_POLL_SECONDS,
        "poll_seconds": POLL_SECONDS,
        "place": "queue",
        "waiting": waiting,
    }
    template = "approvals/approval_queue.html"
    if request.htmx and request.htmx.target == "approval-queue":
        template += "#queue"
    return render(request, template, context)


# --- one request -------------------------------------------------------------------


@require_roles(*Role.values)
@require_safe
def request_detail(request: HttpRequest, request_id: uuid.UUID) -> HttpResponse:
    approval_request = selectors.request_visible_to(user=request.user, request_id=request_id)
    note_record_opened(
        owner=request.user,
        kind="request",
        record_id=str(approval_request.pk),
        label=f"{approval_request.kind.capitalize()} request {str(approval_request.pk)[:8]}",
        url=request.path,
    )
    context = {
        **_card_context(request, approval_request, place="detail"),
        "decisions": selectors.decisions_of(approval_request),
        "call": selectors.call_of(approval_request),
    }
    return render(request, "approvals/request_detail.html", context)


@require_roles(*Role.values)
@require_safe
def request_status(request: HttpRequest, request_id: uuid.UUID) -> HttpResponse:
    """The live status line (htmx polls it; polling stops once the request is final)."""
    approval_request = selectors.request_visible_to(user=request.user, request_id=request_id)
    return render(
        request,
        "approvals/request_card.html#status",
        {"item": approval_request, "poll_seconds": POLL_SECONDS},
    )


# --- requesting ----------------------------------------------------------------------


@require_writer
@require_safe
def check_refund_amount(request: HttpRequest, payment_id: uuid.UUID) -> HttpResponse:
    """Inline validation while the amount is typed (the service checks again on submit)."""
    payment = payment_detail(payment_id)
    form = RefundRequestForm({"amount": request.GET.get("amount", "")}, payment=payment)
    form.is_valid()
    return render(
        request,
        "approvals/refund_panel.html#amount-feedback",
        {"refund_form": form, "checked": True},
    )


@require_writer
@require_POST
def request_refund(request: HttpRequest, payment_id: uuid.UUID) -> HttpResponse:
    payment = payment_detail(payment_id)
    form = RefundRequestForm(request.POST, payment=payment)
    if form.is_valid():
        try:
            created = services.request_refund(
                requester=request.user,
                payment_id=payment.payment_id,
                amount_cents=form.cleaned_data["amount"],
                category=form.cleaned_data["category"],
                reason=form.cleaned_data["reason"],
                request=request,
            )
        except ApprovalError as error:
            form.add_error(None, error.message)
        else:
            text = "Refund requested. A manager will review it; this page shows its status."
            if not request.htmx:
                messages.success(request, text)
                return redirect("payments:detail", payment_id=payment.payment_id)
            context = refund_panel_context(request, payment)
            context.update({"notice": text, "created": created})
            return render(request, "approvals/refund_panel.html#refund-panel", context)
    if not request.htmx:
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect("payments:detail", payment_id=payment.payment_id)
    context = refund_panel_context(request, payment, form)
    context["form_open"] = True
    return render(request, "approvals/refund_panel.html#refund-panel", context, status=422)


@require_roles(*Role.values)
@require_safe
def payment_requests(request: HttpRequest, payment_id: uuid.UUID) -> HttpResponse:
    """The refund requests of one payment (the payment page polls it while any is open)."""
    payment = payment_detail(payment_id)
    return render(
        request,
        "approvals/refund_panel.html#payment-requests",
        refund_panel_context(request, payment),
    )


@require_writer
@require_POST
def request_freeze(request: HttpRequest, account_id: uuid.UUID) -> HttpResponse:
    account = account_detail(account_id)
    form = FreezeRequestForm(request.POST)
    notice, error = "", False
    if form.is_valid():
        action = form.cleaned_data["action"]
        try:
            services.request_account_freeze(
                requester=request.user,
                account_id=account.account_id,
                action=action,
                reason=form.cleaned_data["reason"],
                request=request,
            )
        except ApprovalError as problem:
            notice, error = problem.message, True
        else:
            notice = f"{FreezeAction(action).label} requested. A manager will review it."
    else:
        notice, error = " ".join(e for errors in form.errors.values() for e in errors), True
    if not request.htmx:
        (messages.error if error else messages.success)(request, notice)
        return redirect("accounts:detail", account_id=account.account_id)
    context = freeze_panel_context(request, account)
    context.update({"notice": notice, "notice_is_error": error})
    if error and form.is_bound:
        context["freeze_form"] = form
        context["form_open"] = True
    return render(
        request, "approvals/freeze_panel.html#freeze-panel", context, status=422 if error else 200
    )


@require_roles(*Role.values)
@require_safe
def account_requests(request: HttpRequest, account_id: uuid.UUID) -> HttpResponse:
    account = account_detail(account_id)
    return render(
        request,
        "approvals/freeze_panel.html#account-requests",
        freeze_panel_context(request, account),
    )


# --- deciding and the requester's own actions -------------------------------------------


def _visible(request: HttpRequest, request_id: uuid.UUID) -> ApprovalRequest:
    return selectors.request_visible_to(user=request.user, request_id=request_id)


@require_roles(Role.MANAGER)
@require_POST
def approve(request: HttpRequest, request_id: uuid.UUID) -> HttpResponse:
    approval_request = _visible(request, request_id)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return _after_write(request, approval_request, form.errors["comment"][0], error=True)
    try:
        decided = services.approve_request(
            approval_request=approval_request,
            approver=request.user,
            comment=form.cleaned_data["comment"],
            authenticated_at=authenticated_at(request),
            request=request,
        )
    except ReauthenticationRequired:
        return _reauthenticate(request, approval_request)
    except ApprovalError as error:
        return _after_write(request, approval_request, error.message, error=True)
    if decided.is_undecided:
        text = "Approved. Another manager must approve too before it is sent."
    else:
        text = "Approved and sent to the service. Its answer will show here."
    return _after_write(request, decided, text)


@require_roles(Role.MANAGER)
@require_POST
def reject(request: HttpRequest, request_id: uuid.UUID) -> HttpResponse:
    approval_request = _visible(request, request_id)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return _after_write(request, approval_request, form.errors["comment"][0], error=True)
    try:
        decided = services.reject_request(
            approval_request=approval_request,
            rejecter=request.user,
            comment=form.cleaned_data["comment"],
            request=request,
        )
    except ApprovalError as error:
        return _after_write(request, approval_request, error.message, error=True)
    return _after_write(request, decided, "Rejected. The requester sees your comment.")


def _requester_step(request: HttpRequest, request_id: uuid.UUID, perform, done: str):
    """Cancel, re-check or retry: one service call; a refusal comes back as the card's notice."""
    approval_request = _visible(request, request_id)
    try:
        changed = perform(
            approval_request=approval_request, actor_user=request.user, request=request
        )
    except ApprovalError as error:
        return _after_write(request, approval_request, error.message, error=True)
    if not isinstance(changed, ApprovalRequest):
        changed = approval_request  # a retry answers with the call, not the request
    return _after_write(request, changed, done)


@require_writer
@require_POST
def cancel(request: HttpRequest, request_id: uuid.UUID) -> HttpResponse:
    return _requester_step(request, request_id, services.cancel_request, "Request cancelled.")


@require_writer
@require_POST
def recheck(request: HttpRequest, request_id: uuid.UUID) -> HttpResponse:
    return _requester_step(
        request,
        request_id,
        services.recheck_request,
        "Checked again against the current state; it can be decided now.",
    )


@require_roles(Role.MANAGER)
@require_POST
def retry(request: HttpRequest, request_id: uuid.UUID) -> HttpResponse:
    return _requester_step(
        request,
        request_id,
        services.retry_abandoned_call,
        "Sent again, with the same idempotency key.",
    )
