"""Save a view, open a shared one, choose columns. POST-only writes answer with a redirect."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST, require_safe

from apps.identity.access import require_roles
from apps.identity.roles import Role
from apps.workspace import selectors, services
from apps.workspace.lists import LISTS


def _back(request: HttpRequest, list_name: str) -> HttpResponse:
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, {request.get_host()}):
        return redirect(target)
    return redirect(reverse(LISTS[list_name][0]))


def _list_name(request: HttpRequest) -> str | None:
    name = request.POST.get("list", "")
    return name if name in LISTS else None


# Preferences, not business data: every role keeps its own (auditors included).
@require_roles(*Role.values)
@require_POST
def save_view(request: HttpRequest) -> HttpResponse:
    list_name = _list_name(request)
    if list_name is None:
        return HttpResponse("Unknown list.", status=400)
    try:
        view = services.save_view(
            owner=request.user,
            list_name=list_name,
            name=request.POST.get("name", ""),
            querystring=request.POST.get("querystring", ""),
            request=request,
        )
    except services.WorkspaceError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            f"Saved “{view.name}”. Share it with this link: {request.build_absolute_uri(reverse('workspace:open', args=[view.pk]))}",
        )
    return _back(request, list_name)


@require_roles(*Role.values)
@require_POST
def delete_view(request: HttpRequest, view_id: int) -> HttpResponse:
    list_name = _list_name(request) or "payments"
    try:
        services.delete_view(owner=request.user, view_id=view_id, request=request)
    except services.WorkspaceError as error:
        messages.error(request, error.message)
    return _back(request, list_name)


@require_roles(*Role.values)
@require_safe
def open_view(request: HttpRequest, view_id: int) -> HttpResponse:
    view = selectors.shared_view(view_id)
    url = reverse(LISTS[view.list_name][0])
    return redirect(f"{url}?{view.querystring}" if view.querystring else url)


@require_roles(*Role.values)
@require_POST
def choose_columns(request: HttpRequest) -> HttpResponse:
    list_name = _list_name(request)
    if list_name is None:
        return HttpResponse("Unknown list.", status=400)
    try:
        services.choose_columns(
            owner=request.user,
            list_name=list_name,
            columns=request.POST.getlist("columns"),
            allowed=LISTS[list_name][1],
            request=request,
        )
    except services.WorkspaceError as error:
        messages.error(request, error.message)
    return _back(request, list_name)
