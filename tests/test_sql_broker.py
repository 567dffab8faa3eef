"""The demo's SQL broker gets the index that keeps finding the next message cheap."""

from __future__ import annotations

import pytest
from django.db import connection

from devtools.sql_broker import prepare
from tests.events.conftest import test_database_url

pytestmark = pytest.mark.django_db(transaction=True)


def test_prepare_creates_kombus_tables_and_the_pending_index_once():
    url = "sqla+" + test_database_url().replace("postgresql://", "postgresql+psycopg://", 1)
    assert prepare(url) is True
    assert prepare(url) is True  # a second demo run
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'kombu_message_pending'")
        (definition,) = cursor.fetchone()
        cursor.execute("DROP TABLE kombu_message, kombu_queue")
    assert "WHERE (visible <> false)" in definition


def test_other_brokers_are_left_alone():
    assert prepare("amqp://guest:guest@127.0.0.1:5672//") is False
