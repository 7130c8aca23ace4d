"""A web host's configuration, read at boot through its role: `python -m deploy.host_config --out FILE`.

Run as root by classifier-config.service before the web host's other units, outside Django (the settings it writes
are what Django needs). The user data names only where the configuration is (/etc/classifier/host.env: the region,
the SSM parameter path, the secret's name); this reads every parameter under the path and the secret, and writes
the units' environment file on /run (memory, never the disk), readable by root alone: systemd reads it for the
units before it drops to their user. Values are never printed, only how many came from where.

The host adds its own private address to DJANGO_ALLOWED_HOSTS: the load balancer's health check names the target
by its IP. With `--database rds` the database's URL is built here from its parameters and the password in the
secret; an operator-given URL comes whole from the secret.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from common import instance_metadata
from deploy.account.configuration import parameters_under

logger = logging.getLogger("deploy.host_config")

SECRET_KEYS = ("DJANGO_SECRET_KEY", "METRICS_TOKEN", "DATABASE_URL", "OPERATOR_API_TOKEN")
DATABASE_PARTS = ("DATABASE_HOST", "DATABASE_PORT", "DATABASE_NAME", "DATABASE_USER")
_PLAIN = re.compile(r"^[A-Za-z0-9_./:@%+,=\-]*$")


class ConfigurationError(RuntimeError):
    pass


def private_address() -> str:
    """This instance's private IPv4; INSTANCE_LOCAL_IPV4 stands in for the metadata service where there is none."""
    return os.environ.get("INSTANCE_LOCAL_IPV4") or instance_metadata.read("local-ipv4")


def read_parameters(ssm: Any, path: str) -> dict[str, str]:
    found = parameters_under(ssm, path)
    if not found:
        raise ConfigurationError(f"no parameters under {path}: run `manage.py provision` for this deployment")
    return found


def compose(parameters: dict[str, str], secret: dict[str, str], address: str) -> dict[str, str]:
    """The units' environment: the parameters, the secrets, the database's URL, and this host's address."""
    environment = {key: value for key, value in parameters.items() if key not in DATABASE_PARTS}
    environment.update({key: secret[key] for key in SECRET_KEYS if key in secret})
    if "DATABASE_URL" not in environment:
        missing = [key for key in DATABASE_PARTS if key not in parameters]
        if missing or "DATABASE_PASSWORD" not in secret:
            raise ConfigurationError(f"no DATABASE_URL in the secret and no database to build one from ({missing})")
        environment["DATABASE_URL"] = (
            f"postgres://{quote(parameters['DATABASE_USER'], safe='')}:{quote(secret['DATABASE_PASSWORD'], safe='')}"
            f"@{parameters['DATABASE_HOST']}:{parameters['DATABASE_PORT']}/{parameters['DATABASE_NAME']}"
            "?sslmode=require"
        )
    hosts = [host for host in environment.get("DJANGO_ALLOWED_HOSTS", "").split(",") if host]
    environment["DJANGO_ALLOWED_HOSTS"] = ",".join([*hosts, address] if address not in hosts else hosts)
    return environment


def render(environment: dict[str, str]) -> str:
    """systemd's EnvironmentFile= syntax: a plain value as it is, anything else double-quoted with \\ and " escaped
    (systemd expands no variables there)."""
    lines = []
    for key, value in sorted(environment.items()):
        if not key.isidentifier() or "\n" in value:
            raise ConfigurationError(f"{key} cannot go into an environment file")
        shown = value if _PLAIN.match(value) else '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        lines.append(f"{key}={shown}")
    return "\n".join(lines) + "\n"


def write(path: Path, text: str) -> None:
    """Atomically, mode 0600 from the start (the secret is never readable by anyone else, even for a moment)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(path.name + ".new")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    temporary.replace(path)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")  # to the journal, through stderr
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    region, path, secret_name = (os.environ.get(name, "") for name in
                                 ("AWS_REGION", "CLASSIFIER_PARAMETERS", "CLASSIFIER_SECRET"))  # fmt: skip
    if not (region and path and secret_name):
        logger.error("AWS_REGION, CLASSIFIER_PARAMETERS and CLASSIFIER_SECRET must be set (/etc/classifier/host.env)")
        return 2
    try:
        parameters = read_parameters(boto3.client("ssm", region_name=region), path)
        secrets_manager = boto3.client("secretsmanager", region_name=region)
        secret = json.loads(secrets_manager.get_secret_value(SecretId=secret_name)["SecretString"])
        environment = compose(parameters, secret, private_address())
    except (BotoCoreError, ClientError, ConfigurationError, instance_metadata.NoMetadata, OSError, ValueError) as exc:
        logger.error("cannot read this host's configuration: %s", exc)
        return 1
    write(args.out, render(environment))
    logger.info("wrote %d variables to %s: %d parameters from %s, %d values from secret %s",
                len(environment), args.out, len(parameters), path, len(secret), secret_name)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
