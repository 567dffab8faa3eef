"""Sign-in and sign-out are recorded wherever they happen."""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver

from apps.identity import services


@receiver(user_logged_in, dispatch_uid="identity.record_sign_in")
def on_sign_in(sender, request, user, **kwargs) -> None:
    if request is not None:
        services.record_sign_in(request=request, user=user)


@receiver(user_logged_out, dispatch_uid="identity.record_sign_out")
def on_sign_out(sender, request, user, **kwargs) -> None:
    if request is not None and user is not None:
        services.record_sign_out(
            request=request, user=user, reason=getattr(request, "sign_out_reason", "")
        )
