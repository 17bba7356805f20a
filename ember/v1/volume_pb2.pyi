import datetime

from ember.v1 import attachment_pb2 as _attachment_pb2
from google.longrunning import operations_pb2 as _operations_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class VolumeStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VOLUME_STATUS_UNSPECIFIED: _ClassVar[VolumeStatus]
    VOLUME_STATUS_CREATING: _ClassVar[VolumeStatus]
    VOLUME_STATUS_AVAILABLE: _ClassVar[VolumeStatus]
    VOLUME_STATUS_DELETING: _ClassVar[VolumeStatus]
    VOLUME_STATUS_ERROR: _ClassVar[VolumeStatus]
    VOLUME_STATUS_ERROR_DELETING: _ClassVar[VolumeStatus]
    VOLUME_STATUS_RESERVED: _ClassVar[VolumeStatus]
    VOLUME_STATUS_ATTACHING: _ClassVar[VolumeStatus]
    VOLUME_STATUS_IN_USE: _ClassVar[VolumeStatus]
    VOLUME_STATUS_DETACHING: _ClassVar[VolumeStatus]
    VOLUME_STATUS_EXTENDING: _ClassVar[VolumeStatus]
    VOLUME_STATUS_ERROR_EXTENDING: _ClassVar[VolumeStatus]
    VOLUME_STATUS_BACKING_UP: _ClassVar[VolumeStatus]
    VOLUME_STATUS_RESTORING_BACKUP: _ClassVar[VolumeStatus]
    VOLUME_STATUS_ERROR_RESTORING: _ClassVar[VolumeStatus]
VOLUME_STATUS_UNSPECIFIED: VolumeStatus
VOLUME_STATUS_CREATING: VolumeStatus
VOLUME_STATUS_AVAILABLE: VolumeStatus
VOLUME_STATUS_DELETING: VolumeStatus
VOLUME_STATUS_ERROR: VolumeStatus
VOLUME_STATUS_ERROR_DELETING: VolumeStatus
VOLUME_STATUS_RESERVED: VolumeStatus
VOLUME_STATUS_ATTACHING: VolumeStatus
VOLUME_STATUS_IN_USE: VolumeStatus
VOLUME_STATUS_DETACHING: VolumeStatus
VOLUME_STATUS_EXTENDING: VolumeStatus
VOLUME_STATUS_ERROR_EXTENDING: VolumeStatus
VOLUME_STATUS_BACKING_UP: VolumeStatus
VOLUME_STATUS_RESTORING_BACKUP: VolumeStatus
VOLUME_STATUS_ERROR_RESTORING: VolumeStatus

class Volume(_message.Message):
    __slots__ = ("id", "name", "description", "size_gb", "status", "status_detail", "project_id", "user_id", "host", "metadata", "created_at", "updated_at", "volume_type", "availability_zone", "multiattach", "source_snapshot_id", "source_volume_id")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SIZE_GB_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_DETAIL_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    VOLUME_TYPE_FIELD_NUMBER: _ClassVar[int]
    AVAILABILITY_ZONE_FIELD_NUMBER: _ClassVar[int]
    MULTIATTACH_FIELD_NUMBER: _ClassVar[int]
    SOURCE_SNAPSHOT_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    description: str
    size_gb: int
    status: VolumeStatus
    status_detail: str
    project_id: str
    user_id: str
    host: str
    metadata: _containers.ScalarMap[str, str]
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    volume_type: str
    availability_zone: str
    multiattach: bool
    source_snapshot_id: str
    source_volume_id: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., size_gb: _Optional[int] = ..., status: _Optional[_Union[VolumeStatus, str]] = ..., status_detail: _Optional[str] = ..., project_id: _Optional[str] = ..., user_id: _Optional[str] = ..., host: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., volume_type: _Optional[str] = ..., availability_zone: _Optional[str] = ..., multiattach: _Optional[bool] = ..., source_snapshot_id: _Optional[str] = ..., source_volume_id: _Optional[str] = ...) -> None: ...

class CreateVolumeRequest(_message.Message):
    __slots__ = ("size_gb", "name", "description", "metadata", "request_id", "volume_type", "availability_zone", "source_snapshot_id", "source_volume_id")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SIZE_GB_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    VOLUME_TYPE_FIELD_NUMBER: _ClassVar[int]
    AVAILABILITY_ZONE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_SNAPSHOT_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    size_gb: int
    name: str
    description: str
    metadata: _containers.ScalarMap[str, str]
    request_id: str
    volume_type: str
    availability_zone: str
    source_snapshot_id: str
    source_volume_id: str
    def __init__(self, size_gb: _Optional[int] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., request_id: _Optional[str] = ..., volume_type: _Optional[str] = ..., availability_zone: _Optional[str] = ..., source_snapshot_id: _Optional[str] = ..., source_volume_id: _Optional[str] = ...) -> None: ...

class GetVolumeRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ListVolumesRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListVolumesResponse(_message.Message):
    __slots__ = ("volumes", "next_page_token")
    VOLUMES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    volumes: _containers.RepeatedCompositeFieldContainer[Volume]
    next_page_token: str
    def __init__(self, volumes: _Optional[_Iterable[_Union[Volume, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateVolumeRequest(_message.Message):
    __slots__ = ("volume", "update_mask")
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    volume: Volume
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, volume: _Optional[_Union[Volume, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class DeleteVolumeRequest(_message.Message):
    __slots__ = ("id", "request_id", "cascade")
    ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CASCADE_FIELD_NUMBER: _ClassVar[int]
    id: str
    request_id: str
    cascade: bool
    def __init__(self, id: _Optional[str] = ..., request_id: _Optional[str] = ..., cascade: _Optional[bool] = ...) -> None: ...

class ExtendVolumeRequest(_message.Message):
    __slots__ = ("id", "new_size_gb", "request_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    NEW_SIZE_GB_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    new_size_gb: int
    request_id: str
    def __init__(self, id: _Optional[str] = ..., new_size_gb: _Optional[int] = ..., request_id: _Optional[str] = ...) -> None: ...

class WatchVolumeRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class WatchVolumeResponse(_message.Message):
    __slots__ = ("volume", "deleted")
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    volume: Volume
    deleted: bool
    def __init__(self, volume: _Optional[_Union[Volume, _Mapping]] = ..., deleted: _Optional[bool] = ...) -> None: ...

class ResetVolumeStatusRequest(_message.Message):
    __slots__ = ("id", "status")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    id: str
    status: VolumeStatus
    def __init__(self, id: _Optional[str] = ..., status: _Optional[_Union[VolumeStatus, str]] = ...) -> None: ...

class ResetAttachmentStatusRequest(_message.Message):
    __slots__ = ("attachment_id", "status")
    ATTACHMENT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    attachment_id: str
    status: _attachment_pb2.AttachmentStatus
    def __init__(self, attachment_id: _Optional[str] = ..., status: _Optional[_Union[_attachment_pb2.AttachmentStatus, str]] = ...) -> None: ...

class ForceDeleteVolumeRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...
