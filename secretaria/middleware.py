"""Tenant resolution: which clinic a request belongs to, and its time zone.

The Host decides. Only on a host that is no clinic's (the shared API host, PUBLIC_HOST)
may the `X-Company-Domain` header name the clinic, and only for API and webhook paths, so
a clinic's own host can never be switched to another clinic by a header.
"""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.db import connection
from django.http import HttpResponseNotFound, JsonResponse
from django.urls import set_urlconf
from django.utils import timezone

from secretaria import metrics
from tenants.selectors import clinic_for_host

HEADER_PATHS = ("/api/", "/webhook/")
JSON_PATHS = ("/api/", "/webhook/")


def is_api_path(path: str) -> bool:
    return path.startswith(JSON_PATHS)


class TenantMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        connection.set_schema_to_public()
        try:
            host = request.get_host().rsplit(":", 1)[0].lower()
        except DisallowedHost:
            if is_api_path(request.path):
                return JsonResponse({"detail": "Host não permitido."}, status=400)
            return HttpResponseNotFound()

        clinic = clinic_for_host(host=host)
        via_header = False
        if clinic is None and request.path.startswith(HEADER_PATHS):
            named = request.headers.get("X-Company-Domain", "").strip().lower()
            if named:
                clinic = clinic_for_host(host=named)
                via_header = True
                if clinic is None:
                    return self.not_found(request, "Nenhuma clínica com o domínio informado em X-Company-Domain.")

        if clinic is None:
            if is_api_path(request.path):
                return self.not_found(request, "Nenhuma clínica atende neste endereço.")
            # Hosts that are no clinic's serve the operator's site (admin, metrics).
            request.urlconf = settings.PUBLIC_SCHEMA_URLCONF
            set_urlconf(request.urlconf)
            return self.get_response(request)

        if not clinic.is_active:
            if is_api_path(request.path):
                return self.not_found(request, "Esta clínica está desativada.")
            return HttpResponseNotFound("Clínica desativada.")

        clinic.domain_url = host
        request.tenant = clinic
        request.tenant_via_header = via_header
        connection.set_tenant(clinic)
        metrics.HTTP_REQUESTS_BY_TENANT.labels(tenant=clinic.schema_name).inc()
        timezone.activate(zoneinfo.ZoneInfo(clinic.time_zone))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()

    @staticmethod
    def not_found(request, detail: str) -> JsonResponse:
        return JsonResponse({"detail": detail}, status=404)
