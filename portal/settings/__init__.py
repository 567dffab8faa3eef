"""Settings package: ``base`` holds everything shared; each environment module imports it.

Select one with ``DJANGO_SETTINGS_MODULE`` (``portal.settings.development`` by
default, ``portal.settings.production``, ``portal.settings.test``).
"""
