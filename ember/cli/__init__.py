"""The `ember` command: run a local Ember (`ember up`), make tokens, and drive
volumes through the gateway like any gRPC client."""
