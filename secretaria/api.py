"""API error shape: every error is JSON `{"detail": ...}`, also 404 and 500 on API paths."""

from __future__ import annotations

from django.http import JsonResponse
from django.views.defaults import page_not_found, server_error
from drf_spectacular import openapi as drf_spectacular_openapi
from rest_framework.views import exception_handler as drf_exception_handler

from secretaria.middleware import is_api_path


def exception_handler(exc, context):
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "detail" not in response.data:
        response.data = {"detail": "Dados inválidos.", "errors": response.data}
    elif response is not None and isinstance(response.data, list):
        response.data = {"detail": "Dados inválidos.", "errors": response.data}
    return response


def handler404(request, exception=None):
    if is_api_path(request.path):
        return JsonResponse({"detail": "Não encontrado."}, status=404)
    return page_not_found(request, exception)


def handler500(request):
    if is_api_path(request.path):
        return JsonResponse({"detail": "Erro interno; a equipe foi avisada."}, status=500)
    return server_error(request)


class AutoSchema(drf_spectacular_openapi.AutoSchema):
    """Names the nested Input/OutputSerializer classes of our views after their view
    (ClinicInfoOutput, AvailabilityOutput...), so components never collide."""

    def _get_serializer_name(self, serializer, direction, bypass_extensions=False):
        name = super()._get_serializer_name(serializer, direction, bypass_extensions)
        qualname = type(serializer).__qualname__ if not isinstance(serializer, type) else serializer.__qualname__
        if "." in qualname and name == qualname.rsplit(".", 1)[-1].removesuffix("Serializer"):
            parts = [part.removesuffix("Serializer").removesuffix("Api") for part in qualname.split(".")]
            return "".join(parts)
        return name
