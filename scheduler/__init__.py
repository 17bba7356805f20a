"""The scheduler: places each new volume on a pool (capacity filter and
weigher over the pools' capacity reports) and serves SchedulerService."""
