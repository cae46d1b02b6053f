"""URLs of hosts that are no clinic's (PUBLIC_HOST, the internal scrape address)."""

from django.urls import path
from django.views.generic import RedirectView

from secretaria.admin_sites import operator_site
from secretaria.metrics import metrics_view

handler404 = "secretaria.api.handler404"
handler500 = "secretaria.api.handler500"

urlpatterns = [
    path("admin/", operator_site.urls),
    path("metrics", metrics_view, name="metrics"),
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]
