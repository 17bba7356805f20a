"""The backup service: backups of volumes into a deduplicating, compressed,
verified chunk repository, restores, and the tasks that move the data."""
