"""Ember's shared package: configuration, database, JetStream bus, registry,
auth tokens, errors, the service runtime, the `ember` CLI and the generated stubs."""
