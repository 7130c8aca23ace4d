import gc
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
django.setup(set_prefix=False)  # as django.core.asgi.get_asgi_application does

from django.conf import settings  # noqa: E402  (after Django is set up)
from django.core.handlers.asgi import ASGIHandler  # noqa: E402
from django.urls import get_resolver  # noqa: E402

from classifier.intake.http import ENVELOPE_BYTES  # noqa: E402
from fastpaths.django_asgi import OnTheLoopASGIHandler  # noqa: E402
from project.body_limit import BodyLimit  # noqa: E402

# Django's own handler with FAST_PATHS off (what django.core.asgi.get_asgi_application returns).
django_application = OnTheLoopASGIHandler() if "django_asgi" in settings.FAST_PATHS else ASGIHandler()


def body_limit(path: str) -> int:
    """Only the API's submission takes many files; every other body is at most one image and its envelope."""
    if path.rstrip("/") == "/api/classifications":
        return settings.API_MAX_REQUEST_BYTES + ENVELOPE_BYTES
    return settings.UPLOAD_MAX_BYTES + ENVELOPE_BYTES


application = BodyLimit(django_application, body_limit)


# What is loaded by now lives as long as the process: Django, the URLconf and every view's imports, loaded here
# rather than at the first request. gc.freeze() leaves it out of the collector's passes, which otherwise walk it again
# each time enough objects have come and gone, a cost every upload paid (bench/README.md has the measurement).
get_resolver().url_patterns  # noqa: B018  (a cached property: the import is the point)
gc.freeze()
