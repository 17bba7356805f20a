"""Ember's shared package, which imports no other: settings, database, bus, tokens, errors, the
service plumbing (runtime, lifecycle, @task, internal client, retry, testing), what services share of volumes, the stubs."""
