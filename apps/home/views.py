"""The landing page, the no-access page and the error pages of the shell."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_safe

from apps.home import registry, search
from apps.identity.access import public, require_roles, signed_in
from apps.identity.role_mapping import groups_granting, parse_role_groups
from apps.identity.roles import Role
from apps.identity.selectors import groups_claim_missing


@require_roles(*Role.values)
@require_safe
def index(request: HttpRequest) -> HttpResponse:
    """The start page: the cards the apps contribute for this person's roles."""
    return render(request, "home/index.html", {"cards": registry.cards_for(request)})


@require_roles(*Role.values)
@require_safe
def find(request: HttpRequest) -> HttpResponse:
    """The header's search: one match opens the record, several are listed, none says so."""
    text = request.GET.get("q", "")
    result = search.find_records(request.user, text)
    if result.single is not None:
        return redirect(result.single.url)
    status = 400 if result.problem else 200
    return render(request, "home/search.html", {"result": result}, status=status)


@signed_in
@require_safe
def no_access(request: HttpRequest) -> HttpResponse:
    """Shown to people whose IdP groups map to no portal role, and nothing else is."""
    if request.user.roles:
        return redirect("home:index")
    by_role = groups_granting(parse_role_groups(settings.PORTAL_ROLE_GROUPS))
    grants = [
        {"role": Role(role).label, "groups": by_role[role]}
        for role in Role.values
        if role in by_role
    ]
    context = {
        "grants": grants,
        "groups_claim_missing": groups_claim_missing(request),
        "groups_claim": settings.OIDC_GROUPS_CLAIM,
        "scopes": " ".join(settings.OIDC_SCOPES),
    }
    return render(request, "home/no_access.html", context, status=403)


@public
def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    template = "errors/403.html#denied" if getattr(request, "htmx", False) else "errors/403.html"
    return render(request, template, status=403)


@public
def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "errors/404.html", status=404)
