"""What keeps the lists at the database's speed: queries per page, every filter path, bounded counts.

Speed itself is measured by ``python -m benchmarks.lists`` (docs/lists.md); these
tests pin what is deterministic: the statements each page and fragment sends (an
N+1 or an extra round-trip fails here), each filter path's rows against a plain
queryset through every page, the index each path's page query can use, and the
count's timeout.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts.models import Account
from apps.accounts.selectors import account_listing
from apps.home import freshness
from apps.home.paging import KeysetPage, page_count
from apps.home.templatetags.portal import _babel_money, money
from apps.payments.models import Payment
from apps.payments.selectors import payment_listing, payments_view
from tests.approvals.conftest import make_account, make_payment

pytestmark = pytest.mark.django_db

FRAGMENT = {"HX-Request": "true", "HX-Target": "results"}
STATUSES = ["settled", "authorized", "pending", "failed", "refunded", "partially_refunded"]
CURRENCIES = ["EUR", "USD", "JPY", "KWD"]


@pytest.fixture
def many_payments() -> list[Payment]:
    """120 payments over 3 accounts, every status and currency, references of three months."""
    now = timezone.now()
    accounts = [make_account(currency="EUR") for _ in range(3)]
    payments = []
    for i in range(120):
        payments.append(
            make_payment(
                account_id=accounts[i % 3].account_id,
                status=STATUSES[i % 6],
                currency=CURRENCIES[(i // 6) % 4],
                amount_cents=(i * 7919) % 50_000,
                merchant_reference=f"INV-2026{(i % 3) + 4:02d}-{i:05d}",
                created_at=now - timedelta(hours=i, minutes=(i * 17) % 60),
            )
        )
    return payments


def statements(client, url: str, headers: dict | None = None) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url, headers=headers or {}).status_code == 200
    return [q["sql"] for q in captured.captured_queries]


@pytest.fixture
def cached_freshness(settings):
    settings.PORTAL_FRESHNESS_CACHE_SECONDS = 5
    freshness.clear()
    yield
    freshness.clear()


# --- queries per page and fragment ------------------------------------------------------

# Pinned as views run (autocommit, hence transaction=True): session, user, the page's rows,
# the count (its statement_timeout in the same statement), and the person's column choice with
# their saved views (one statement). Freshness comes from the few-seconds cache.
FULL_PAGE = 5
FRAGMENT_ONLY = 5
AS_IN_PRODUCTION = pytest.mark.django_db(transaction=True)


@AS_IN_PRODUCTION
@pytest.mark.parametrize(
    ("url", "count_runs"),
    [
        ("/payments/", True),  # 120 rows: more than a page, so the count runs
        ("/payments/?status=settled&currency=EUR", False),  # one page: counted from its rows
        ("/payments/?q=INV-202605-", False),
        ("/payments/?currency=JPY&amount_min=10&sort=-amount_cents", False),
    ],
)
def test_queries_per_payments_page_and_fragment(
    agent_client, many_payments, cached_freshness, url, count_runs
):
    agent_client.get(url)  # the session's first request writes it
    full = statements(agent_client, url)
    fragment = statements(agent_client, url, FRAGMENT)
    assert len(full) == FULL_PAGE - (not count_runs), full
    assert len(fragment) == FRAGMENT_ONLY - (not count_runs), fragment
    assert not any("events_" in sql for sql in full + fragment), "freshness is cached"
    workspace = [sql for sql in full if "workspace_" in sql]
    assert len(workspace) == 1, workspace  # column choice and saved views together
    assert "workspace_column_choice" in workspace[0]
    assert "workspace_saved_view" in workspace[0]


@AS_IN_PRODUCTION
def test_the_fragment_runs_no_shell_query_even_uncached(agent_client, many_payments, settings):
    settings.PORTAL_FRESHNESS_CACHE_SECONDS = 0
    agent_client.get("/payments/")
    full = statements(agent_client, "/payments/")
    fragment = statements(agent_client, "/payments/", FRAGMENT)
    assert sum("events_intake" in sql for sql in full) == 2  # newest change, heartbeat
    assert not any("events_" in sql for sql in fragment)
    assert len(fragment) == len(full) - 2  # no freshness, no heartbeat


@AS_IN_PRODUCTION
def test_queries_do_not_grow_with_rows(agent_client, cached_freshness):
    account = make_account()
    for _ in range(60):
        make_payment(account_id=account.account_id)
    agent_client.get("/payments/")
    pages = {
        "/payments/": FULL_PAGE,
        "/accounts/": FULL_PAGE,
        "/payments/refunds/": FULL_PAGE,
    }
    for url, budget in pages.items():
        assert len(statements(agent_client, url)) <= budget, url
    detail = f"/accounts/{account.account_id}/"
    few = len(statements(agent_client, detail))
    for _ in range(20):
        make_payment(account_id=account.account_id)
    assert len(statements(agent_client, detail)) == few  # its payments table: no N+1
    payment = Payment.objects.filter(account_id=account.account_id).first()
    assert len(statements(agent_client, f"/payments/{payment.payment_id}/")) <= 10


def test_the_freshness_is_read_once_per_interval(agent_client, many_payments, cached_freshness):
    first = statements(agent_client, "/payments/")
    second = statements(agent_client, "/payments/")
    assert sum("events_intake" in sql for sql in first) == 2
    assert not any("events_intake" in sql for sql in second)
    freshness.clear()
    assert sum("events_intake" in sql for sql in statements(agent_client, "/payments/")) == 2


# --- every filter path against a plain queryset ------------------------------------------


def every_page(params: str, size: int = 7) -> list[str]:
    """Walk the list's pages forwards with its Next cursors; the ids in list order."""
    seen, cursor = [], None
    while True:
        query = QueryDict(params, mutable=True)
        if cursor:
            query["after"] = cursor
        listing = payment_listing(query, page_size=size)
        seen += [str(p.payment_id) for p in listing.page.rows]
        cursor = listing.page.next_cursor
        if cursor is None:
            return seen


