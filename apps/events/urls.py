from django.urls import path

from apps.events import views

app_name = "events"

urlpatterns = [
    path("", views.dead_letter_list, name="dead_letters"),
]
