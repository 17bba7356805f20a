"""Target drivers: how a storage host makes a volume reachable by a compute
host (Cinder's target drivers): "local" hands over the file's path, "nbd"
serves it over the network."""