def newest_first(queryset) -> list[str]:
    return [
        str(p) for p in queryset.order_by("-created_at", "-payment_id").values_list("pk", flat=True)
    ]


def test_every_payments_filter_path_matches_a_plain_queryset(many_payments):
    payments = Payment.objects.all()
    account = many_payments[0].account_id
    first = str(many_payments[5].payment_id)
    day = timezone.localdate(many_payments[40].created_at)
    paths = {
        "status=failed&currency=KWD": payments.filter(status="failed", currency="KWD"),
        "status=partially_refunded": payments.filter(status="partially_refunded"),
        "currency=JPY": payments.filter(currency="JPY"),
        f"account={account}": payments.filter(account_id=account),
        f"q={account}": payments.filter(account_id=account),
        f"q={first[:6]}": payments.filter(
            pk__in=[p.pk for p in many_payments if str(p.pk).startswith(first[:6])]
        ),
        "currency=EUR&amount_min=100&amount_max=300": payments.filter(
            currency="EUR", amount_cents__gte=10_000, amount_cents__lte=30_000
        ),
        "currency=KWD&amount_min=10": payments.filter(currency="KWD", amount_cents__gte=10_000),
        "amount_min=20000": payments.filter(  # JPY in yen, the others in cents or fils
            currency="JPY", amount_cents__gte=20_000
        ),
        f"created_from={day}&created_to={day}&status=settled": payments.filter(
            status="settled",
            pk__in=[p.pk for p in many_payments if timezone.localdate(p.created_at) == day],
        ),
    }
    for params, expected in paths.items():
        ids = every_page(params)
        assert ids == newest_first(expected), params
        assert ids, params  # every path finds something in this data
        listing = payment_listing(QueryDict(params))
        assert (listing.count, listing.count_exact) == (len(ids), True), params


def test_sorting_by_amount_within_a_filter_walks_every_page(many_payments):
    expected = [
        str(pk)
        for pk in Payment.objects.filter(status="settled")
        .order_by("-amount_cents", "-payment_id")
        .values_list("pk", flat=True)
    ]
    assert every_page("status=settled&sort=-amount_cents", size=4) == expected


