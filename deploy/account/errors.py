"""What stops a provision or deprovision run, as the one line the operator reads."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from deploy.account.buckets import ForeignBucket
from deploy.account.launch_template import ImageNotFound
from deploy.account.network import NoVpc
from deploy.account.reconcile import Ledger

STOPS = (BotoCoreError, ClientError, ForeignBucket, ImageNotFound, NoVpc, TimeoutError)


def explain(exc: Exception, ledger: Ledger, command: str) -> str:
    if isinstance(exc, NoCredentialsError):
        reason = "no AWS credentials found (run `aws configure`, set AWS_PROFILE or AWS_ACCESS_KEY_ID, "
        reason += "or run on a host with an instance profile)"
    elif isinstance(exc, NoRegionError):
        reason = "no AWS region: pass --region or set AWS_REGION"
    elif isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        reason = f"{error.get('Code', 'error')}: {error.get('Message', exc)}"
    else:
        reason = str(exc)
    where = f" at {ledger.working_on}" if ledger.working_on else ""
    done = ledger.done()
    already = f"; already done: {', '.join(done)}" if done else "; nothing was changed"
    return f"{command} stopped{where}: {reason}{already}. Run it again to finish."
