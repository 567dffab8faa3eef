"""The dead letters, for the people who answer for the data: what the intake could not apply."""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_safe

from apps.events import selectors
from apps.events.models import DeadLetterStatus
from apps.identity.access import require_roles
from apps.identity.roles import Role

# Managers and auditors: the ones who answer for the data. Replaying stays an operator's
# command (``manage.py events replay``, recorded in the action log).
DEAD_LETTER_READERS = (Role.MANAGER, Role.AUDITOR)


@require_roles(*DEAD_LETTER_READERS)
@require_safe
def dead_letter_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status") or DeadLetterStatus.PENDING
    problem = ""
    if status not in DeadLetterStatus.values:
        problem = (
            f"There is no dead-letter status “{status}”: these are the ones waiting. "
            f"Choose {' or '.join(DeadLetterStatus.values)}."
        )
        status = DeadLetterStatus.PENDING
    listing = selectors.dead_letter_listing(status=status, after=request.GET.get("after"))
    letters = [
        {
            "letter": letter,
            "body": bytes(letter.body_start[: selectors.DEAD_LETTER_BODY_SHOWN]).decode(
                "utf-8", errors="replace"
            ),
            "cut": letter.body_size > selectors.DEAD_LETTER_BODY_SHOWN,
            "headers": json.dumps(letter.headers, indent=2, sort_keys=True)
            if letter.headers
            else "",
        }
        for letter in listing.page.rows
    ]
    return render(
        request,
        "events/dead_letter_list.html",
        {
            "listing": listing,
            "letters": letters,
            "problem": problem,
            "statuses": DeadLetterStatus.choices,
            "list_url": reverse("events:dead_letters"),
        },
        status=400 if problem else 200,
    )
