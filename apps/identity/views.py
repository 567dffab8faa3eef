"""Sign-in, sign-out and re-authentication pages. The flow itself is allauth's."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from apps.identity import services
from apps.identity.access import public, signed_in
from apps.identity.backchannel import LogoutTokenInvalid, verify_logout_token

logger = logging.getLogger(__name__)

PROVIDER_LOGIN = "/accounts/oidc/sso/login/"


def _safe_next(request: HttpRequest, default: str = "/") -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or default
    if url_has_allowed_host_and_scheme(
        candidate, {request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return default


def _provider_login_url(next_url: str, **auth_params: str) -> str:
    query = {"process": "login", "next": next_url}
    if auth_params:
        query["auth_params"] = urlencode(auth_params)
    return f"{PROVIDER_LOGIN}?{urlencode(query)}"


@public
@require_http_methods(["GET"])
def sign_in(request: HttpRequest) -> HttpResponse:
    """One button: sign in with the company's IdP."""
    next_url = _safe_next(request)
    if request.user.is_authenticated:
        return redirect(next_url)
    return render(
        request,
        "identity/sign_in.html",
        {
            "configured": bool(settings.SOCIALACCOUNT_PROVIDERS),
            "provider_name": settings.OIDC_PROVIDER_NAME,
            "action": _provider_login_url(next_url),
        },
    )


@signed_in
@require_http_methods(["GET", "POST"])
def sign_out(request: HttpRequest) -> HttpResponse:
    """POST ends the portal session and, where the IdP offers it, the IdP session too."""
    if request.method == "GET":
        return render(request, "identity/sign_out.html")
    logout(request)
    end_session = _end_session_endpoint(request)
    signed_out_url = request.build_absolute_uri(reverse("identity:signed_out"))
    if end_session:
        query = urlencode(
            {"client_id": settings.OIDC_CLIENT_ID, "post_logout_redirect_uri": signed_out_url}
        )
        return redirect(f"{end_session}?{query}")
    return redirect(signed_out_url)


@public
@require_http_methods(["GET"])
def signed_out(request: HttpRequest) -> HttpResponse:
    return render(
        request, "identity/signed_out.html", {"provider_name": settings.OIDC_PROVIDER_NAME}
    )


@signed_in
@require_http_methods(["GET"])
def reauthenticate(request: HttpRequest) -> HttpResponse:
    """Step-up before a money-moving click: sign in again at the IdP (prompt=login, max_age=0)."""
    next_url = _safe_next(request)
    return render(
        request,
        "identity/reauthenticate.html",
        {
            "provider_name": settings.OIDC_PROVIDER_NAME,
            "action": _provider_login_url(next_url, prompt="login", max_age="0"),
            "next_url": next_url,
        },
    )


def _end_session_endpoint(request: HttpRequest) -> str | None:
    if not settings.SOCIALACCOUNT_PROVIDERS:
        return None
    from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter

    try:
        return OpenIDConnectOAuth2Adapter(request, "sso").openid_config.get("end_session_endpoint")
    except Exception:  # the IdP is unreachable: the portal session is ended anyway
        logger.warning("could not read the IdP's discovery document at sign-out", exc_info=True)
        return None


@public
@csrf_exempt  # the IdP calls this server to server, with no session and no CSRF token
@require_POST
def backchannel_logout(request: HttpRequest) -> HttpResponse:
    """OpenID Connect Back-Channel Logout 1.0: end the sessions a valid logout token names."""
    token = request.POST.get("logout_token", "")
    try:
        if not token:
            raise LogoutTokenInvalid("no logout_token in the request")
        logout_token = verify_logout_token(request, token)
        services.apply_logout_token(
            issuer=logout_token.issuer,
            jti=logout_token.jti,
            subject=logout_token.subject,
            session_id=logout_token.session_id,
            request=request,
        )
    except (LogoutTokenInvalid, services.LogoutTokenReplayed) as error:
        services.record_logout_token_refused(request=request, error=str(error))
        response = JsonResponse(
            {"error": "invalid_request", "error_description": str(error)}, status=400
        )
    else:
        response = HttpResponse(status=200)
    response["Cache-Control"] = "no-store"
    return response
