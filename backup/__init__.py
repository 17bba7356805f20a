"""The backup service: backups into a deduplicating, compressed, verified chunk
repository, restores and their tasks; volumes only through ember/ and exports."""
