"""The reports page: ask for a report, watch it build, download it, keep schedules.

Managers and auditors only (agents work case by case and export the lists
they filter; a whole period's extract is for operations and review). Asking
for a report is a read, so auditors may; schedules are managers' work.
Progress updates in place: the run's ``status`` partial polls itself every
two seconds until the run is done or failed, then comes back without the
trigger.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from apps.home.paging import keyset_page
from apps.identity.access import require_roles
from apps.identity.roles import Role
from apps.reports import selectors, services
from apps.reports.errors import ReportError, ReportExpired, ReportNotReady
from apps.reports.forms import FIELD_OF_ERROR, ReportRequestForm, ScheduleForm
from apps.reports.models import FileFormat

REPORT_ROLES = selectors.REPORT_ROLES


def _page(
    request: HttpRequest,
    *,
    form: ReportRequestForm | None = None,
    schedule_form: ScheduleForm | None = None,
    status: int = 200,
) -> HttpResponse:
    manages = request.user.has_role(Role.MANAGER)
    runs = keyset_page(
        selectors.runs_visible_to(request.user),
        field="created_at",
        descending=True,
        pk="id",
        after=request.GET.get("after"),
        before=request.GET.get("before"),
        size=25,
    )
    context: dict[str, Any] = {
        "form": form or ReportRequestForm(user=request.user),
        "runs": runs,
        "schedules": selectors.schedules(),
        "manages_schedules": manages,
        "schedule_form": (schedule_form or ScheduleForm(user=request.user)) if manages else None,
        "retention_days": settings.REPORTS_RETENTION_DAYS,
    }
    return render(request, "reports/report_list.html", context, status=status)


@require_roles(*REPORT_ROLES)
@require_safe
def report_list(request: HttpRequest) -> HttpResponse:
    return _page(request)


# Auditors may ask too: a report reads data they may read; nothing else changes.
@require_roles(*REPORT_ROLES)
@require_POST
def request_report(request: HttpRequest) -> HttpResponse:
    form = ReportRequestForm(request.POST, user=request.user)
    if form.is_valid():
        try:
            run = services.request_report(
                kind=form.cleaned_data["kind"],
                parameters=form.cleaned_data["parameters"],
                with_xlsx=form.cleaned_data["xlsx"],
                requester=request.user,
                request=request,
            )
        except ReportError as error:
            form.add_error(FIELD_OF_ERROR.get(error.field or "", error.field), error.message)
        else:
            messages.success(
                request, f"{run.get_kind_display()} report queued: it appears below as it builds."
            )
            return redirect("reports:list")
    return _page(request, form=form, status=400)


@require_roles(*REPORT_ROLES)
@require_safe
def run_detail(request: HttpRequest, run_id: uuid.UUID) -> HttpResponse:
    run = selectors.run_visible_to(request.user, run_id)
    if request.htmx:
        return render(request, "reports/run_detail.html#status", {"run": run})
    return render(request, "reports/run_detail.html", {"run": run})


@require_roles(*REPORT_ROLES)
@require_safe
def download(request: HttpRequest, run_id: uuid.UUID, file_format: str) -> HttpResponse:
    run = selectors.run_visible_to(request.user, run_id)
    if file_format not in FileFormat.values:
        raise Http404("No such file format.")
    try:
        file = services.download_report(
            run=run, file_format=file_format, downloader=request.user, request=request
        )
    except (ReportNotReady, ReportExpired) as error:
        messages.error(request, error.message)
        status = 410 if isinstance(error, ReportExpired) else 409
        return render(request, "reports/run_detail.html", {"run": run}, status=status)
    return FileResponse(
        file.handle, as_attachment=True, filename=file.filename, content_type=file.content_type
    )


@require_roles(Role.MANAGER)
@require_POST
def schedule_create(request: HttpRequest) -> HttpResponse:
    form = ScheduleForm(request.POST, user=request.user)
    if form.is_valid():
        data = form.cleaned_data
        try:
            schedule = services.create_schedule(
                manager=request.user,
                name=data["name"],
                kind=data["kind"],
                frequency=data["frequency"],
                time_of_day=data["time_of_day"],
                timezone_name=form.timezone_name,
                currencies=data["currencies"],
                statuses=data["statuses"],
                with_xlsx=data["xlsx"],
                request=request,
            )
        except ReportError as error:
            form.add_service_error(error)
        else:
            messages.success(request, f"Schedule “{schedule.name}” created.")
            return redirect(reverse("reports:list") + "#schedules")
    return _page(request, schedule_form=form, status=400)


@require_roles(Role.MANAGER)
@require_POST
def schedule_pause(request: HttpRequest, schedule_id: int) -> HttpResponse:
    paused = request.POST.get("paused") == "true"
    try:
        schedule = services.pause_schedule(
            manager=request.user, schedule_id=schedule_id, paused=paused, request=request
        )
    except ReportError as error:
        messages.error(request, error.message)
    else:
        word = "paused" if paused else "resumed"
        messages.success(request, f"Schedule “{schedule.name}” {word}.")
    return redirect(reverse("reports:list") + "#schedules")


@require_roles(Role.MANAGER)
@require_POST
def schedule_delete(request: HttpRequest, schedule_id: int) -> HttpResponse:
    try:
        services.delete_schedule(manager=request.user, schedule_id=schedule_id, request=request)
    except ReportError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Schedule deleted. The reports it made stay until they expire.")
    return redirect(reverse("reports:list") + "#schedules")
