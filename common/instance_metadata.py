"""One value of this EC2 instance's metadata, asked the IMDSv2 way (a session token first): launch templates
require tokens. Used outside Django, by programs that run before or after the service (leaving a group, reading the
host's configuration)."""

from __future__ import annotations

import http.client

METADATA_HOST = "169.254.169.254"


class NoMetadata(LookupError):
    pass


def read(path: str, timeout: float = 2.0) -> str:
    """`path` under /latest/meta-data/ (instance-id, local-ipv4, ...)."""
    connection = http.client.HTTPConnection(METADATA_HOST, timeout=timeout)
    try:
        connection.request("PUT", "/latest/api/token", headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"})
        token = connection.getresponse().read().decode()
        connection.request("GET", f"/latest/meta-data/{path}", headers={"X-aws-ec2-metadata-token": token})
        answer = connection.getresponse()
        if answer.status != 200:
            raise NoMetadata(f"the metadata service answered {answer.status} for {path}")
        return answer.read().decode().strip()
    finally:
        connection.close()
