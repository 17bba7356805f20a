"""The `ember` command (`python -m cli`): run a local Ember, make tokens and
drive it through the gateway; the top of the stack, above ember/ and compute/."""
