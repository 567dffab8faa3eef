"""What a report contains, checked against the read models it is made from (service layer)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from apps.approvals import services as approvals
from apps.audit.models import AuditEntry
from apps.audit.services import Actor, record
from apps.payments.models import Payment, PaymentStatus
from apps.reports import services
from apps.reports.errors import ReportError, ReportNotAllowed
from apps.reports.models import ReportKind, RunStatus
from apps.reports.parameters import ReportParameters
from apps.reports.storage import reports_storage
from apps.reports.writers import XlsxReportFile
from tests.reports.conftest import csv_rows, xlsx_rows, xlsx_types
from tests.reports.factories import PaymentFactory, RefundFactory

pytestmark = pytest.mark.django_db

NOV_1 = datetime(2026, 11, 1, tzinfo=UTC)


def build(kind: str, requester, *, start: datetime, end: datetime, xlsx: bool = False, **filters):
    parameters = ReportParameters.build(kind=kind, start=start, end=end, **filters)
    run = services.request_report(
        kind=kind, parameters=parameters, with_xlsx=xlsx, requester=requester
    )
    return services.generate_report(run_id=run.pk)


def test_the_payments_report_is_exactly_the_payments_of_the_period_and_filters(manager):
    inside = [
        PaymentFactory(created_at=NOV_1 + timedelta(hours=h), currency=c, status=s)
        for h, c, s in [
            (0, "EUR", "settled"),
            (5, "JPY", "settled"),
            (9, "EUR", "failed"),
            (23, "KWD", "refunded"),
        ]
    ]
    PaymentFactory(created_at=NOV_1 - timedelta(microseconds=1))  # just before
    PaymentFactory(created_at=NOV_1 + timedelta(days=1))  # the end is excluded

    run = build(ReportKind.PAYMENTS, manager, start=NOV_1, end=NOV_1 + timedelta(days=1))

    assert (run.status, run.progress, run.row_count, run.rows_expected) == ("done", 100, 4, 4)
    rows = csv_rows(run)
    assert [r["payment_id"] for r in rows] == [str(p.payment_id) for p in inside]
    for row, payment in zip(
        rows,
        Payment.objects.filter(pk__in=[p.pk for p in inside]).order_by("created_at"),
        strict=True,
    ):
        assert row["status"] == payment.status
        assert row["currency"] == payment.currency
        assert int(row["amount_cents"]) == payment.amount_cents
        assert row["created_at"] == payment.created_at.isoformat()
    # Amounts in each currency's own major units, never divided by 100.
    yen, dinars = rows[1], rows[3]
    assert Decimal(yen["amount"]) == inside[1].amount_cents
    assert Decimal(dinars["amount"]) == Decimal(inside[3].amount_cents) / 1000
    assert run.csv_size == len(open_bytes(run))

    filtered = build(
        ReportKind.PAYMENTS,
        manager,
        start=NOV_1,
        end=NOV_1 + timedelta(days=1),
        statuses=["settled"],
        currencies=["eur"],
    )
    assert [r["payment_id"] for r in csv_rows(filtered)] == [str(inside[0].payment_id)]


def open_bytes(run) -> bytes:
    with reports_storage().open(run.csv_name, "rb") as handle:
        return handle.read()


def test_the_xlsx_holds_the_same_rows_typed_and_never_as_formulas(manager):
    payment = PaymentFactory(
        created_at=NOV_1 + timedelta(microseconds=123_456),
        description='=HYPERLINK("http://evil")\x07',
        amount_cents=1250,
    )
    run = build(ReportKind.PAYMENTS, manager, start=NOV_1, end=NOV_1 + timedelta(days=1), xlsx=True)

    header, row = xlsx_rows(run)
    assert header[2] == "created_at (UTC)"
    values = dict(zip(header, row, strict=True))
    assert values["payment_id"] == str(payment.payment_id)
    assert values["amount"] == 12.5  # a number, not text
    assert values["amount_cents"] == 1250
    # A date and time cell in UTC; spreadsheets keep milliseconds.
    shown = values["created_at (UTC)"]
    assert abs(shown - payment.created_at.replace(tzinfo=None)) < timedelta(milliseconds=1)
    # Text stays text: a string cell, never a formula; characters XML cannot hold are dropped.
    assert values["description"] == '=HYPERLINK("http://evil")'
    assert xlsx_types(run)[1][header.index("description")] == "s"
    # The CSV defuses it, as every CSV export of the portal does.
    assert csv_rows(run)[0]["description"].startswith("'=HYPERLINK")
    assert run.xlsx_size > 0


def test_rows_beyond_a_sheets_limit_continue_on_the_next_sheet(tmp_path):
    path = tmp_path / "long.xlsx"
    xlsx = XlsxReportFile(path, ("n", "label"), title="Payments", max_rows=3)  # header + 2 rows
    for n in range(5):
        xlsx.write([n, f"row {n}"])
    xlsx.close()
    workbook = load_workbook(path, read_only=True)
    sheets = {ws.title: list(ws.iter_rows(values_only=True)) for ws in workbook}
    assert sheets == {
        "Payments": [("n", "label"), (0, "row 0"), (1, "row 1")],
        "Payments 2": [("n", "label"), (2, "row 2"), (3, "row 3")],
        "Payments 3": [("n", "label"), (4, "row 4")],
    }


def test_an_empty_period_gives_files_with_only_the_header(manager):
    run = build(ReportKind.PAYMENTS, manager, start=NOV_1, end=NOV_1 + timedelta(days=1), xlsx=True)
    assert (run.status, run.row_count, run.progress) == ("done", 0, 100)
    assert csv_rows(run) == []
    assert xlsx_rows(run)[0][0] == "payment_id"


def test_the_refunds_report_names_requester_and_approvers_and_the_refund(
    settings, agent, manager, other_manager
):
    settings.REFUND_APPROVAL_THRESHOLDS = "EUR:10"  # above €10, two managers
    big, small, refused = (PaymentFactory(amount_cents=100_000) for _ in range(3))
    two = approvals.request_refund(
        requester=agent,
        payment_id=big.payment_id,
        amount_cents=5_000,
        category="other",
        reason="Late delivery",
    )
    for person in (manager, other_manager):
        approvals.approve_request(
            approval_request=two, approver=person, comment="ok", authenticated_at=timezone.now()
        )
    one = approvals.request_refund(
        requester=manager,
        payment_id=small.payment_id,
        amount_cents=900,
        category="goodwill",
        reason="Goodwill",
    )
    approvals.approve_request(
        approval_request=one, approver=other_manager, comment="ok", authenticated_at=timezone.now()
    )
    rejected = approvals.request_refund(
        requester=agent,
        payment_id=refused.payment_id,
        amount_cents=300,
        category="other",
        reason="Asked twice",
    )
    approvals.reject_request(approval_request=rejected, rejecter=manager, comment="duplicate")
    # The payments service's refunds: one echoes the reference, one was made at the service.
    made = RefundFactory(payment=big, amount_cents=5_000, reference=str(two.pk), status="succeeded")
    outside = RefundFactory(
        payment=small,
        amount_cents=100,
        reference="",
        status="failed",
        failure_reason="card expired",
        created_at=timezone.now(),
    )
    RefundFactory(payment=small, created_at=timezone.now() - timedelta(days=3))  # other period

    now = timezone.now()
    run = build(
        ReportKind.REFUNDS, manager, start=now - timedelta(hours=1), end=now + timedelta(hours=1)
    )

    rows = csv_rows(run)
    assert [r["request_reference"] for r in rows] == [
        str(two.pk),
        str(one.pk),
        str(rejected.pk),
        "",
    ]
    first, second, third, last = rows
    assert first["requested_by"] == agent.email
    assert first["approved_by"] == f"{manager.email}; {other_manager.email}"
    assert (first["refund_id"], first["refund_status"]) == (str(made.refund_id), "succeeded")
    assert (first["request_status"], first["amount"], first["amount_cents"]) == (
        "approved",
        "50.00",
        "5000",
    )
    assert second["requested_by"] == manager.email
    assert second["approved_by"] == other_manager.email
    assert (third["rejected_by"], third["request_status"]) == (manager.email, "rejected")
    assert third["refund_id"] == ""
    assert (last["source"], last["refund_id"], last["refund_failure_reason"]) == (
        "payments service",
        str(outside.refund_id),
        "card expired",
    )
    assert run.rows_expected == 4


def test_the_action_log_extract_is_every_entry_of_the_period_in_chain_order(auditor):
    record(action="sample.before", actor=Actor.system("test"))
    start = timezone.now()
    for n in range(3):
        record(action=f"sample.{n}", actor=Actor.system("test"), params={"n": n})
    end = timezone.now()
    record(action="sample.after", actor=Actor.system("test"))

    run = build(ReportKind.ACTION_LOG, auditor, start=start, end=end)

    expected = AuditEntry.objects.filter(created_at__gte=start, created_at__lt=end).order_by(
        "sequence"
    )
    rows = csv_rows(run)
    assert [r["action"] for r in rows] == [e.action for e in expected]
    assert [r["action"] for r in rows][-3:] == ["sample.0", "sample.1", "sample.2"]
    assert rows[-1]["params"] == '{"n": 2}'
    assert rows[-1]["hash"] == expected.last().hash


def test_who_may_ask_for_what_and_refusals_are_recorded(manager, auditor, agent):
    period = {"start": NOV_1, "end": NOV_1 + timedelta(days=1)}
    log = ReportParameters.build(kind=ReportKind.ACTION_LOG, **period)
    with pytest.raises(ReportNotAllowed):
        services.request_report(kind=ReportKind.ACTION_LOG, parameters=log, requester=manager)
    with pytest.raises(ReportNotAllowed):
        services.request_report(kind=ReportKind.ACTION_LOG, parameters=log, service="ledger")
    payments = ReportParameters.build(kind=ReportKind.PAYMENTS, **period)
    with pytest.raises(ReportNotAllowed):
        services.request_report(kind=ReportKind.PAYMENTS, parameters=payments, requester=agent)
    refused = AuditEntry.objects.filter(action="report.request", outcome="rejected")
    assert sorted(refused.values_list("actor_name", flat=True)) == sorted(
        [manager.email, "ledger", agent.email]
    )
    run = services.request_report(kind=ReportKind.ACTION_LOG, parameters=log, requester=auditor)
    assert run.status == RunStatus.QUEUED
    entry = AuditEntry.objects.get(action="report.request", target_id=str(run.pk))
    assert entry.actor_name == auditor.email
    assert entry.params["parameters"]["start"] == NOV_1.isoformat()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"end": NOV_1}, "must end after it starts"),
        ({"end": NOV_1 + timedelta(days=400)}, "at most 366 days"),
        ({"start": datetime(1999, 12, 31, tzinfo=UTC)}, "between 2000 and 2100"),
        ({"statuses": ["settled"], "kind": ReportKind.REFUNDS}, "payments report only"),
        ({"statuses": ["lost"]}, "Unknown payment status"),
        ({"currencies": ["EURO"]}, "Unknown currency"),
        ({"timezone": "Mars/Olympus"}, "Unknown timezone"),
        ({"start": datetime(2026, 11, 1)}, "UTC offset"),  # noqa: DTZ001 — naive on purpose
    ],
)
def test_parameters_that_make_no_report_are_refused_with_a_reason(changes, message):
    values = {"kind": ReportKind.PAYMENTS, "start": NOV_1, "end": NOV_1 + timedelta(days=1)}
    with pytest.raises(ReportError, match=message):
        ReportParameters.build(**(values | changes))


def test_days_are_whole_days_in_the_askers_timezone():
    parameters = ReportParameters.for_days(
        kind=ReportKind.PAYMENTS,
        first_day=datetime(2026, 10, 25).date(),  # noqa: DTZ001 — a date
        last_day=datetime(2026, 10, 25).date(),  # noqa: DTZ001
        timezone="Europe/Berlin",
    )
    # 25 October 2026 in Berlin is the DST change: 25 hours, from 22:00 UTC the day before.
    assert parameters.start == datetime(2026, 10, 24, 22, tzinfo=UTC)
    assert parameters.end - parameters.start == timedelta(hours=25)
    assert parameters.describe() == "2026-10-25 (Europe/Berlin)"


def test_a_run_that_cannot_be_written_fails_with_its_reason_and_is_recorded(
    settings, manager, tmp_path
):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the storage expects a folder")
    settings.STORAGES = {
        **settings.STORAGES,
        "reports": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(blocked)},
        },
    }
    PaymentFactory(created_at=NOV_1)
    run = build(ReportKind.PAYMENTS, manager, start=NOV_1, end=NOV_1 + timedelta(days=1))
    assert run.status == RunStatus.FAILED
    assert "Error" in run.failure_reason
    entry = AuditEntry.objects.get(action="report.generate", target_id=str(run.pk))
    assert (entry.outcome, entry.reason) == ("failed", run.failure_reason)


def test_a_finished_run_is_not_built_again(manager):
    run = build(ReportKind.PAYMENTS, manager, start=NOV_1, end=NOV_1 + timedelta(days=1))
    again = services.generate_report(run_id=run.pk)
    assert again.finished_at == run.finished_at
    assert AuditEntry.objects.filter(action="report.generate", target_id=str(run.pk)).count() == 1


def test_payments_in_every_status_fit_the_report(manager):
    for status in PaymentStatus.values:
        PaymentFactory(created_at=NOV_1, status=status)
    run = build(ReportKind.PAYMENTS, manager, start=NOV_1, end=NOV_1 + timedelta(days=1))
    assert sorted(r["status"] for r in csv_rows(run)) == sorted(PaymentStatus.values)
