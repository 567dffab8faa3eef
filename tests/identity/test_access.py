"""The access decorators and the deny-by-default middleware."""

from __future__ import annotations

import pytest
from django.http import HttpResponse
from django.test import override_settings
from django.urls import path

from apps.identity.access import public, require_roles
from apps.identity.roles import Role
from portal.urls import urlpatterns as portal_urlpatterns


def undeclared(request):
    return HttpResponse("should never be served")


@require_roles(Role.MANAGER)
def managers_only(request):
    return HttpResponse("managers")


urlpatterns = [
    *portal_urlpatterns,
    path("test/undeclared/", undeclared),
    path("test/managers/", managers_only),
]

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.identity.test_access")]


def test_a_view_without_a_declared_policy_is_refused(manager_client):
    response = manager_client.get("/test/undeclared/")
    assert response.status_code == 403
    assert b"should never be served" not in response.content


def test_anonymous_people_are_sent_to_sign_in(client):
    response = client.get("/test/managers/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/test/managers/")


def test_anonymous_htmx_requests_get_a_full_page_redirect(client):
    response = client.get("/test/managers/", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response["HX-Redirect"].startswith("/accounts/login/")


def test_people_without_any_role_go_to_the_no_access_page(no_role_client):
    response = no_role_client.get("/test/managers/")
    assert response.status_code == 302
    assert response["Location"] == "/no-access/"
    page = no_role_client.get("/no-access/")
    assert page.status_code == 403
    assert b"ask your administrator" in page.content


def test_a_wrong_role_gets_a_friendly_403_page(agent_client):
    response = agent_client.get("/test/managers/")
    assert response.status_code == 403
    assert b"You don't have access to this" in response.content
    assert b"<html" in response.content


def test_a_wrong_role_on_an_htmx_request_gets_a_403_fragment(agent_client):
    response = agent_client.get("/test/managers/", headers={"HX-Request": "true"})
    assert response.status_code == 403
    assert b"You don't have access to this" in response.content
    assert b"<html" not in response.content


def test_the_right_role_gets_in(manager_client):
    response = manager_client.get("/test/managers/")
    assert response.status_code == 200


def test_require_roles_rejects_unknown_roles():
    with pytest.raises(ValueError, match="known roles"):
        require_roles("superuser")


def test_public_views_need_nothing(client):
    @public
    def probe(request):
        return HttpResponse("ok")

    assert probe.access_policy.public is True


@override_settings(PORTAL_ROLE_GROUPS="support=agent,payments-managers=manager")
def test_no_access_page_names_the_groups_to_ask_for(no_role_client):
    page = no_role_client.get("/no-access/").content.decode()
    assert "support" in page
    assert "payments-managers" in page


def test_the_navigation_lists_the_pages_of_the_role_and_marks_the_current_one(agent_client):
    page = agent_client.get("/payments/refunds/")
    labels = [(e["label"], e["current"]) for e in page.context["nav_entries"]]
    assert labels == [
        ("Home", False),
        ("Accounts", False),
        ("Payments", False),
        ("Refunds", True),
        ("My requests", False),
        ("Action log", False),
    ]


def test_managers_get_the_approval_queue_with_its_count_and_auditors_no_request_pages(
    manager_client, auditor_client
):
    manager_nav = manager_client.get("/").context["nav_entries"]
    approvals = next(e for e in manager_nav if e["label"] == "Approvals")
    assert approvals["badge"] == 0
    assert approvals["badge_id"] == "nav-badge-approvals-queue"
    auditor_labels = [e["label"] for e in auditor_client.get("/").context["nav_entries"]]
    assert "Approvals" not in auditor_labels
    assert "My requests" not in auditor_labels
