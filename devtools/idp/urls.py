from django.http import HttpResponse
from django.urls import include, path


def index(request):
    user = request.user.get_username() if request.user.is_authenticated else "nobody"
    return HttpResponse(f"Development IdP. Signed in: {user}.", content_type="text/plain")


urlpatterns = [
    path("", index),
    path("", include("allauth.idp.urls")),
    path("accounts/", include("allauth.urls")),
]
