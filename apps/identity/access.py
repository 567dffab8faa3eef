"""The one authorization mechanism of the portal.

Every view declares who may open it, next to its definition::

    @require_roles(Role.AGENT, Role.MANAGER)
    def payment_list(request): ...

    @public
    def healthz(request): ...

    @service_token          # the Go services' API: a bearer token, never a session
    class ReportRunList(APIView): ...

The declaration is enforced here, on the server, for full pages, htmx
fragments and POSTs alike, and it is also attached to the view as
``access_policy`` so that :class:`AccessPolicyMiddleware` can refuse any
view that forgot to declare one (deny by default) and the access-matrix test
can enumerate every URL of the project.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from apps.identity.roles import ALL_ROLES, WRITER_ROLES

ViewFunc = Callable[..., HttpResponse]

# Views from these modules are not ours to decorate: the sign-in flow itself
# and static file serving in development.
_EXTERNAL_PUBLIC_PREFIXES = ("allauth.", "django.views.static", "django.contrib.staticfiles")


@dataclass(frozen=True)
class AccessPolicy:
    """Who may open a view. ``roles`` empty and ``public`` False means: signed in, any state."""

    public: bool = False
    roles: frozenset[str] = frozenset()
    allow_without_role: bool = False
    service_token: bool = False

    def describe(self) -> str:
        if self.public:
            return "public"
        if self.service_token:
            return "service token"
        if self.allow_without_role:
            return "signed in"
        return "roles: " + ", ".join(sorted(self.roles))


def _attach(view: ViewFunc, policy: AccessPolicy) -> ViewFunc:
    view.access_policy = policy  # type: ignore[attr-defined]
    return view


def public(view: ViewFunc) -> ViewFunc:
    """Anyone, signed in or not (health probes, the sign-in page)."""
    return _attach(view, AccessPolicy(public=True))


def service_token(view: ViewFunc) -> ViewFunc:
    """The service API (``apps.api``): a Go service's bearer token, checked by the view itself.

    No session and no CSRF: a browser's session counts for nothing there, so
    every person gets 401. Decorates a DRF view class or its ``as_view()``.
    """
    return _attach(view, AccessPolicy(service_token=True))


def signed_in(view: ViewFunc) -> ViewFunc:
    """Any signed-in person, with or without a role (the no-access page, sign-out)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return _to_sign_in(request)
        return view(request, *args, **kwargs)

    return _attach(wrapper, AccessPolicy(allow_without_role=True))


def require_roles(*roles: str) -> Callable[[ViewFunc], ViewFunc]:
    """The signed-in user must hold at least one of ``roles``."""
    required = frozenset(roles)
    unknown = required - ALL_ROLES
    if not required or unknown:
        raise ValueError(f"require_roles needs known roles, got {sorted(roles)}")

    def decorator(view: ViewFunc) -> ViewFunc:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            user = request.user
            if not user.is_authenticated:
                return _to_sign_in(request)
            if not user.roles:
                return _to_no_access(request)
            if not user.has_role(*required):
                return deny(request, required)
            return view(request, *args, **kwargs)

        return _attach(wrapper, AccessPolicy(roles=required))

    return decorator


def require_writer(view: ViewFunc) -> ViewFunc:
    """Write actions: agents and managers. Auditors are read-only everywhere."""
    return require_roles(*WRITER_ROLES)(view)


def deny(request: HttpRequest, required: Iterable[str] = ()) -> HttpResponse:
    """The friendly 403: a page, or a fragment for htmx; the attempt is recorded."""
    from apps.identity.services import record_access_denied

    required = sorted(required)
    record_access_denied(request=request, required_roles=required)
    context = {"required_roles": required}
    if getattr(request, "htmx", False):
        return render(request, "errors/403.html#denied", context, status=403)
    return render(request, "errors/403.html", context, status=403)


def _to_sign_in(request: HttpRequest) -> HttpResponse:
    if getattr(request, "htmx", False):
        # A fragment request cannot follow a redirect to the IdP: send the whole page there.
        response = HttpResponse(status=401)
        response["HX-Redirect"] = (
            f"{settings.LOGIN_URL}?next={request.htmx.current_url_abs_path or '/'}"
        )
        return response
    return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)


def _to_no_access(request: HttpRequest) -> HttpResponse:
    url = reverse("home:no_access")
    if getattr(request, "htmx", False):
        response = HttpResponse(status=403)
        response["HX-Redirect"] = url
        return response
    from django.shortcuts import redirect

    return redirect(url)


def policy_of(view: object) -> AccessPolicy | None:
    """The declared policy of a resolved view (function or class-based), if any."""
    policy = getattr(view, "access_policy", None)
    if policy is None:
        view_class = getattr(view, "view_class", None)
        policy = getattr(view_class, "access_policy", None)
    return policy


def is_external_public(view: object) -> bool:
    module = getattr(view, "__module__", "") or ""
    return module.startswith(_EXTERNAL_PUBLIC_PREFIXES)


class AccessPolicyMiddleware:
    """Deny by default: a view of ours that declares no access policy answers 403."""

    def __init__(self, get_response: ViewFunc) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        if policy_of(view_func) is not None or is_external_public(view_func):
            return None
        import logging

        logging.getLogger(__name__).error(
            "view %s.%s declares no access policy; refusing",
            view_func.__module__,
            getattr(view_func, "__name__", view_func),
        )
        return deny(request)
