"""URLs of a clinic's host: its painel, webhooks and API."""

from django.urls import path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from agenda.views import AppointmentActionApi, AppointmentsApi, AvailabilityApi, CalcomWebhookApi
from conversations.views import WhaticketWebhookApi, WhaticketWebhookTokenApi
from secretaria.admin_sites import painel_site
from tenants.views import ClinicInfoApi

handler404 = "secretaria.api.handler404"
handler500 = "secretaria.api.handler500"

urlpatterns = [
    path("painel/", painel_site.urls),
    path("api/clinic", ClinicInfoApi.as_view(), name="clinic-info"),
    path("api/agenda/availability", AvailabilityApi.as_view(), name="agenda-availability"),
    path("api/agenda/appointments", AppointmentsApi.as_view(), name="agenda-appointments"),
    path(
        "api/agenda/appointments/<int:pk>/<str:action>",
        AppointmentActionApi.as_view(),
        name="agenda-appointment-action",
    ),
    # No trailing-slash redirects on webhooks: a redirect loses a POST's body.
    path("webhook/calcom", CalcomWebhookApi.as_view(), name="calcom-webhook"),
    re_path(r"^webhook/whaticket/?$", WhaticketWebhookApi.as_view(), name="whaticket-webhook"),
    re_path(r"^webhook/whaticket/(?P<token>[A-Za-z0-9_-]{32,128})/?$", WhaticketWebhookTokenApi.as_view()),
    path("api/schema/", SpectacularAPIView.as_view(permission_classes=[]), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema", permission_classes=[]), name="api-docs"),
    path("", RedirectView.as_view(url="/painel/", permanent=False)),
]
