"""The backup repository: a directory (local, or an NFS mount many backup
hosts share) of content-addressed chunks packed into pack files, one
manifest per backup, and the locks that keep garbage collection away from
running backups."""

from backup.repository.repository import ChunkError, Repository

__all__ = ["ChunkError", "Repository"]
