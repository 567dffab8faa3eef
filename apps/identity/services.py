"""Writes that concern identity: roles from the IdP, sign-in bookkeeping, sessions, access.

Roles are re-read from the IdP's group claim at every sign-in and, during a
session, on the first request after ``PORTAL_ROLE_RECHECK_MINUTES``
(:func:`recheck_roles`). Every portal session is tracked (``PortalSession``)
with the IdP's ``sub``/``sid``, so a back-channel logout or the operator's
kill switch can end it at once. Every sign-in, sign-out, role change, ended
session and refused access is recorded in the action log.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import import_module
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from apps.audit.services import Actor, Outcome, not_audited, record
from apps.identity.models import LogoutTokenUse, PortalSession, User
from apps.identity.role_mapping import (
    groups_claim_present,
    groups_from_claims,
    parse_role_groups,
    roles_for_groups,
)

logger = logging.getLogger("portal.access")

AUTH_TIME_KEY = "portal_auth_time"
IDP_AUTH_TIME_KEY = "portal_idp_auth_time"
# When this session's roles were last read from the IdP (sign-in or re-check).
ROLES_CHECKED_KEY = "portal_roles_checked_at"
# True when the IdP's tokens carried no groups claim at all (not even an empty list).
GROUPS_CLAIM_MISSING_KEY = "portal_groups_claim_missing"
# A re-check the IdP could not answer is tried again after this long.
RECHECK_RETRY = timedelta(minutes=1)
# Logout tokens already acted on are remembered this long (they are refused when older).
LOGOUT_TOKEN_MEMORY = timedelta(days=1)

SIGN_IN_ATTRIBUTE = "portal_idp_sign_in"


@dataclass(frozen=True)
class IdpSignIn:
    """What the sign-in's tokens said, kept on the request until the session exists."""

    subject: str
    session_id: str
    access_token: str
    access_token_expires_at: datetime | None
    refresh_token: str
    groups_claim_present: bool


class RecheckOutcome(enum.Enum):
    KEPT = "kept"  # roles read again (or the IdP could not answer: tried again soon)
    ENDED = "ended"  # the IdP refused: the session must end
    SIGN_IN_AGAIN = "sign-in again"  # no token to ask with: a silent re-sign-in decides


class LogoutTokenReplayed(Exception):
    """The logout token's ``jti`` was acted on before."""


def sync_roles(
    *,
    user: Any,
    groups: Sequence[str],
    request: HttpRequest | None = None,
    source: str = "sign-in",
) -> bool:
    """Set the user's roles from their IdP groups; record a change. Returns True if roles changed."""
    mapping = parse_role_groups(settings.PORTAL_ROLE_GROUPS)
    new_roles = roles_for_groups(groups, mapping)
    old_roles = sorted(user.roles or [])
    changed = new_roles != old_roles
    user.roles = new_roles
    user.idp_groups = list(groups)
    user.roles_synced_at = timezone.now()
    if user.pk is None:
        return changed  # a new user: saved by the sign-up that follows, recorded at sign-in
    with transaction.atomic():
        user.save(update_fields=["roles", "idp_groups", "roles_synced_at"])
        if changed:
            record(
                action="identity.roles_changed",
                actor=Actor.system("sso"),
                target_type="user",
                target_id=str(user.pk),
                params={
                    "old_roles": old_roles,
                    "new_roles": new_roles,
                    "groups": list(groups),
                    "source": source,
                },
                request=request,
            )
    return changed


@not_audited("keeps a claim in the session for record_sign_in, which records the sign-in")
def note_idp_auth_time(request: HttpRequest, auth_time: Any) -> None:
    """Keep the ID token's ``auth_time`` (seconds since the epoch) for :func:`record_sign_in`."""
    if isinstance(auth_time, int | float) and not isinstance(auth_time, bool):
        request.session[IDP_AUTH_TIME_KEY] = float(auth_time)


@not_audited("keeps the sign-in's tokens on the request for record_sign_in, which records it")
def note_idp_sign_in(request: HttpRequest, sign_in: IdpSignIn) -> None:
    setattr(request, SIGN_IN_ATTRIBUTE, sign_in)


