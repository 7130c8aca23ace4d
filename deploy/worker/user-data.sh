#!/bin/bash
# The user data of a worker instance, rendered by `manage.py provision` into the workers' launch template.
# The image (deploy/worker/) carries the code, its virtual environment and the classifier-worker unit; this only
# says which deployment the worker serves, then starts it. A worker that retires powers its instance off, and the
# launch template's shutdown behaviour (terminate) makes that the instance's end.
set -euo pipefail
install -d -m 0755 /etc/classifier
umask 077
cat > /etc/classifier/worker.env <<'WORKER_ENVIRONMENT'
@WORKER_ENVIRONMENT@
WORKER_ENVIRONMENT
systemctl enable --now classifier-worker.service
