"""Intake (web tier): an upload is validated, its image stored, its row inserted, and it is queued once committed.

`validation` says what is refused and why, `acceptance` keeps what is accepted (all or nothing), `idempotency`
replays a retried submission, and `http` is the request side every upload endpoint shares.
"""
