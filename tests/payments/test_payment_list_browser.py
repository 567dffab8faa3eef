"""The payments table in headless Chromium: filter in place, URL state, reload and back, keyboard."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.approvals.conftest import make_payment
from tests.conftest import ARTIFACTS, sign_in_browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def row_ids(page) -> list[str]:
    return page.locator("[data-keyboard-table] tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.href)"
    )


def test_filtering_updates_the_table_and_the_url_and_survives_reload_and_back(
    page, page_watch, live_server, agent
):
    now = timezone.now()
    for i in range(6):
        make_payment(
            status="settled" if i % 2 else "failed",
            created_at=now - timedelta(minutes=i),
            currency="EUR",
        )
    sign_in_browser(page, live_server, agent)
    page.goto(live_server.url + "/payments/")
    expect(page.locator(".results__count")).to_contain_text("6 payments")
    all_rows = row_ids(page)

    page.get_by_role("search", name="Filter payments").get_by_label("Status").select_option(
        "failed"
    )
    expect(page).to_have_url(re.compile(r"status=failed"))
    expect(page.locator(".results__count")).to_contain_text("3 payments")
    failed_rows = row_ids(page)
    page.screenshot(path=str(ARTIFACTS / "payments-filtered.png"), full_page=True)

    page.reload()
    expect(page.get_by_role("search", name="Filter payments").get_by_label("Status")).to_have_value(
        "failed"
    )
    assert row_ids(page) == failed_rows

    page.go_back()
    expect(page.locator(".results__count")).to_contain_text("6 payments")
    assert row_ids(page) == all_rows
    assert page_watch(origin=live_server.url) == []


def test_keyboard_slash_focuses_search_and_j_k_enter_open_a_payment(page, live_server, agent):
    payments = [make_payment(created_at=timezone.now() - timedelta(minutes=i)) for i in range(3)]
    sign_in_browser(page, live_server, agent)
    page.goto(live_server.url + "/payments/")
    page.keyboard.press("/")
    expect(page.get_by_label("Search")).to_be_focused()
    page.locator("h1").click()
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/payments/{payments[1].payment_id}/$"))
    expect(page.get_by_role("heading", name=re.compile("Payment"))).to_be_visible()
