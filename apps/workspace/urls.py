from django.urls import path

from apps.workspace import views

app_name = "workspace"

urlpatterns = [
    path("save/", views.save_view, name="save"),
    path("<int:view_id>/", views.open_view, name="open"),
    path("<int:view_id>/delete/", views.delete_view, name="delete"),
    path("columns/", views.choose_columns, name="columns"),
]
