"""Pages for people and the CSE546 endpoint (`views`), who may see them (`access`), thumbnails, the CSV export, errors
in the caller's format (`errors`), and the middleware that answers 503 when a dependency is down (`outage`)."""
