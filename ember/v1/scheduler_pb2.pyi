import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListPoolsRequest(_message.Message):
    __slots__ = ("hypothetical",)
    HYPOTHETICAL_FIELD_NUMBER: _ClassVar[int]
    hypothetical: PlacementRequest
    def __init__(self, hypothetical: _Optional[_Union[PlacementRequest, _Mapping]] = ...) -> None: ...

class PlacementRequest(_message.Message):
    __slots__ = ("size_gb", "volume_type", "availability_zone")
    SIZE_GB_FIELD_NUMBER: _ClassVar[int]
    VOLUME_TYPE_FIELD_NUMBER: _ClassVar[int]
    AVAILABILITY_ZONE_FIELD_NUMBER: _ClassVar[int]
    size_gb: int
    volume_type: str
    availability_zone: str
    def __init__(self, size_gb: _Optional[int] = ..., volume_type: _Optional[str] = ..., availability_zone: _Optional[str] = ...) -> None: ...

class ListPoolsResponse(_message.Message):
    __slots__ = ("pools", "chosen_pool", "no_valid_backend")
    POOLS_FIELD_NUMBER: _ClassVar[int]
    CHOSEN_POOL_FIELD_NUMBER: _ClassVar[int]
    NO_VALID_BACKEND_FIELD_NUMBER: _ClassVar[int]
    pools: _containers.RepeatedCompositeFieldContainer[Pool]
    chosen_pool: str
    no_valid_backend: str
    def __init__(self, pools: _Optional[_Iterable[_Union[Pool, _Mapping]]] = ..., chosen_pool: _Optional[str] = ..., no_valid_backend: _Optional[str] = ...) -> None: ...

class Pool(_message.Message):
    __slots__ = ("name", "host", "backend", "pool", "total_capacity_gb", "free_capacity_gb", "provisioned_capacity_gb", "reserved_percentage", "max_over_subscription_ratio", "thin_provisioning_support", "capabilities", "reported_at", "stale", "virtual_free_capacity_gb", "availability_zone", "recent_failure", "rejected_reason", "weight")
    class CapabilitiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    TOTAL_CAPACITY_GB_FIELD_NUMBER: _ClassVar[int]
    FREE_CAPACITY_GB_FIELD_NUMBER: _ClassVar[int]
    PROVISIONED_CAPACITY_GB_FIELD_NUMBER: _ClassVar[int]
    RESERVED_PERCENTAGE_FIELD_NUMBER: _ClassVar[int]
    MAX_OVER_SUBSCRIPTION_RATIO_FIELD_NUMBER: _ClassVar[int]
    THIN_PROVISIONING_SUPPORT_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    REPORTED_AT_FIELD_NUMBER: _ClassVar[int]
    STALE_FIELD_NUMBER: _ClassVar[int]
    VIRTUAL_FREE_CAPACITY_GB_FIELD_NUMBER: _ClassVar[int]
    AVAILABILITY_ZONE_FIELD_NUMBER: _ClassVar[int]
    RECENT_FAILURE_FIELD_NUMBER: _ClassVar[int]
    REJECTED_REASON_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    name: str
    host: str
    backend: str
    pool: str
    total_capacity_gb: float
    free_capacity_gb: float
    provisioned_capacity_gb: float
    reserved_percentage: int
    max_over_subscription_ratio: float
    thin_provisioning_support: bool
    capabilities: _containers.ScalarMap[str, str]
    reported_at: _timestamp_pb2.Timestamp
    stale: bool
    virtual_free_capacity_gb: float
    availability_zone: str
    recent_failure: str
    rejected_reason: str
    weight: float
    def __init__(self, name: _Optional[str] = ..., host: _Optional[str] = ..., backend: _Optional[str] = ..., pool: _Optional[str] = ..., total_capacity_gb: _Optional[float] = ..., free_capacity_gb: _Optional[float] = ..., provisioned_capacity_gb: _Optional[float] = ..., reserved_percentage: _Optional[int] = ..., max_over_subscription_ratio: _Optional[float] = ..., thin_provisioning_support: _Optional[bool] = ..., capabilities: _Optional[_Mapping[str, str]] = ..., reported_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., stale: _Optional[bool] = ..., virtual_free_capacity_gb: _Optional[float] = ..., availability_zone: _Optional[str] = ..., recent_failure: _Optional[str] = ..., rejected_reason: _Optional[str] = ..., weight: _Optional[float] = ...) -> None: ...

class ListAvailabilityZonesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListAvailabilityZonesResponse(_message.Message):
    __slots__ = ("availability_zones",)
    AVAILABILITY_ZONES_FIELD_NUMBER: _ClassVar[int]
    availability_zones: _containers.RepeatedCompositeFieldContainer[AvailabilityZone]
    def __init__(self, availability_zones: _Optional[_Iterable[_Union[AvailabilityZone, _Mapping]]] = ...) -> None: ...

class AvailabilityZone(_message.Message):
    __slots__ = ("name", "available", "hosts")
    NAME_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    HOSTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    available: bool
    hosts: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., available: _Optional[bool] = ..., hosts: _Optional[_Iterable[str]] = ...) -> None: ...