def record_sign_in(*, request: HttpRequest, user: Any) -> None:
    """Record the sign-in and start tracking its session (``PortalSession``).

    The sign-in's moment for step-up is the IdP's ``auth_time`` when it gave
    one, else now. A sign-in whose tokens carried no groups claim at all is
    recorded as such ("no groups claim"): the no-access page then names
    ``OIDC_GROUPS_CLAIM`` and ``OIDC_SCOPES`` instead of blaming the groups.
    """
    now = timezone.now()
    moment = now
    idp_auth_time = request.session.pop(IDP_AUTH_TIME_KEY, None)
    if idp_auth_time is not None:
        moment = min(moment, datetime.fromtimestamp(idp_auth_time, tz=UTC))
    request.session[AUTH_TIME_KEY] = moment.isoformat()
    request.session[ROLES_CHECKED_KEY] = now.isoformat()
    sign_in: IdpSignIn | None = getattr(request, SIGN_IN_ATTRIBUTE, None)
    claim_missing = sign_in is not None and not sign_in.groups_claim_present
    request.session[GROUPS_CLAIM_MISSING_KEY] = claim_missing
    _track_session(request, user, sign_in, now)
    params: dict[str, Any] = {
        "roles": sorted(user.roles or []),
        "groups": list(user.idp_groups or []),
    }
    if sign_in is not None:
        params["groups_claim"] = "missing" if claim_missing else "present"
        params["idp_session"] = bool(sign_in.session_id)
    record(
        action="identity.sign_in",
        actor=Actor.for_user(user),
        target_type="user",
        target_id=str(user.pk),
        params=params,
        reason=(
            f"no groups claim: the IdP sent no {settings.OIDC_GROUPS_CLAIM!r} claim "
            f"(OIDC_GROUPS_CLAIM) for the scopes {' '.join(settings.OIDC_SCOPES)!r} (OIDC_SCOPES)"
            if claim_missing
            else ""
        ),
        request=request,
    )


def _track_session(
    request: HttpRequest, user: Any, sign_in: IdpSignIn | None, now: datetime
) -> None:
    session_key = request.session.session_key
    if session_key is None:  # a session not saved yet: give it its key now
        request.session.save()
        session_key = request.session.session_key
    PortalSession.objects.update_or_create(
        session_key=session_key,
        defaults={
            "user": user,
            "idp_subject": sign_in.subject if sign_in else "",
            "idp_session_id": sign_in.session_id if sign_in else "",
            "access_token": sign_in.access_token if sign_in else "",
            "access_token_expires_at": sign_in.access_token_expires_at if sign_in else None,
            "refresh_token": sign_in.refresh_token if sign_in else "",
            "roles_checked_at": now,
        },
    )


def record_sign_out(*, request: HttpRequest, user: Any, reason: str = "") -> None:
    if request.session.session_key:
        PortalSession.objects.filter(session_key=request.session.session_key).delete()
    record(
        action="identity.sign_out",
        actor=Actor.for_user(user),
        target_type="user",
        target_id=str(user.pk),
        reason=reason,
        request=request,
    )


def record_sign_in_failed(*, request: HttpRequest, error: str) -> None:
    record(
        action="identity.sign_in_failed",
        actor=Actor.system("sso"),
        outcome=Outcome.REJECTED,
        reason=error[:500],
        request=request,
    )


def record_access_denied(*, request: HttpRequest, required_roles: Sequence[str]) -> None:
    user = request.user
    actor = Actor.for_user(user) if user.is_authenticated else Actor.system("anonymous")
    record(
        action="access.denied",
        actor=actor,
        target_type="url",
        target_id=request.path[:255],
        outcome=Outcome.REJECTED,
        params={"method": request.method, "required_roles": list(required_roles)},
        request=request,
    )


