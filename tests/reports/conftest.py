"""Report files go to a temporary folder per test; reading them back as rows."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from apps.reports.models import ReportRun
from apps.reports.storage import reports_storage


@pytest.fixture(autouse=True)
def report_files(settings, tmp_path):
    """``STORAGES["reports"]`` on the local disk under this test's temporary folder."""
    settings.STORAGES = {
        **settings.STORAGES,
        "reports": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "reports")},
        },
    }
    return tmp_path / "reports"


def csv_rows(run: ReportRun) -> list[dict[str, str]]:
    with reports_storage().open(run.csv_name, "rb") as handle:
        return list(csv.DictReader(io.StringIO(handle.read().decode("utf-8"))))


def xlsx_rows(run: ReportRun) -> list[list]:
    with reports_storage().open(run.xlsx_name, "rb") as handle:
        workbook = load_workbook(io.BytesIO(handle.read()), read_only=True)
        return [
            list(row) for sheet in workbook.worksheets for row in sheet.iter_rows(values_only=True)
        ]


def xlsx_types(run: ReportRun) -> list[list[str]]:
    """Each cell's type as the XLSX stores it: ``s`` text, ``n`` number, ``f`` formula."""
    with reports_storage().open(run.xlsx_name, "rb") as handle:
        workbook = load_workbook(io.BytesIO(handle.read()))
        return [[cell.data_type for cell in row] for row in workbook.worksheets[0].iter_rows()]
