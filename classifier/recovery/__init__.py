"""Recovery: requests that went wrong are found and ended. The sweeper re-sends what was never answered and gives
up on it after a few sends (`sweeper`), dead letters fail their requests or go back to the queue (`dead_letters`),
and an operator re-runs failed requests once the cause is fixed (`rerun`)."""
