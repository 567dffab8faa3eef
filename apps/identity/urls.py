"""Sign-in URLs. Only the parts of allauth the SSO flow needs are exposed."""

from allauth.socialaccount import views as social_views
from django.urls import include, path

from apps.identity import oidc, views

app_name = "identity"

urlpatterns = [
    path("signed-out/", views.signed_out, name="signed_out"),
    path("reauthenticate/", views.reauthenticate, name="reauthenticate"),
]

# Names allauth reverses itself, so they live outside the namespace; and the IdP's own call.
allauth_urlpatterns = [
    # OpenID Connect Back-Channel Logout 1.0: the IdP posts a logout token here (no session).
    path("oidc/backchannel-logout/", views.backchannel_logout, name="oidc_backchannel_logout"),
    path("accounts/login/", views.sign_in, name="account_login"),
    path("accounts/logout/", views.sign_out, name="account_logout"),
    # Login (with a nonce) and callback (ID token checked in full, nonce included) are the
    # portal's (apps/identity/oidc.py); they come first, so they answer allauth's own paths.
    path("accounts/oidc/<str:provider_id>/login/", oidc.login, name="openid_connect_login"),
    path(
        "accounts/oidc/<str:provider_id>/login/callback/",
        oidc.callback,
        name="openid_connect_callback",
    ),
    # allauth adds its own "oidc/" prefix: /accounts/oidc/sso/login/(callback/)
    path("accounts/", include("allauth.socialaccount.providers.openid_connect.urls")),
    path(
        "accounts/social/login/cancelled/",
        social_views.login_cancelled,
        name="socialaccount_login_cancelled",
    ),
    path(
        "accounts/social/login/error/", social_views.login_error, name="socialaccount_login_error"
    ),
    path("accounts/social/signup/", social_views.signup, name="socialaccount_signup"),
]
