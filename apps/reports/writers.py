"""Report files written row by row to local temporary files: CSV always, XLSX besides.

Both writers hold one row at a time: the CSV goes straight to disk, and
XlsxWriter in ``constant_memory`` mode flushes each row of the sheet to a
temporary file as soon as the next one starts (measured about twice as fast
as openpyxl's write-only mode here). A sheet holds at most 1,048,576 rows
(Excel's limit); longer reports continue on a next sheet with the header
repeated. In the CSV, text a spreadsheet would run as a formula is defused as
in every CSV export of the portal; XLSX cells are typed, so text stays text
(never a formula, a link or a number), minus the control characters XML
cannot hold.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import xlsxwriter

from apps.home.csv_export import defuse

XLSX_MAX_ROWS = 1_048_576
# Characters XML 1.0 cannot carry (tab, newline and carriage return can).
_NOT_IN_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return defuse(value) if isinstance(value, str) else value


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
    def __init__(
        self, path: Path, columns: Sequence[str], *, title: str, max_rows: int = XLSX_MAX_ROWS
    ) -> None:
        self.path = path
        self._max_rows = max_rows
        self._workbook = xlsxwriter.Workbook(
            str(path),
            {
                "constant_memory": True,
                "tmpdir": str(path.parent),
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
            },
        )
        self._time = self._workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss.000"})
        self._title = title[:25]
        self._header = [f"{name} (UTC)" if name.endswith("_at") else name for name in columns]
        self._sheets = 0
        self._row = max_rows  # opens the first sheet on the first row

    def _next_sheet(self) -> None:
        self._sheets += 1
        title = self._title if self._sheets == 1 else f"{self._title} {self._sheets}"
        self._sheet = self._workbook.add_worksheet(title)
        self._sheet.write_row(0, 0, self._header)
        self._row = 1

    def write(self, row: Sequence[Any]) -> None:
        if self._row >= self._max_rows:
            self._next_sheet()
        sheet, number = self._sheet, self._row
        for column, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, str):
                sheet.write_string(number, column, _NOT_IN_XML.sub("", value))
            elif isinstance(value, datetime):
                # XLSX has no timezones: cells hold UTC (the column's header says so).
                naive = value.astimezone(UTC).replace(tzinfo=None)
                sheet.write_datetime(number, column, naive, self._time)
            elif isinstance(value, (int, Decimal)) and not isinstance(value, bool):
                sheet.write_number(number, column, value)
            else:
                sheet.write_string(number, column, str(value))
        self._row += 1

    def close(self) -> None:
        if self._sheets == 0:
            self._next_sheet()  # an empty report is a sheet with its header
        self._workbook.close()
