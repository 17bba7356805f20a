"""Backend drivers: where a volume's bytes live. Each driver creates, deletes
and reports the capacity of its pools."""
