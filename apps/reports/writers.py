"""Report files written row by row to local temporary files: CSV always, XLSX besides.

Both writers hold one row at a time: the CSV goes straight to disk, and
openpyxl's write-only workbook streams each sheet to a temporary file until
``close()`` zips them. A sheet holds at most 1,048,576 rows (Excel's limit);
longer reports continue on a next sheet with the header repeated. Text a
spreadsheet would run as a formula is defused as in every CSV export of the
portal, and characters XLSX cannot hold are dropped from the XLSX only.
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from apps.home.csv_export import defuse

XLSX_MAX_ROWS = 1_048_576


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return defuse(value) if isinstance(value, str) else value


def _xlsx_value(value: Any) -> Any:
    if isinstance(value, datetime):
        # XLSX has no timezones: cells hold UTC (the header of the column says so).
        return value.astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str):
        return defuse(ILLEGAL_CHARACTERS_RE.sub("", value))
    if isinstance(value, (int, Decimal)) or value is None:
        return value
    return str(value)


class CsvReportFile:
    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        self.path = path
        self._file = path.open("w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file)
        self._writer.writerow(columns)

    def write(self, row: Sequence[Any]) -> None:
        self._writer.writerow([_csv_value(value) for value in row])

    def close(self) -> None:
        self._file.close()


class XlsxReportFile:
    def __init__(self, path: Path, columns: Sequence[str], *, title: str) -> None:
        self.path = path
        self._workbook = Workbook(write_only=True)
        self._title = title[:25]
        self._header = [f"{name} (UTC)" if name.endswith("_at") else name for name in columns]
        self._sheets = 0
        self._rows_on_sheet = XLSX_MAX_ROWS  # opens the first sheet on the first row

    def _next_sheet(self) -> None:
        self._sheets += 1
        title = self._title if self._sheets == 1 else f"{self._title} {self._sheets}"
        self._sheet = self._workbook.create_sheet(title=title)
        self._sheet.append(self._header)
        self._rows_on_sheet = 1

    def write(self, row: Sequence[Any]) -> None:
        if self._rows_on_sheet >= XLSX_MAX_ROWS:
            self._next_sheet()
        self._sheet.append([_xlsx_value(value) for value in row])
        self._rows_on_sheet += 1

    def close(self) -> None:
        if self._sheets == 0:
            self._next_sheet()  # an empty report is a sheet with its header
        self._workbook.save(self.path)
