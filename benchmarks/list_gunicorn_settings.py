"""The production settings with the benchmark's URLs (the bare view beside the portal), for gunicorn."""

import os

from portal.settings.production import *  # noqa: F403
from portal.settings.production import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "django.contrib.admin"]
ROOT_URLCONF = "benchmarks.list_urls"
# WhiteNoise's manifest storage needs collected files: the benchmark collects them here once.
STATIC_ROOT = os.environ["BENCH_STATIC_ROOT"]
