"""The embedded AWS endpoint's server: `python -m stack.endpoint -H HOST -p PORT` serves what `python -m moto.server -H
HOST -p PORT` serves, moto's applications for every service, with two differences. Three of moto's per-request costs
are taken out (fastpaths/moto_server.py says which, and why). And it is served by uvicorn, which keeps connections
open between requests as AWS does, rather than by werkzeug's development server, which closes each one after its
answer (stack/threaded_wsgi.py). With FAST_PATHS off, stack/embedded.py starts moto's own server instead.

Where moto's code no longer has what a change replaces (another version), the server starts without that change and
says which on stderr. The endpoint is the local stack's and the tests' stand-in for AWS, never a part of production.
Each request's access line (`"POST / HTTP/1.1" 200`) goes to stdout, as moto's own server writes one: the
benchmark counts SQS calls by them.
"""

from __future__ import annotations

import argparse
import os
import sys

# Requests that may wait at once: every long-polling ReceiveMessage holds a thread for up to 20 s, one per worker
# (up to the autoscaler's maximum), the results consumer and the tests' own listeners.
THREADS = 128
# Longer than any caller leaves a connection idle between calls, so a kept connection is rarely closed under a call.
KEEP_ALIVE_SECONDS = 75
# A stop waits this long for calls under way (a long poll's end is not worth waiting for: moto keeps nothing).
STOP_SECONDS = 1


def arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m stack.endpoint", description="moto's server, kept alive")
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    import uvicorn
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from fastpaths.moto_server import apply
    from stack.threaded_wsgi import ThreadedWSGI

    args = arguments(argv if argv is not None else sys.argv[1:])
    for name, applied in apply().items():
        if not applied:
            sys.stderr.write(f"stack.endpoint: this moto has no {name}; it runs as moto ships it\n")
    os.environ.setdefault("MOTO_PORT", str(args.port))  # moto builds some URLs from it; moto.server sets it too
    application = ThreadedWSGI(DomainDispatcherApplication(create_backend_app), THREADS)
    config = uvicorn.Config(application, host=args.host, port=args.port, lifespan="on", log_level="info",
                            timeout_keep_alive=KEEP_ALIVE_SECONDS, timeout_graceful_shutdown=STOP_SECONDS)  # fmt: skip
    uvicorn.Server(config).run()  # uvloop where it is installed, as uvicorn picks it
    # A long poll still running on a pool thread would hold the interpreter's exit until it ends; moto's state is
    # in memory only, so there is nothing left to finish.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
