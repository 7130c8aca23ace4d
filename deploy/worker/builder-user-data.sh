#!/bin/bash
# The user data of the builder instance `manage.py bake` launches: fetch the release archive, run
# deploy/worker/bake.sh on it, report how that went, power off (the command then makes the image). The two URLs are
# presigned for this build alone and expire with it: the builder needs no role.
set -uo pipefail
root=/
work=$(mktemp -d)
log="$work.log"
{
  curl --fail --silent --show-error --retry 5 --retry-connrefused "@ARCHIVE_URL@" | tar -xz -C "$work" &&
    bash "$work/deploy/worker/bake.sh" --root "$root" --source "$work"
} > "$log" 2>&1
status=$?
{ echo "status=$status"; tail -c 6000 "$log"; } |
  curl --fail --silent --show-error --retry 5 --retry-connrefused -X PUT -H "Content-Type: text/plain" \
    --data-binary @- "@STATUS_URL@"
rm -rf "$work"
if [ "$root" = / ]; then systemctl poweroff; fi