def test_a_merchant_reference_prefix_lists_in_reference_order(many_payments):
    matching = sorted(
        (p for p in many_payments if p.merchant_reference.startswith("INV-202605-")),
        key=lambda p: (p.merchant_reference.encode(), str(p.payment_id)),
    )
    assert every_page("q=INV-202605-") == [str(p.payment_id) for p in matching]
    assert every_page("q=INV-202605-&sort=-merchant_reference") == [
        str(p.payment_id) for p in reversed(matching)
    ]
    # a sort the search cannot use falls back to the reference order rather than a slow plan
    assert every_page("q=INV-202605-&sort=-created_at") == [str(p.payment_id) for p in matching]
    assert payments_view(QueryDict("q=INV-202605-")).sort == "merchant_reference"


def test_paging_back_returns_the_same_pages(many_payments):
    first = payment_listing(QueryDict(""), page_size=10)
    second = payment_listing(QueryDict(f"after={first.page.next_cursor}"), page_size=10)
    back = payment_listing(QueryDict(f"before={second.page.previous_cursor}"), page_size=10)
    assert [p.payment_id for p in back.page.rows] == [p.payment_id for p in first.page.rows]
    assert back.page.is_first


def test_every_accounts_filter_path_matches_a_plain_queryset():
    now = timezone.now()
    for i in range(30):
        make_account(
            owner_name=f"Owner {i}",
            owner_email=f"owner{i}@example.com",
            status=["active", "frozen", "closed"][i % 3],
            currency=CURRENCIES[i % 4],
            created_at=now - timedelta(hours=i),
        )
    accounts = Account.objects.all()
    target = str(accounts.first().account_id)
    paths = {
        "status=frozen&currency=JPY": accounts.filter(status="frozen", currency="JPY"),
        "currency=KWD": accounts.filter(currency="KWD"),
        "q=owner1": accounts.filter(owner_email__startswith="owner1"),
        "q=OWNER 2": accounts.filter(owner_name__istartswith="owner 2"),
        f"q={target[:6]}": accounts.filter(
            account_id__in=[a.pk for a in accounts if str(a.pk).startswith(target[:6])]
        ),
    }
    for params, expected in paths.items():
        listing = account_listing(QueryDict(params))
        assert [a.account_id for a in listing.page.rows] == list(
            expected.order_by("-created_at", "-account_id").values_list("pk", flat=True)
        ), params
        assert listing.count == expected.count(), params


# --- indexes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "index"),
    [
        ("status=partially_refunded&currency=KWD", "payment_status_currency"),
        ("currency=KWD&amount_min=10&sort=-amount_cents", "payment_currency_amount"),
        ("q=INV-202605-", "payment_reference"),
        (f"account={uuid.UUID(int=7)}", "payment_account_keyset"),
        ("status=failed", "payment_status_created"),
        ("", "payment_created"),
    ],
)
def test_each_filter_path_has_an_index_for_its_page(many_payments, params, index):
    """The page query of each path can be answered from its index, in the list's order."""
    view = payments_view(QueryDict(params))
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
    plan = view.ordered("payment_id")[:51].explain()
    assert index in plan, plan
    assert "Sort" not in plan.replace("Sort Key", ""), plan


# --- counts ---------------------------------------------------------------------------


def _slow(queryset):
    """Every row costs a second to read: any count of it outlives the timeout."""
    return queryset.extra(where=["pg_sleep(1) IS NOT NULL"])


def _full_first_page(rows) -> KeysetPage:
    return KeysetPage(rows=rows, next_cursor="next", previous_cursor=None, is_first=True)


def test_a_count_cut_short_by_its_timeout_says_more_than_the_page(many_payments, settings):
    """Inside a transaction (as here) a savepoint bounds the timeout; the transaction goes on."""
    settings.PORTAL_LIST_COUNT_TIMEOUT_MS = (
        250  # generous: a loaded CI machine must not cut the fast counts
    )
    payments = Payment.objects.all()
    page = _full_first_page(many_payments[:50])
    assert page_count(payments, page) == (120, True)
    assert page_count(_slow(payments), page) == (50, False)  # "more than 50"
    assert Payment.objects.count() == 120  # the transaction is usable after the cancel
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "0"


