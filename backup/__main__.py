"""python -m backup: one backup service instance (skeleton: no RPCs yet)."""

from backup.service import BackupService
from ember import runtime

if __name__ == "__main__":
    runtime.main("backup", "Ember backup service", BackupService)
