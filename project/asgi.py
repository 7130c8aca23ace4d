import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

django_application = get_asgi_application()

from django.conf import settings  # noqa: E402  (after Django is set up)

from project.body_limit import BodyLimit  # noqa: E402

# Room for the multipart envelope around the largest submission the API takes.
_ENVELOPE_BYTES = 64 * 1024

application = BodyLimit(
    django_application,
    lambda: max(settings.API_MAX_REQUEST_BYTES, settings.UPLOAD_MAX_BYTES) + _ENVELOPE_BYTES,
)
