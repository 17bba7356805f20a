import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AttachmentStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ATTACHMENT_STATUS_UNSPECIFIED: _ClassVar[AttachmentStatus]
    ATTACHMENT_STATUS_RESERVED: _ClassVar[AttachmentStatus]
    ATTACHMENT_STATUS_ATTACHING: _ClassVar[AttachmentStatus]
    ATTACHMENT_STATUS_ATTACHED: _ClassVar[AttachmentStatus]
    ATTACHMENT_STATUS_DETACHING: _ClassVar[AttachmentStatus]
    ATTACHMENT_STATUS_ERROR_ATTACHING: _ClassVar[AttachmentStatus]

class AttachMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ATTACH_MODE_UNSPECIFIED: _ClassVar[AttachMode]
    ATTACH_MODE_RW: _ClassVar[AttachMode]
    ATTACH_MODE_RO: _ClassVar[AttachMode]
ATTACHMENT_STATUS_UNSPECIFIED: AttachmentStatus
ATTACHMENT_STATUS_RESERVED: AttachmentStatus
ATTACHMENT_STATUS_ATTACHING: AttachmentStatus
ATTACHMENT_STATUS_ATTACHED: AttachmentStatus
ATTACHMENT_STATUS_DETACHING: AttachmentStatus
ATTACHMENT_STATUS_ERROR_ATTACHING: AttachmentStatus
ATTACH_MODE_UNSPECIFIED: AttachMode
ATTACH_MODE_RW: AttachMode
ATTACH_MODE_RO: AttachMode

class Connector(_message.Message):
    __slots__ = ("host", "ip", "initiator", "transports")
    HOST_FIELD_NUMBER: _ClassVar[int]
    IP_FIELD_NUMBER: _ClassVar[int]
    INITIATOR_FIELD_NUMBER: _ClassVar[int]
    TRANSPORTS_FIELD_NUMBER: _ClassVar[int]
    host: str
    ip: str
    initiator: str
    transports: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, host: _Optional[str] = ..., ip: _Optional[str] = ..., initiator: _Optional[str] = ..., transports: _Optional[_Iterable[str]] = ...) -> None: ...

class ConnectionInfo(_message.Message):
    __slots__ = ("driver_volume_type", "data", "access_mode", "attachment_id")
    class DataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    DRIVER_VOLUME_TYPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    ACCESS_MODE_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENT_ID_FIELD_NUMBER: _ClassVar[int]
    driver_volume_type: str
    data: _containers.ScalarMap[str, str]
    access_mode: str
    attachment_id: str
    def __init__(self, driver_volume_type: _Optional[str] = ..., data: _Optional[_Mapping[str, str]] = ..., access_mode: _Optional[str] = ..., attachment_id: _Optional[str] = ...) -> None: ...

class Attachment(_message.Message):
    __slots__ = ("id", "volume_id", "instance_id", "status", "mode", "connector", "connection_info", "status_detail", "project_id", "created_at", "updated_at", "attached_at", "export_failed_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    CONNECTOR_FIELD_NUMBER: _ClassVar[int]
    CONNECTION_INFO_FIELD_NUMBER: _ClassVar[int]
    STATUS_DETAIL_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    ATTACHED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPORT_FAILED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    volume_id: str
    instance_id: str
    status: AttachmentStatus
    mode: AttachMode
    connector: Connector
    connection_info: ConnectionInfo
    status_detail: str
    project_id: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    attached_at: _timestamp_pb2.Timestamp
    export_failed_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., volume_id: _Optional[str] = ..., instance_id: _Optional[str] = ..., status: _Optional[_Union[AttachmentStatus, str]] = ..., mode: _Optional[_Union[AttachMode, str]] = ..., connector: _Optional[_Union[Connector, _Mapping]] = ..., connection_info: _Optional[_Union[ConnectionInfo, _Mapping]] = ..., status_detail: _Optional[str] = ..., project_id: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., attached_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., export_failed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateAttachmentRequest(_message.Message):
    __slots__ = ("volume_id", "instance_id", "connector", "mode", "request_id")
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    CONNECTOR_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    volume_id: str
    instance_id: str
    connector: Connector
    mode: AttachMode
    request_id: str
    def __init__(self, volume_id: _Optional[str] = ..., instance_id: _Optional[str] = ..., connector: _Optional[_Union[Connector, _Mapping]] = ..., mode: _Optional[_Union[AttachMode, str]] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetAttachmentRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ListAttachmentsRequest(_message.Message):
    __slots__ = ("volume_id", "page_size", "page_token")
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    volume_id: str
    page_size: int
    page_token: str
    def __init__(self, volume_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAttachmentsResponse(_message.Message):
    __slots__ = ("attachments", "next_page_token")
    ATTACHMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    attachments: _containers.RepeatedCompositeFieldContainer[Attachment]
    next_page_token: str
    def __init__(self, attachments: _Optional[_Iterable[_Union[Attachment, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateAttachmentRequest(_message.Message):
    __slots__ = ("attachment_id", "connector")
    ATTACHMENT_ID_FIELD_NUMBER: _ClassVar[int]
    CONNECTOR_FIELD_NUMBER: _ClassVar[int]
    attachment_id: str
    connector: Connector
    def __init__(self, attachment_id: _Optional[str] = ..., connector: _Optional[_Union[Connector, _Mapping]] = ...) -> None: ...

class CompleteAttachmentRequest(_message.Message):
    __slots__ = ("attachment_id",)
    ATTACHMENT_ID_FIELD_NUMBER: _ClassVar[int]
    attachment_id: str
    def __init__(self, attachment_id: _Optional[str] = ...) -> None: ...

class DeleteAttachmentRequest(_message.Message):
    __slots__ = ("attachment_id",)
    ATTACHMENT_ID_FIELD_NUMBER: _ClassVar[int]
    attachment_id: str
    def __init__(self, attachment_id: _Optional[str] = ...) -> None: ...

class DeleteAttachmentResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ForceDetachRequest(_message.Message):
    __slots__ = ("attachment_id",)
    ATTACHMENT_ID_FIELD_NUMBER: _ClassVar[int]
    attachment_id: str
    def __init__(self, attachment_id: _Optional[str] = ...) -> None: ...

class ForceDetachResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
