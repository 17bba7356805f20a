"""python -m backup: one backup service instance (run as many as you like
against one repository; they share the work)."""

from backup.service import BackupService
from ember import runtime

if __name__ == "__main__":
    runtime.main("backup", "Ember backup service", BackupService)
