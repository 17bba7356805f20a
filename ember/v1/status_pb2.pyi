import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class HostState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HOST_STATE_UNSPECIFIED: _ClassVar[HostState]
    HOST_STATE_UP: _ClassVar[HostState]
    HOST_STATE_DOWN: _ClassVar[HostState]

class InstanceHealth(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INSTANCE_HEALTH_UNSPECIFIED: _ClassVar[InstanceHealth]
    INSTANCE_HEALTH_SERVING: _ClassVar[InstanceHealth]
    INSTANCE_HEALTH_NOT_SERVING: _ClassVar[InstanceHealth]
    INSTANCE_HEALTH_UNREACHABLE: _ClassVar[InstanceHealth]
HOST_STATE_UNSPECIFIED: HostState
HOST_STATE_UP: HostState
HOST_STATE_DOWN: HostState
INSTANCE_HEALTH_UNSPECIFIED: InstanceHealth
INSTANCE_HEALTH_SERVING: InstanceHealth
INSTANCE_HEALTH_NOT_SERVING: InstanceHealth
INSTANCE_HEALTH_UNREACHABLE: InstanceHealth

class GetStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Status(_message.Message):
    __slots__ = ("time", "instances", "nats", "database", "failed_exports", "hosts")
    TIME_FIELD_NUMBER: _ClassVar[int]
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    NATS_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    FAILED_EXPORTS_FIELD_NUMBER: _ClassVar[int]
    HOSTS_FIELD_NUMBER: _ClassVar[int]
    time: _timestamp_pb2.Timestamp
    instances: _containers.RepeatedCompositeFieldContainer[ServiceInstance]
    nats: NatsStatus
    database: DatabaseStatus
    failed_exports: _containers.RepeatedCompositeFieldContainer[FailedExport]
    hosts: _containers.RepeatedCompositeFieldContainer[Host]
    def __init__(self, time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., instances: _Optional[_Iterable[_Union[ServiceInstance, _Mapping]]] = ..., nats: _Optional[_Union[NatsStatus, _Mapping]] = ..., database: _Optional[_Union[DatabaseStatus, _Mapping]] = ..., failed_exports: _Optional[_Iterable[_Union[FailedExport, _Mapping]]] = ..., hosts: _Optional[_Iterable[_Union[Host, _Mapping]]] = ...) -> None: ...

class Host(_message.Message):
    __slots__ = ("name", "availability_zones", "pools", "services", "last_heard", "state")
    NAME_FIELD_NUMBER: _ClassVar[int]
    AVAILABILITY_ZONES_FIELD_NUMBER: _ClassVar[int]
    POOLS_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    LAST_HEARD_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    name: str
    availability_zones: _containers.RepeatedScalarFieldContainer[str]
    pools: _containers.RepeatedScalarFieldContainer[str]
    services: _containers.RepeatedCompositeFieldContainer[HostService]
    last_heard: _timestamp_pb2.Timestamp
    state: HostState
    def __init__(self, name: _Optional[str] = ..., availability_zones: _Optional[_Iterable[str]] = ..., pools: _Optional[_Iterable[str]] = ..., services: _Optional[_Iterable[_Union[HostService, _Mapping]]] = ..., last_heard: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., state: _Optional[_Union[HostState, str]] = ...) -> None: ...

class HostService(_message.Message):
    __slots__ = ("service", "instance_id", "address", "metrics_address", "nbd_address")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    METRICS_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    NBD_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    service: str
    instance_id: str
    address: str
    metrics_address: str
    nbd_address: str
    def __init__(self, service: _Optional[str] = ..., instance_id: _Optional[str] = ..., address: _Optional[str] = ..., metrics_address: _Optional[str] = ..., nbd_address: _Optional[str] = ...) -> None: ...

class FailedExport(_message.Message):
    __slots__ = ("attachment_id", "volume_id", "instance_id", "host", "reason", "since")
    ATTACHMENT_ID_FIELD_NUMBER: _ClassVar[int]
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    attachment_id: str
    volume_id: str
    instance_id: str
    host: str
    reason: str
    since: _timestamp_pb2.Timestamp
    def __init__(self, attachment_id: _Optional[str] = ..., volume_id: _Optional[str] = ..., instance_id: _Optional[str] = ..., host: _Optional[str] = ..., reason: _Optional[str] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ServiceInstance(_message.Message):
    __slots__ = ("service", "instance_id", "host", "address", "metrics_address", "health", "heartbeat_age", "detail")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    METRICS_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    HEALTH_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_AGE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    service: str
    instance_id: str
    host: str
    address: str
    metrics_address: str
    health: InstanceHealth
    heartbeat_age: _duration_pb2.Duration
    detail: str
    def __init__(self, service: _Optional[str] = ..., instance_id: _Optional[str] = ..., host: _Optional[str] = ..., address: _Optional[str] = ..., metrics_address: _Optional[str] = ..., health: _Optional[_Union[InstanceHealth, str]] = ..., heartbeat_age: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., detail: _Optional[str] = ...) -> None: ...

class NatsStatus(_message.Message):
    __slots__ = ("connected", "server_url", "server_version", "rtt", "streams", "error")
    CONNECTED_FIELD_NUMBER: _ClassVar[int]
    SERVER_URL_FIELD_NUMBER: _ClassVar[int]
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    RTT_FIELD_NUMBER: _ClassVar[int]
    STREAMS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    connected: bool
    server_url: str
    server_version: str
    rtt: _duration_pb2.Duration
    streams: _containers.RepeatedCompositeFieldContainer[StreamStatus]
    error: str
    def __init__(self, connected: _Optional[bool] = ..., server_url: _Optional[str] = ..., server_version: _Optional[str] = ..., rtt: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., streams: _Optional[_Iterable[_Union[StreamStatus, _Mapping]]] = ..., error: _Optional[str] = ...) -> None: ...

class StreamStatus(_message.Message):
    __slots__ = ("name", "messages", "bytes", "replicas", "consumers")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    CONSUMERS_FIELD_NUMBER: _ClassVar[int]
    name: str
    messages: int
    bytes: int
    replicas: int
    consumers: _containers.RepeatedCompositeFieldContainer[ConsumerStatus]
    def __init__(self, name: _Optional[str] = ..., messages: _Optional[int] = ..., bytes: _Optional[int] = ..., replicas: _Optional[int] = ..., consumers: _Optional[_Iterable[_Union[ConsumerStatus, _Mapping]]] = ...) -> None: ...

class ConsumerStatus(_message.Message):
    __slots__ = ("name", "pending", "in_flight", "redelivered")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    REDELIVERED_FIELD_NUMBER: _ClassVar[int]
    name: str
    pending: int
    in_flight: int
    redelivered: int
    def __init__(self, name: _Optional[str] = ..., pending: _Optional[int] = ..., in_flight: _Optional[int] = ..., redelivered: _Optional[int] = ...) -> None: ...

class DatabaseStatus(_message.Message):
    __slots__ = ("reachable", "backend", "url", "latency", "error")
    REACHABLE_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    LATENCY_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    reachable: bool
    backend: str
    url: str
    latency: _duration_pb2.Duration
    error: str
    def __init__(self, reachable: _Optional[bool] = ..., backend: _Optional[str] = ..., url: _Optional[str] = ..., latency: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., error: _Optional[str] = ...) -> None: ...
