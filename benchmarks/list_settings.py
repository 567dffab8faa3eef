"""Benchmark-only settings: the portal plus Django's stock admin, to compare list pages.

The admin is not part of the product; it exists here only as the yardstick.
"""

from portal.settings.test import *  # noqa: F403
from portal.settings.test import INSTALLED_APPS, MIDDLEWARE

INSTALLED_APPS = [*INSTALLED_APPS, "django.contrib.admin"]
# The stock admin declares no portal access policy; the portal's views keep their own checks.
MIDDLEWARE = [m for m in MIDDLEWARE if m != "apps.identity.access.AccessPolicyMiddleware"]
ROOT_URLCONF = "benchmarks.list_urls"
DEBUG = False
# As in production: the intake's freshness read at most every few seconds, counts cut at 20 ms.
PORTAL_FRESHNESS_CACHE_SECONDS = 5
PORTAL_LIST_COUNT_TIMEOUT_MS = 20
