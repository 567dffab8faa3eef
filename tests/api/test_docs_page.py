"""The API's docs page (Swagger UI from drf-spectacular-sidecar) under the portal's strict CSP."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import ARTIFACTS, sign_in_browser


@pytest.mark.django_db
def test_the_docs_page_needs_no_inline_script_or_style(client, agent_client):
    assert client.get("/api/docs/").status_code == 302
    response = agent_client.get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "<style" not in page
    scripts = re.findall(r"<script([^>]*)>", page)
    assert scripts, page
    assert all("src=" in attributes for attributes in scripts)  # no inline script
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    script = agent_client.get("/api/docs/?script=")
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()
    assert "script-src 'self'" in response["Content-Security-Policy"]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_docs_page_renders_every_operation_in_chromium(page, page_watch, live_server, agent):
    sign_in_browser(page, live_server, agent)
    page.goto(live_server.url + "/api/docs/")
    operations = page.locator(".opblock-summary-path")
    expect(operations.first).to_be_visible(timeout=15_000)
    paths = sorted(set(operations.all_inner_texts()))
    assert paths == sorted(
        {
            "/api/v1/report-runs/",
            "/api/v1/report-runs/{run_id}/",
            "/api/v1/report-runs/{run_id}/files/{file_format}/",
            "/api/v1/refund-requests/{reference}/",
        }
    )
    page.screenshot(path=str(ARTIFACTS / "api-docs.png"), full_page=True)
    assert page_watch(origin=live_server.url) == []
