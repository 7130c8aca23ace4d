"""`manage.py migrate_once` as two web hosts booting together run it: on one PostgreSQL database, at the same time.
One migrates, the other waits for the lock and finds nothing to do; both succeed; the operator's token is there."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT


def test_two_hosts_booting_together_migrate_once_and_both_start(tmp_path, postgres_database) -> None:
    token = "f" * 40
    env = {**os.environ, "DATABASE_URL": postgres_database, "OPERATOR_API_TOKEN": token}
    hosts = [subprocess.Popen([sys.executable, "manage.py", "migrate_once"], cwd=ROOT,
                              env={**env, "VAR_DIR": str(tmp_path / f"host-{n}")}, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for n in (1, 2)]  # fmt: skip
    outputs = [host.communicate(timeout=300)[0] for host in hosts]
    assert [host.returncode for host in hosts] == [0, 0], outputs
    assert sum("Applying " in output for output in outputs) == 1, outputs  # one migrated
    assert all("holds the deployment's API token" in output for output in outputs)
    probe = ("from rest_framework.authtoken.models import Token; t = Token.objects.get(); "
             "print(t.user.username, t.key, t.user.has_usable_password())")  # fmt: skip
    shown = subprocess.run([sys.executable, "manage.py", "shell", "-v0", "-c", probe], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    assert shown.stdout.split() == ["operator", token, "False"]
