"""API error shape: every error is JSON `{"detail": ...}`, also 404 and 500 on API paths."""

from __future__ import annotations

from django.http import JsonResponse
from django.views.defaults import page_not_found, server_error
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
