"""The embedded AWS endpoint's server: `python -m stack.endpoint -H HOST -p PORT` is `python -m moto.server -H HOST -p
PORT` with three of moto's per-request costs taken out (fastpaths/moto_server.py says which, and why). With FAST_PATHS
off, stack/embedded.py starts moto's own server instead.

Where moto's code no longer has what a change replaces (another version), the server starts without that change and
says which on stderr. The endpoint is the local stack's and the tests' stand-in for AWS, never a part of production.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    from moto import server

    from fastpaths.moto_server import apply

    # No logging set-up here: werkzeug prints each request's line only where the root logger has no handler, and
    # those lines are how the benchmark counts SQS calls.
    for name, applied in apply().items():
        if not applied:
            sys.stderr.write(f"stack.endpoint: this moto has no {name}; it runs as moto ships it\n")
    server.main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
