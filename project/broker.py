"""The SQS transport our workers consume with.

kombu's SQS transport declares itself asynchronous, so Celery drives it from its event loop with pycurl. Measured
here against the embedded endpoint, that loop stalled about 115 ms on half of its receives and one worker drained
7.4 images/s; consumed synchronously (boto3 long polls, Celery's plain loop) the same worker drained 14.8/s.
Publishing is unchanged: the web tier always sends with boto3.
"""

from __future__ import annotations

from kombu.transport import SQS


class SynchronousSQSTransport(SQS.Transport):
    implements = SQS.Transport.implements.extend(asynchronous=False)
