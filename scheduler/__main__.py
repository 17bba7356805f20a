"""python -m scheduler: one scheduler instance; run as many as you like."""

from ember import runtime
from scheduler.service import SchedulerService

if __name__ == "__main__":
    runtime.main("scheduler", "Ember scheduler", SchedulerService)
