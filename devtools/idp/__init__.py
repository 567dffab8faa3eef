"""The development identity provider: a real OpenID Connect provider (django-allauth's
``allauth.idp.oidc``) with demo users for each portal role. Development, demo and tests
only; a separate Django project the portal never imports.
"""
