#!/bin/bash
# The user data of a web host, rendered by `manage.py provision` into the web hosts' launch template. The image
# (`manage.py bake`, deploy/worker/bake.sh) carries the code, its virtual environment, the collected static files
# and every unit; this says only where the deployment's configuration is (no secret: the host reads those through
# its role, classifier-config.service), then starts the web host's units. Migrations run once per deployment,
# by whichever host takes the database's lock first (classifier-migrate.service).
set -euo pipefail
install -d -m 0755 /etc/classifier
cat > /etc/classifier/host.env <<'HOST_ENVIRONMENT'
@HOST_ENVIRONMENT@
HOST_ENVIRONMENT
systemctl enable --now classifier-config.service classifier-migrate.service classifier-web.service classifier-results.service classifier-sweeper.service classifier-autoscaler.service classifier-web-health.timer
