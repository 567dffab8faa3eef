"""What the API reads and answers: report runs and refund request statuses."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.approvals.models import RefundRequest, RequestStatus
from apps.payments.currencies import minor_units, to_major_units
from apps.payments.models import PaymentStatus
from apps.reports.errors import ReportError
from apps.reports.models import FileFormat, ReportKind, ReportRun, RunStatus
from apps.reports.parameters import ReportParameters
from apps.reports.selectors import SERVICE_KINDS


class NewReportRunSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=[(kind, ReportKind(kind).label) for kind in SERVICE_KINDS]
    )
    start = serializers.DateTimeField(help_text="Start of the period, included (ISO 8601).")
    end = serializers.DateTimeField(help_text="End of the period, excluded (ISO 8601).")
    timezone = serializers.CharField(
        default="UTC",
        max_length=64,
        help_text="IANA timezone the period is meant in; it names the files.",
    )
    statuses = serializers.ListField(
        child=serializers.ChoiceField(choices=PaymentStatus.choices),
        default=list,
        max_length=len(PaymentStatus.values),
        help_text="Payments report only: keep payments in these statuses.",
    )
    currencies = serializers.ListField(
        child=serializers.CharField(min_length=3, max_length=3),
        default=list,
        max_length=50,
        help_text="ISO 4217 codes to keep.",
    )
    xlsx = serializers.BooleanField(default=False, help_text="An XLSX file besides the CSV.")

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        try:
            data["parameters"] = ReportParameters.build(
                kind=data["kind"],
                start=data["start"],
                end=data["end"],
                timezone=data["timezone"],
                statuses=data["statuses"],
                currencies=data["currencies"],
            )
        except ReportError as error:
            raise serializers.ValidationError(
                {error.field or "non_field_errors": [error.message]}
            ) from None
        return data


class PeriodSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    timezone = serializers.CharField()
    statuses = serializers.ListField(child=serializers.CharField())
    currencies = serializers.ListField(child=serializers.CharField())


class ReportFileSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=FileFormat.choices)
    size = serializers.IntegerField(help_text="Bytes.")
    download_url = serializers.CharField()


class ReportRunSerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=RunStatus.choices)
    parameters = PeriodSerializer(source="period")
    files = serializers.SerializerMethodField(
        help_text="The files, once the run is done and until it expires."
    )
    expired = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()

    class Meta:
        model = ReportRun
        fields = (
            "id",
            "url",
            "kind",
            "status",
            "progress",
            "row_count",
            "rows_expected",
            "failure_reason",
            "parameters",
            "with_xlsx",
            "files",
            "created_at",
            "started_at",
            "finished_at",
            "expires_at",
            "expired",
        )

    @extend_schema_field(ReportFileSerializer(many=True))
    def get_files(self, run: ReportRun) -> list[dict[str, Any]]:
        if run.status != RunStatus.DONE or run.is_expired:
            return []
        return [
            {
                "format": file_format,
                "size": run.size_of(file_format),
                "download_url": reverse("api:report-run-file", args=[run.pk, file_format]),
            }
            for file_format in run.formats
        ]

    def get_expired(self, run: ReportRun) -> bool:
        return run.is_expired

    def get_url(self, run: ReportRun) -> str:
        return reverse("api:report-run", args=[run.pk])


class RefundRequestStatusSerializer(serializers.ModelSerializer):
    reference = serializers.CharField(help_text="The portal's id of the request.")
    status = serializers.ChoiceField(choices=RequestStatus.choices)
    amount = serializers.SerializerMethodField(help_text="Major units, as a decimal string.")

    class Meta:
        model = RefundRequest
        fields = (
            "reference",
            "status",
            "payment_id",
            "amount",
            "amount_cents",
            "currency",
            "category",
            "required_approvals",
            "requested_at",
            "decided_at",
            "submitted_at",
            "completed_at",
            "refund_id",
            "failure_code",
            "failure_message",
        )

    def get_amount(self, refund_request: RefundRequest) -> str | None:
        if minor_units(refund_request.currency) is None:
            return None
        return str(to_major_units(refund_request.amount_cents, refund_request.currency))
