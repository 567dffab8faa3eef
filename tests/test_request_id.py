"""Every response carries a request id, and every log line of the request too."""

from __future__ import annotations

import logging

import pytest
from django.http import HttpResponse

from portal.request_id import RequestIdLogFilter, RequestIdMiddleware, current_request_id


def test_a_new_id_is_created_when_none_arrives(client):
    response = client.get("/healthz")
    assert len(response["X-Request-ID"]) == 32


def test_a_callers_id_is_kept(client):
    response = client.get("/healthz", headers={"X-Request-ID": "gw-7f3a.11"})
    assert response["X-Request-ID"] == "gw-7f3a.11"


@pytest.mark.parametrize("bad", ["has space", "x" * 129, "semi;colon", "new\nline"])
def test_an_unsafe_id_is_replaced(client, bad):
    response = client.get("/healthz", headers={"X-Request-ID": bad})
    assert response["X-Request-ID"] != bad
    assert len(response["X-Request-ID"]) == 32


def test_log_lines_during_a_request_carry_its_id(rf):
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler = Collect()
    handler.addFilter(RequestIdLogFilter())
    log = logging.getLogger("tests.request_id")
    log.addHandler(handler)
    log.setLevel(logging.INFO)

    def view(request):
        log.info("inside the view")
        return HttpResponse(current_request_id())

    try:
        response = RequestIdMiddleware(view)(rf.get("/", headers={"X-Request-ID": "abc-123"}))
        log.info("after the request")
    finally:
        log.removeHandler(handler)
    assert response.content == b"abc-123"
    assert [r.request_id for r in records] == ["abc-123", "-"]