def test_a_count_past_its_limit_or_its_timeout_is_remembered_an_exact_one_is_not(
    many_payments, settings
):
    """The next page of the same filters skips a count that said "more than": no count query."""
    settings.PORTAL_LIST_COUNT_TIMEOUT_MS = 250
    payments = Payment.objects.all()
    page = _full_first_page(many_payments[:50])

    def counted(queryset, limit):
        with CaptureQueriesContext(connection) as captured:
            result = page_count(queryset, page, limit=limit)
        return result, sum("COUNT(*)" in q["sql"] for q in captured.captured_queries)

    # exact (120 ≤ 200): counted every time, so a new payment shows at once
    assert counted(payments, 200) == ((120, True), 1)
    make_payment()
    assert counted(payments, 200) == ((121, True), 1)
    # beyond the limit: counted once, then "more than 100" from the memo
    assert counted(payments, 100) == ((100, False), 1)
    assert counted(payments, 100) == ((100, False), 0)
    # other filters are other counts
    assert counted(payments.filter(status="failed"), 100)[1] == 1
    # too slow: tried once, then "more than the page" without trying
    assert counted(_slow(payments), 100) == ((50, False), 1)
    assert counted(_slow(payments), 100) == ((50, False), 0)
    # a process told not to remember counts every time
    settings.PORTAL_LIST_COUNT_MEMO_SECONDS = 0
    assert counted(payments, 100) == ((100, False), 1)


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_timeout_rides_with_the_count(settings):
    """Autocommit, as views run: one statement, and the timeout does not outlive it."""
    settings.PORTAL_LIST_COUNT_TIMEOUT_MS = (
        250  # generous: a loaded CI machine must not cut the fast counts
    )
    rows = [make_payment() for _ in range(60)]
    page = _full_first_page(rows[:50])
    with CaptureQueriesContext(connection) as captured:
        assert page_count(Payment.objects.all(), page) == (60, True)
    assert len(captured) == 1
    assert captured.captured_queries[0]["sql"].startswith("SET LOCAL statement_timeout = '250ms';")
    assert page_count(_slow(Payment.objects.all()), page) == (50, False)
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "0"
    Payment.objects.all().delete()


def test_the_list_says_more_than_the_page_when_its_count_is_cut_short(
    agent_client, many_payments, settings, monkeypatch
):
    import apps.home.paging as paging

    settings.PORTAL_LIST_COUNT_TIMEOUT_MS = (
        250  # generous: a loaded CI machine must not cut the fast counts
    )
    monkeypatch.setattr(paging.QuerySet, "order_by", _slow_order_by(paging.QuerySet.order_by))
    response = agent_client.get("/payments/")
    assert response.status_code == 200
    assert b"More than 50 payments" in response.content
    assert len(response.context["listing"].page.rows) == 50


def _slow_order_by(order_by):
    """The count's queryset (``order_by()`` with no fields) made slow; the page's left alone."""

    def slowed(self, *fields):
        ordered = order_by(self, *fields)
        return _slow(ordered) if not fields else ordered

    return slowed


def test_a_single_page_is_counted_from_its_rows(agent_client, many_payments):
    with CaptureQueriesContext(connection) as captured:
        response = agent_client.get("/payments/?status=failed&currency=KWD")
    assert b"5 payments" in response.content
    assert not any("COUNT(" in q["sql"] for q in captured.captured_queries)


# --- amounts --------------------------------------------------------------------------


@pytest.mark.parametrize("locale", ["en_US", "de_DE", "fr_FR", "ar_KW", "hi_IN", "de_CH"])
def test_amounts_read_exactly_as_babel_writes_them(settings, locale):
    settings.PORTAL_LOCALE = locale
    for currency in ("EUR", "USD", "JPY", "KWD", "CHF", "CLF", "SEK", "INR"):
        for amount in (0, 1, -1, 7, 99, 100, -123_456, 1_000_000, 99_999_999_999, 123_456_789_012):
            assert money(amount, currency) == _babel_money(amount, currency, locale)


def test_templates_come_from_the_cached_loader():
    """Parsed once per process (Django uses the cached loader whenever ``loaders`` is unset)."""
    from django.template import engines

    assert "django.template.loaders.cached.Loader" in str(engines["django"].engine.loaders)
