"""The dead-letter page: managers and auditors read what the intake could not apply."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.events.models import DeadLetter, DeadLetterStatus
from apps.events.services import IncomingMessage, apply_event_batch

pytestmark = pytest.mark.django_db

URL = "/dead-letters/"


def malformed(body: bytes, routing_key: str = "payment.created") -> IncomingMessage:
    return IncomingMessage(body=body, routing_key=routing_key, content_type="application/json")


def test_managers_and_auditors_read_each_dead_letter_whole_and_escaped(
    manager_client, auditor_client
):
    apply_event_batch(
        [
            malformed(b'{"specversion": "1.0", "id": "<script>alert(1)</script>"'),
            malformed(b"\xff\xfe not UTF-8", routing_key="refund.updated"),
        ]
    )
    assert DeadLetter.objects.count() == 2
    for client in (manager_client, auditor_client):
        page = client.get(URL).content.decode()
        assert "2 waiting · 0 applied on replay" in page
        for letter in DeadLetter.objects.all():
            assert f'id="dead-letter-{letter.pk}"' in page
            assert str(letter.reason).split(" ")[0] in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "<script>alert(1)" not in page
        assert "refund.updated" in page
        assert "\ufffd\ufffd not UTF-8" in page  # bytes that are not UTF-8 shown replaced


def test_agents_are_refused_and_strangers_sent_to_sign_in(agent_client, client):
    assert agent_client.get(URL).status_code == 403
    response = client.get(URL)
    assert response.status_code == 302
    assert "/accounts/" in response["Location"]


def test_the_resolved_ones_have_their_own_view_and_an_unknown_status_is_explained(manager_client):
    apply_event_batch([malformed(b"not json 1"), malformed(b"not json 2")])
    fixed = DeadLetter.objects.order_by("pk").first()
    DeadLetter.objects.filter(pk=fixed.pk).update(
        status=DeadLetterStatus.RESOLVED, resolved_at=timezone.now()
    )
    waiting = manager_client.get(URL).content.decode()
    assert f'id="dead-letter-{fixed.pk}"' not in waiting
    resolved = manager_client.get(URL, {"status": "resolved"}).content.decode()
    assert f'id="dead-letter-{fixed.pk}"' in resolved
    assert "1 waiting · 1 applied on replay" in resolved
    wrong = manager_client.get(URL, {"status": "lost"})
    assert wrong.status_code == 400
    assert "There is no dead-letter status “lost”" in wrong.content.decode()


def test_pages_of_fifty_the_most_recent_first_in_a_few_queries(
    manager_client, django_assert_max_num_queries
):
    apply_event_batch([malformed(f"broken {n}".encode()) for n in range(55)])
    # The shell's own (session, user, the queue's badges, freshness, a session touch) and
    # the page's two: the rows and both counts; none per row.
    with django_assert_max_num_queries(10):
        first = manager_client.get(URL)
    page = first.content.decode()
    assert page.count('id="dead-letter-') == 50
    older = first.context["listing"].page.next_cursor
    assert older
    assert "Older</a>" in page
    rest = manager_client.get(URL, {"status": "pending", "after": older}).content.decode()
    assert rest.count('id="dead-letter-') == 5
    shown = {int(chunk.split('"')[0]) for chunk in (page + rest).split('id="dead-letter-')[1:]}
    assert shown == set(DeadLetter.objects.values_list("pk", flat=True))


def test_the_start_page_links_the_dead_letters_for_those_who_may_read_them(
    manager_client, agent_client
):
    apply_event_batch([malformed(b"not json")])
    assert 'href="/dead-letters/"' in manager_client.get("/").content.decode()
    agent_page = agent_client.get("/").content.decode()
    assert "dead letters waiting" in agent_page
    assert 'href="/dead-letters/"' not in agent_page


def test_a_long_body_is_shown_cut_and_only_its_start_is_read(manager_client):
    apply_event_batch([malformed(b"A" * (70 * 1024) + b"THE-END")])
    page = manager_client.get(URL).content.decode()
    assert "Cut at 64 KiB" in page
    assert "A" * (64 * 1024) in page
    assert "THE-END" not in page
    assert "70.0\xa0KB" in page  # the whole message's size
