"""The public gateway: authenticates callers, forwards each call to a healthy
instance of the owning service, and serves Operations, reflection and health."""
