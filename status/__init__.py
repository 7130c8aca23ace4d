"""The service at a glance: the status page, GET /api/status, and the statistics behind them. It reads both apps
(classifier's requests, autoscale's fleet samples); neither of them reads it."""
