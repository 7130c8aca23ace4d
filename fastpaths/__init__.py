"""Where this service bends a library for speed: the only code that reaches into a library's private names, overrides
its private methods or carries a copy of one of its functions. One module per library bent:

- kombu_sqs: kombu's SQS transport (synchronous receives, the visibility heartbeat, hand-backs at once, batched
  deletes);
- celery_messages: Celery task messages as kombu's SQS transport wraps them, for sends made without a producer;
- celery_pool: Celery's request execution (a receive's requests as one pool job);
- celery_worker: Celery's worker state (the stranded-task watchdog's view of it) and its program's output as JSON
  log lines (both stay on with FAST_PATHS off: a repair and a format, not speed-ups);
- django_asgi and django_middleware: Django's ASGI handler and middleware, without a thread for a request that needs
  none;
- whitenoise_middleware: WhiteNoise's middleware, asynchronous, so static files keep the chain off threads;
- botocore_sqs: SQS's busiest calls signed and sent directly;
- botocore_s3: S3's object PUT and GET signed and sent directly, a group's PUTs at once;
- django_storages: an S3 save or read in one request, a group's saves together;
- moto_server: three of moto's per-request costs, for the local endpoint.

Every private name these use is held by tests/fastpaths/test_guards.py against the pinned versions, so an upgrade
fails there, by name, before anything else. `FAST_PATHS=off` (project/settings.py) runs each library's stock path
instead: correct, only slower; a comma-separated list switches on only those named (FAST_PATH_NAMES). `make bench`
prints the stack with all of them on and with all off, so the fast paths show what they earn.
"""
