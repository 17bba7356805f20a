"""The volume service: the VolumeService gRPC API (validate, record, enqueue)
and, per storage host, the task handlers that drive the backends' drivers."""
