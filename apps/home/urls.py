from django.urls import path

from apps.home import views

app_name = "home"

urlpatterns = [
    path("", views.index, name="index"),
    path("no-access/", views.no_access, name="no_access"),
    path("search/", views.find, name="search"),
]
