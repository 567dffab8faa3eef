"""The portal's API for the Go services (``/api/v1/``): report runs and refund request statuses.

Every view is declared ``@service_token``: a bearer token from
``SERVICE_API_TOKENS``, never a session (so no CSRF either). Each request is
logged with the calling service's name; writes and downloads are also
recorded in the action log with ``Actor.service(name)`` by the services.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC
from typing import Any

from django.http import FileResponse, HttpResponseBase
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.api.authentication import ServiceCaller
from apps.api.errors import Conflict, Gone
from apps.api.schema import ErrorSerializer
from apps.api.selectors import refund_request_by_reference
from apps.api.serializers import (
    NewReportRunSerializer,
    RefundRequestStatusSerializer,
    ReportRunSerializer,
)
from apps.identity.access import service_token
from apps.reports import selectors, services
from apps.reports.errors import ReportError, ReportExpired, ReportNotReady
from apps.reports.models import FileFormat, ReportRun

logger = logging.getLogger("portal.api")


class ServiceView(APIView):
    """Logs every request with the calling service's name (reads are not in the action log).

    Query parameters a view does not know are refused (400), so a client's typo
    (``pagesize``) fails loudly instead of being ignored.
    """

    query_parameters: frozenset[str] = frozenset()

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Times go out in UTC whatever the portal's display default (the middleware that
        # chose that default deactivates this again at the end of the request).
        timezone.activate(UTC)
        super().initial(request, *args, **kwargs)
        unknown = sorted(set(request.query_params) - self.query_parameters)
        if unknown:
            raise ValidationError({name: ["Unknown query parameter."] for name in unknown})

    def finalize_response(
        self, request: Request, response: HttpResponseBase, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        response = super().finalize_response(request, response, *args, **kwargs)
        # The caller as authenticated, if that happened: reading ``request.user`` here would
        # authenticate now (e.g. after a 406, which DRF decides first) and could raise.
        caller = request.__dict__.get("_user")
        logger.info(
            "api %s %s → %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "service": caller.name if isinstance(caller, ServiceCaller) else "",
                "status": response.status_code,
            },
        )
        return response

    @property
    def service_name(self) -> str:
        return self.request.user.name


@service_token
class ReportRunList(ServiceView, generics.ListAPIView):
    """Report runs: a service asks for a report and lists the runs it asked for."""

    serializer_class = ReportRunSerializer
    query_parameters = frozenset({"cursor", "page_size"})

    def get_queryset(self):
        return selectors.runs_of_service(self.service_name)

    @extend_schema(
        operation_id="report_runs_list",
        summary="The report runs this service asked for, newest first",
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="report_runs_create",
        summary="Ask for a report; it is built in the background",
        request=NewReportRunSerializer,
        responses={202: ReportRunSerializer},
    )
    def post(self, request: Request) -> Response:
        incoming = NewReportRunSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        try:
            run = services.request_report(
                kind=data["kind"],
                parameters=data["parameters"],
                with_xlsx=data["xlsx"],
                service=self.service_name,
                request=request._request,
            )
        except ReportError as error:
            raise ValidationError({error.field or "non_field_errors": [error.message]}) from None
        return Response(
            ReportRunSerializer(run).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": reverse("api:report-run", args=[run.pk])},
        )


@service_token
class ReportRunDetail(ServiceView):
    """Poll a run until ``status`` is ``done`` (then ``files`` lists the downloads) or ``failed``."""

    @extend_schema(
        operation_id="report_runs_retrieve",
        summary="One report run: status, progress, files",
        responses={200: ReportRunSerializer},
    )
    def get(self, request: Request, run_id: uuid.UUID) -> Response:
        return Response(ReportRunSerializer(_run_of(self.service_name, run_id)).data)


def _run_of(service: str, run_id: uuid.UUID) -> ReportRun:
    run = selectors.run_of_service(service, run_id)
    if run is None:
        raise NotFound("No such report run, or not one this service asked for.")
    return run


@service_token
class ReportRunFile(ServiceView):
    """The file itself; the download is recorded in the portal's action log."""

    # Errors are JSON whatever the caller accepts: the file itself is not rendered by DRF.
    def perform_content_negotiation(self, request: Request, force: bool = False):
        return JSONRenderer(), JSONRenderer.media_type

    @extend_schema(
        operation_id="report_runs_file",
        summary="Download one of the run's files (recorded in the action log)",
        parameters=[
            OpenApiParameter(
                "file_format", OpenApiTypes.STR, OpenApiParameter.PATH, enum=FileFormat.values
            )
        ],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="The CSV file."),
            (
                200,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ): OpenApiResponse(OpenApiTypes.BINARY, description="The XLSX file."),
            409: OpenApiResponse(ErrorSerializer, description="Not built (yet), or failed."),
            410: OpenApiResponse(ErrorSerializer, description="Deleted after retention."),
        },
    )
    def get(self, request: Request, run_id: uuid.UUID, file_format: str) -> FileResponse:
        run = _run_of(self.service_name, run_id)
        if file_format not in FileFormat.values:
            raise NotFound("No such file format: use csv or xlsx.")
        try:
            download = services.download_report(
                run=run,
                file_format=file_format,
                service=self.service_name,
                request=request._request,
            )
        except ReportExpired as error:
            raise Gone(error.message, code=error.code) from None
        except ReportNotReady as error:
            raise Conflict(error.message, code=error.code) from None
        response = FileResponse(
            download.handle,
            as_attachment=True,
            filename=download.filename,
            content_type=download.content_type,
        )
        response["Content-Length"] = str(download.size)
        return response


@service_token
class RefundRequestStatus(ServiceView):
    """Read-only: where a refund request stands (``reference`` is the portal's request id)."""

    @extend_schema(
        operation_id="refund_requests_retrieve",
        summary="A refund request's status, by the reference the portal sent",
        responses={200: RefundRequestStatusSerializer},
    )
    def get(self, request: Request, reference: uuid.UUID) -> Response:
        found = refund_request_by_reference(reference)
        if found is None:
            raise NotFound("No refund request has this reference.")
        return Response(RefundRequestStatusSerializer(found).data)


@service_token
@extend_schema(exclude=True)
class UnknownEndpoint(ServiceView):
    """Anything else under /api/: 401 without a token, a JSON 404 with one."""

    def _missing(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        raise NotFound("No such endpoint: see /api/docs/.")

    get = post = put = patch = delete = _missing
