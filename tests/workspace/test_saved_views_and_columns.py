"""Saved views (shareable by link) and column choices remembered per person."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEntry
from apps.workspace.models import SavedView
from tests.approvals.conftest import make_payment

pytestmark = pytest.mark.django_db


def test_a_saved_view_keeps_filters_sort_and_columns_and_opens_for_a_colleague(
    agent_client, manager_client, agent
):
    response = agent_client.post(
        "/views/save/",
        {
            "list": "payments",
            "name": "Failed yen",
            "querystring": "status=failed&currency=JPY&after=abc&cols=payment_id,status",
            "next": "/payments/?status=failed",
        },
    )
    assert response.status_code == 302
    view = SavedView.objects.get(owner=agent)
    assert view.querystring == "status=failed&currency=JPY&cols=payment_id%2Cstatus"  # no cursor
    shared = manager_client.get(f"/views/{view.pk}/")
    assert shared["Location"] == "/payments/?status=failed&currency=JPY&cols=payment_id%2Cstatus"
    page = manager_client.get(shared["Location"])
    assert [c.name for c in page.context["table"].columns] == ["payment_id", "status"]
    assert AuditEntry.objects.filter(
        action="workspace.saved_view.create", actor_user_id=agent.pk
    ).exists()


def test_a_duplicate_name_is_refused_with_a_message(agent_client, agent):
    data = {"list": "payments", "name": "Mine", "querystring": ""}
    agent_client.post("/views/save/", data)
    response = agent_client.post("/views/save/", data, follow=True)
    assert "already have a view called" in response.content.decode()
    assert SavedView.objects.filter(owner=agent).count() == 1


def test_only_the_owner_deletes_a_view(agent_client, manager_client, agent):
    agent_client.post("/views/save/", {"list": "payments", "name": "Mine", "querystring": ""})
    view = SavedView.objects.get(owner=agent)
    manager_client.post(f"/views/{view.pk}/delete/", {"list": "payments"})
    assert SavedView.objects.filter(pk=view.pk).exists()
    agent_client.post(f"/views/{view.pk}/delete/", {"list": "payments"})
    assert not SavedView.objects.filter(pk=view.pk).exists()


def test_the_column_choice_is_remembered_per_person(agent_client, manager_client):
    make_payment()
    agent_client.post(
        "/views/columns/", {"list": "payments", "columns": ["status", "amount_cents", "bogus"]}
    )
    assert [c.name for c in agent_client.get("/payments/").context["table"].columns] == [
        "amount_cents",
        "status",
    ]
    assert len(manager_client.get("/payments/").context["table"].columns) == 7
    response = agent_client.post("/views/columns/", {"list": "payments"}, follow=True)
    assert "Keep at least one column" in response.content.decode()
