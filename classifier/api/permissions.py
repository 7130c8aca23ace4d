"""The API's permission: open, or authenticated users only, by settings.API_AUTH (see classifier/web/access.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework.permissions import BasePermission

from classifier.web.access import auth_required

if TYPE_CHECKING:  # DRF imports this module while rest_framework.views is half-loaded: no runtime import of it
    from rest_framework.request import Request
    from rest_framework.views import APIView


class ApiAccess(BasePermission):
    """Everybody when API_AUTH is off; authenticated users (token or session) when it is on."""

    message = "authentication required: send the header 'Authorization: Token <key>'"

    def has_permission(self, request: Request, view: APIView) -> bool:
        return not auth_required() or bool(request.user and request.user.is_authenticated)
