"""Results (web host): the results consumer records what workers report (`recording`), and synchronous callers wait
for it without a thread each (`waiting`)."""
