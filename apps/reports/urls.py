from django.urls import path

from apps.reports import views

app_name = "reports"

urlpatterns = [
    path("", views.report_list, name="list"),
    path("request/", views.request_report, name="request"),
    path("<uuid:run_id>/", views.run_detail, name="run"),
    path("<uuid:run_id>/files/<slug:file_format>/", views.download, name="download"),
    path("schedules/", views.schedule_create, name="schedule_create"),
    path("schedules/<int:schedule_id>/pause/", views.schedule_pause, name="schedule_pause"),
    path("schedules/<int:schedule_id>/delete/", views.schedule_delete, name="schedule_delete"),
]
