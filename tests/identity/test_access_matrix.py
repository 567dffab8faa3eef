"""Every URL of the project, for every kind of person: the declared policy is what the server does.

A view added without an access declaration fails here (and is refused at
run time by AccessPolicyMiddleware). Auditors are read-only: any view they
may open answers a POST with 405, except signing in and out. The service
API (``@service_token``) takes no session: every person gets its JSON 401.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from apps.identity.access import AccessPolicy, is_external_public, policy_of
from apps.identity.roles import Role
from tests.factories import UserFactory

# allauth's views the SSO flow needs; each is exposed on purpose (apps/identity/urls.py).
EXTERNAL_SIGN_IN_VIEWS = {
    "openid_connect_login",
    "openid_connect_callback",
    "socialaccount_login_cancelled",
    "socialaccount_login_error",
    "socialaccount_signup",
}
# POSTs an auditor may make: they change no business data — signing in and out (the IdP's
# back-channel logout included: it takes no session), and a person's own list preferences
# (saved views, columns), which are recorded like any write.
SIGN_IN_OUT = {
    "account_logout",
    "openid_connect_login",
    "openid_connect_callback",
    "oidc_backchannel_logout",
}
OWN_PREFERENCES = {"workspace:save", "workspace:delete", "workspace:columns"}
# Starting a verification of the action log reads it and appends the result; nothing else.
# Asking for a report reads data the auditor may read and writes only the report's file.
READ_ONLY_CHECKS = {"audit:verify", "reports:request"}

SAMPLES = {
    "uuid": str(uuid.uuid4()),
    "int": "1",
    "str": "sample",
    "slug": "sample",
    "path": "sample",
}


@dataclass(frozen=True)
class Endpoint:
    path: str
    name: str
    view: object

    def __str__(self) -> str:
        return f"{self.path} ({self.name or 'unnamed'})"


def _walk(patterns, prefix: str = "", namespace: str = ""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry.url_patterns, prefix + _sample(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            yield Endpoint(
                "/" + prefix + _sample(entry.pattern),
                f"{namespace}{entry.name or ''}",
                entry.callback,
            )


def _sample(pattern) -> str:
    route = getattr(pattern, "_route", None)
    if route is None:  # a regex pattern: only allauth's provider prefix uses one
        regex = pattern.regex.pattern
        return regex.replace("^", "").replace("$", "").replace("(?P<provider_id>[^/]+)", "sso")
    for name, converter in getattr(pattern, "converters", {}).items():
        kind = type(converter).__name__.replace("Converter", "").lower()
        kind = {"string": "str"}.get(kind, kind)
        route = route.replace(f"<{kind}:{name}>", SAMPLES.get(kind, "sample"))
        route = route.replace(f"<{name}>", SAMPLES["str"])
    return route


ENDPOINTS = list(_walk(get_resolver().url_patterns))
OURS = [e for e in ENDPOINTS if not is_external_public(e.view)]

PERSONAS = {
    "anonymous": None,
    "no role": [],
    "agent": [Role.AGENT],
    "manager": [Role.MANAGER],
    "auditor": [Role.AUDITOR],
}


def test_every_view_declares_who_may_open_it():
    undeclared = [str(e) for e in OURS if policy_of(e.view) is None]
    assert undeclared == [], f"views without an access declaration: {undeclared}"


def test_the_only_undecorated_views_are_the_sign_in_flow():
    external = {e.name for e in ENDPOINTS if is_external_public(e.view)}
    assert external == EXTERNAL_SIGN_IN_VIEWS


def _client(roles) -> Client:
    client = Client()
    if roles is not None:
        user = UserFactory(username=f"matrix-{uuid.uuid4().hex[:8]}", roles=list(roles))
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def _expected(policy: AccessPolicy, persona: str, roles) -> str:
    if policy.service_token:
        return "token-required"
    if policy.public:
        return "allowed"
    if roles is None:
        return "sign-in"
    if policy.allow_without_role:
        return "allowed"
    if not roles:
        return "no-access"
    return "allowed" if set(roles) & policy.roles else "denied"


def _observed(response) -> str:
    if (
        response.status_code == 401
        and response.get("Content-Type") == "application/json"
        and response.json().get("code") == "not_authenticated"
    ):
        return "token-required"
    location = response.get("Location", "")
    if response.status_code in (301, 302) and location.startswith("/accounts/login/"):
        return "sign-in"
    if response.status_code in (301, 302) and location.startswith("/no-access/"):
        return "no-access"
    if response.status_code == 403 and b"have access to this" in response.content:
        return "denied"
    return "allowed"


@pytest.mark.django_db
@pytest.mark.parametrize("persona", list(PERSONAS))
def test_the_access_matrix(persona):
    roles = PERSONAS[persona]
    client = _client(roles)
    mismatches = []
    for endpoint in OURS:
        policy = policy_of(endpoint.view)
        for method in ("get", "post"):
            response = getattr(client, method)(endpoint.path)
            expected = _expected(policy, persona, roles)
            observed = _observed(response)
            if endpoint.name == "home:no_access" and persona == "no role":
                observed = "allowed" if response.status_code == 403 else observed  # its own page
            if observed != expected:
                mismatches.append(
                    f"{method.upper()} {endpoint}: expected {expected}, got {observed} ({response.status_code})"
                )
            if (
                persona == "auditor"
                and method == "post"
                and expected == "allowed"
                and endpoint.name not in SIGN_IN_OUT | OWN_PREFERENCES | READ_ONLY_CHECKS
                and response.status_code != 405
            ):
                mismatches.append(
                    f"POST {endpoint}: auditors are read-only, got {response.status_code}"
                )
    assert mismatches == [], "\n".join(mismatches)
