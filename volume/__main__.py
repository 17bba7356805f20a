"""python -m volume: one volume service instance (API plus this host's backend)."""

from ember import runtime
from volume.service import VolumeService

if __name__ == "__main__":
    runtime.main("volume", "Ember volume service", VolumeService)