def end_sessions(
    *,
    sessions: QuerySet[PortalSession],
    actor: Actor,
    reason: str,
    params: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> int:
    """End these portal sessions now (their next request is anonymous); one entry per person.

    The session data is deleted from the session store, so this works for a
    session that is not the current request's (a back-channel logout, the
    operator's kill switch, another browser of the same person).
    """
    store = import_module(settings.SESSION_ENGINE).SessionStore
    ended: dict[int, list[str]] = {}
    with transaction.atomic():
        for row in sessions.select_for_update():
            store(session_key=row.session_key).delete()
            ended.setdefault(row.user_id, []).append(row.idp_session_id)
            row.delete()
        for user in User.objects.filter(pk__in=ended):
            record(
                action="identity.sessions_ended",
                actor=actor,
                target_type="user",
                target_id=str(user.pk),
                reason=reason,
                params={
                    **(params or {}),
                    "user": user.email or user.username,
                    "sessions": len(ended[user.pk]),
                },
                request=request,
            )
    return sum(len(keys) for keys in ended.values())


def end_sessions_of_person(*, person: str, operator: str) -> int:
    """The operator's kill switch: end every session of the person (username or e-mail)."""
    users = list(User.objects.filter(Q(username=person) | Q(email__iexact=person)))
    if not users:
        raise User.DoesNotExist(f"nobody with username or e-mail {person!r}")
    actor = Actor.system(f"cli:{operator}")
    with transaction.atomic():
        count = end_sessions(
            sessions=PortalSession.objects.filter(user__in=users),
            actor=actor,
            reason="ended by an operator (manage.py identity end-sessions)",
            params={"by": "operator"},
        )
        if count == 0:
            for user in users:  # recorded even when there was nothing to end
                record(
                    action="identity.sessions_ended",
                    actor=actor,
                    target_type="user",
                    target_id=str(user.pk),
                    reason="ended by an operator (manage.py identity end-sessions)",
                    params={"by": "operator", "user": user.email or user.username, "sessions": 0},
                )
    return count


def apply_logout_token(
    *, issuer: str, jti: str, subject: str, session_id: str, request: HttpRequest
) -> int:
    """OpenID Connect Back-Channel Logout: end the sessions of that person or IdP session.

    ``sid`` (when the IdP sends it) narrows the logout to the sessions opened
    by that IdP session; ``sub`` alone ends every session of the person. A
    ``jti`` seen before is refused (:class:`LogoutTokenReplayed`).
    """
    with transaction.atomic():
        LogoutTokenUse.objects.filter(received_at__lt=timezone.now() - LOGOUT_TOKEN_MEMORY).delete()
        try:
            with transaction.atomic():
                LogoutTokenUse.objects.create(issuer=issuer, jti=jti)
        except IntegrityError:
            raise LogoutTokenReplayed(f"logout token {jti!r} was used before") from None
        sessions = PortalSession.objects.all()
        if subject and session_id:
            # That IdP session of that person; a session of theirs whose sid the ID token did
            # not tell may be it, so it ends too (ending one too many is the safe mistake).
            sessions = sessions.filter(
                Q(idp_session_id=session_id) | Q(idp_session_id=""), idp_subject=subject
            )
        elif session_id:
            sessions = sessions.filter(idp_session_id=session_id)
        else:
            sessions = sessions.filter(idp_subject=subject)
        params = {"by": "back-channel logout", "sub": subject, "sid": session_id, "jti": jti}
        count = end_sessions(
            sessions=sessions,
            actor=Actor.system("idp"),
            reason="logged out at the IdP (back-channel logout)",
            params=params,
            request=request,
        )
        if count == 0:
            record(
                action="identity.sessions_ended",
                actor=Actor.system("idp"),
                target_type="idp_subject",
                target_id=(subject or session_id)[:255],
                reason="logged out at the IdP (back-channel logout): no portal session to end",
                params={**params, "sessions": 0},
                request=request,
            )
    return count


@not_audited("housekeeping: forgets sessions that already ended by expiring, recorded nothing")
def forget_ended_sessions() -> int:
    """Delete the ``PortalSession`` rows (and their tokens) of sessions that no longer exist."""
    if settings.SESSION_ENGINE != "django.contrib.sessions.backends.db":
        return 0
    from django.contrib.sessions.models import Session

    live = Session.objects.values("session_key")
    deleted, _ = PortalSession.objects.exclude(session_key__in=live).delete()
    return deleted


def record_logout_token_refused(*, request: HttpRequest, error: str) -> None:
    record(
        action="identity.backchannel_logout_refused",
        actor=Actor.system("idp"),
        outcome=Outcome.REJECTED,
        reason=error[:500],
        request=request,
    )


def recheck_roles(*, request: HttpRequest) -> RecheckOutcome:
    """Read the person's groups from the IdP again, as at sign-in (the middleware calls this).

    With the session's access token (userinfo) or its refresh token (the
    token endpoint, then userinfo). The IdP refusing either ends the session;
    an IdP that cannot answer leaves everything as it is and is asked again
    in a minute; a session with no token to ask with (or whose answers carry
    no groups claim) must sign in again, silently where the IdP allows.
    """
    from apps.identity import clients

    now = timezone.now()
    interval = timedelta(minutes=settings.PORTAL_ROLE_RECHECK_MINUTES)
    with transaction.atomic():
        row = (
            PortalSession.objects.select_for_update()
            .filter(session_key=request.session.session_key)
            .first()
        )
        if row is None or not (row.access_token or row.refresh_token):
            return RecheckOutcome.SIGN_IN_AGAIN
        if row.roles_checked_at and now - row.roles_checked_at < interval:
            # Another request of this session re-checked a moment ago.
            request.session[ROLES_CHECKED_KEY] = row.roles_checked_at.isoformat()
            return RecheckOutcome.KEPT
        try:
            claims = _claims_now(request, row)
        except clients.IdpRefused as refusal:
            request.sign_out_reason = (
                f"session ended: the IdP refused the role re-check ({refusal})"
            )
            return RecheckOutcome.ENDED
        except clients.IdpUnavailable as failure:
            logger.warning("role re-check: the IdP did not answer (%s); retrying soon", failure)
            request.session[ROLES_CHECKED_KEY] = (now - interval + RECHECK_RETRY).isoformat()
            return RecheckOutcome.KEPT
        if claims is None or not groups_claim_present(claims):
            return RecheckOutcome.SIGN_IN_AGAIN
        row.roles_checked_at = now
        row.save()
    sync_roles(
        user=request.user, groups=groups_from_claims(claims), request=request, source="re-check"
    )
    request.session[ROLES_CHECKED_KEY] = now.isoformat()
    request.session[GROUPS_CLAIM_MISSING_KEY] = False
    return RecheckOutcome.KEPT


def _claims_now(request: HttpRequest, row: PortalSession) -> list[dict[str, Any]] | None:
    """The IdP's current claims for this session's person; None when there is no way to ask."""
    from allauth.socialaccount.providers.oauth2.client import OAuth2Error
    from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter
    from requests import RequestException

    from apps.identity import clients
    from apps.identity.oidc import PROVIDER_ID, decode_idp_jwt

    try:
        config = OpenIDConnectOAuth2Adapter(request, PROVIDER_ID).openid_config
    except (RequestException, ValueError) as error:
        raise clients.IdpUnavailable(f"discovery: {error}") from error
    claims: list[dict[str, Any]] = []

    def refresh() -> None:
        tokens = clients.refresh_tokens(config["token_endpoint"], row.refresh_token)
        row.access_token = tokens.access_token
        row.access_token_expires_at = tokens.access_token_expires_at
        row.refresh_token = tokens.refresh_token
        row.save(update_fields=["access_token", "access_token_expires_at", "refresh_token"])
        if tokens.id_token:
            try:
                id_token = decode_idp_jwt(
                    config, tokens.id_token, audience=settings.OIDC_CLIENT_ID, require=("sub",)
                )
            except OAuth2Error as error:
                raise clients.IdpRefused(f"refreshed ID token: {error}") from error
            except RequestException as error:
                raise clients.IdpUnavailable(f"the IdP's keys: {error}") from error
            _same_person(row, id_token)
            claims.append(id_token)

    expired = row.access_token_expires_at is not None and (
        row.access_token_expires_at <= timezone.now() + timedelta(seconds=30)
    )
    refreshed = False
    if row.refresh_token and (expired or not row.access_token):
        refresh()
        refreshed = True
    userinfo_endpoint = config.get("userinfo_endpoint")
    if not userinfo_endpoint or not row.access_token:
        return claims or None
    try:
        userinfo = clients.fetch_userinfo(userinfo_endpoint, row.access_token)
    except clients.IdpRefused:
        if refreshed or not row.refresh_token:
            raise
        refresh()  # the access token may simply have expired early: the refresh token decides
        userinfo = clients.fetch_userinfo(userinfo_endpoint, row.access_token)
    _same_person(row, userinfo)
    claims.append(userinfo)
    if not refreshed and row.refresh_token and not groups_claim_present(claims):
        refresh()  # groups only in the ID token (Entra ID, some Okta set-ups): a new one has them
    return claims


def _same_person(row: PortalSession, claims: dict[str, Any]) -> None:
    from apps.identity import clients

    if row.idp_subject and str(claims.get("sub", "")) != row.idp_subject:
        raise clients.IdpRefused("the IdP answered for another subject")
