"""Backend drivers: where a volume's bytes live. `base.Driver` says what a
driver is; REGISTRY names each driver for --backends' "driver" field."""

from volume.drivers.base import Driver
from volume.drivers.file import FileDriver

REGISTRY: dict[str, type[Driver]] = {
    FileDriver.name: FileDriver,
}
