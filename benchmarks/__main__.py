"""``python -m benchmarks`` lists the benchmarks."""

print(
    "Benchmarks (run each with .venv/bin/python -m <module>):\n"
    "  benchmarks.ingestion   event intake vs. one Celery task per event\n"
    "  benchmarks.lists       payments list at a million rows vs. the stock admin\n"
    "  benchmarks.audit       action log appends and verification\n"
    "  benchmarks.reports     a 1,000,000-row payments report: time and peak memory\n"
    "  benchmarks.start_page  each role's start page and the header search at a million payments"
)
