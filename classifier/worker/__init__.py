"""The app tier: what a worker does with one request (`job`), which errors it retries, fails or hands back
(`failures`), and the notice it sends for a request that takes a while (`notices`). Workers have no database."""
