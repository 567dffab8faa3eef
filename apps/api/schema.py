"""The OpenAPI description (drf-spectacular): bearer tokens and the error body on every operation."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, for programs: e.g. not_found, invalid.")
    message = serializers.CharField(help_text="For people reading logs.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Validation errors only: field name → messages.",
    )


ERRORS = {
    "400": "The request is not valid (see fields).",
    "401": "No token, or a token that is not valid (unknown or revoked).",
    "403": "The token is valid but may not do this.",
    "404": "No such resource, or not one this service may see.",
    "405": "This method is not allowed here.",
    "406": "The Accept header asks for something other than JSON.",
    "415": "The body is not JSON.",
    "429": "Too many requests from this service; wait Retry-After seconds.",
}


class PortalAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        for code, description in ERRORS.items():
            if code == "415" and self.method not in {"POST", "PUT", "PATCH"}:
                continue
            if code not in responses:
                response = self._get_response_for_code(ErrorSerializer, code, direction=direction)
                response["description"] = description
                responses[code] = response
        return responses


class ServiceTokenScheme(OpenApiAuthenticationExtension):
    target_class = "apps.api.authentication.ServiceTokenAuthentication"
    name = "serviceToken"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, Any]:
        definition = build_bearer_security_scheme_object(
            header_name="Authorization",
            token_prefix="Bearer",  # noqa: S106 — the scheme's name, not a secret
        )
        definition["description"] = "A token from SERVICE_API_TOKENS (see docs/api.md)."
        return definition
