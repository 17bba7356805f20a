import datetime

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

class BackupStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BACKUP_STATUS_UNSPECIFIED: _ClassVar[BackupStatus]
    BACKUP_STATUS_CREATING: _ClassVar[BackupStatus]
    BACKUP_STATUS_AVAILABLE: _ClassVar[BackupStatus]
    BACKUP_STATUS_RESTORING: _ClassVar[BackupStatus]
    BACKUP_STATUS_DELETING: _ClassVar[BackupStatus]
    BACKUP_STATUS_ERROR: _ClassVar[BackupStatus]
    BACKUP_STATUS_ERROR_DELETING: _ClassVar[BackupStatus]
BACKUP_STATUS_UNSPECIFIED: BackupStatus
BACKUP_STATUS_CREATING: BackupStatus
BACKUP_STATUS_AVAILABLE: BackupStatus
BACKUP_STATUS_RESTORING: BackupStatus
BACKUP_STATUS_DELETING: BackupStatus
BACKUP_STATUS_ERROR: BackupStatus
BACKUP_STATUS_ERROR_DELETING: BackupStatus

class Backup(_message.Message):
    __slots__ = ("id", "volume_id", "name", "description", "status", "status_detail", "size_gb", "incremental", "parent_id", "project_id", "metadata", "data_bytes", "stored_bytes", "chunk_count", "created_at", "updated_at")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_DETAIL_FIELD_NUMBER: _ClassVar[int]
    SIZE_GB_FIELD_NUMBER: _ClassVar[int]
    INCREMENTAL_FIELD_NUMBER: _ClassVar[int]
    PARENT_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    DATA_BYTES_FIELD_NUMBER: _ClassVar[int]
    STORED_BYTES_FIELD_NUMBER: _ClassVar[int]
    CHUNK_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    volume_id: str
    name: str
    description: str
    status: BackupStatus
    status_detail: str
    size_gb: int
    incremental: bool
    parent_id: str
    project_id: str
    metadata: _containers.ScalarMap[str, str]
    data_bytes: int
    stored_bytes: int
    chunk_count: int
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., volume_id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., status: _Optional[_Union[BackupStatus, str]] = ..., status_detail: _Optional[str] = ..., size_gb: _Optional[int] = ..., incremental: _Optional[bool] = ..., parent_id: _Optional[str] = ..., project_id: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., data_bytes: _Optional[int] = ..., stored_bytes: _Optional[int] = ..., chunk_count: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateBackupRequest(_message.Message):
    __slots__ = ("volume_id", "name", "description", "incremental", "force", "metadata", "request_id")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    INCREMENTAL_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    volume_id: str
    name: str
    description: str
    incremental: bool
    force: bool
    metadata: _containers.ScalarMap[str, str]
    request_id: str
    def __init__(self, volume_id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., incremental: _Optional[bool] = ..., force: _Optional[bool] = ..., metadata: _Optional[_Mapping[str, str]] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetBackupRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ListBackupsRequest(_message.Message):
    __slots__ = ("volume_id", "page_size", "page_token")
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    volume_id: str
    page_size: int
    page_token: str
    def __init__(self, volume_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListBackupsResponse(_message.Message):
    __slots__ = ("backups", "next_page_token")
    BACKUPS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    backups: _containers.RepeatedCompositeFieldContainer[Backup]
    next_page_token: str
    def __init__(self, backups: _Optional[_Iterable[_Union[Backup, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateBackupRequest(_message.Message):
    __slots__ = ("backup", "update_mask")
    BACKUP_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    backup: Backup
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, backup: _Optional[_Union[Backup, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class DeleteBackupRequest(_message.Message):
    __slots__ = ("id", "request_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    request_id: str
    def __init__(self, id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class RestoreBackupRequest(_message.Message):
    __slots__ = ("backup_id", "volume_id", "name", "volume_type", "availability_zone", "request_id")
    BACKUP_ID_FIELD_NUMBER: _ClassVar[int]
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VOLUME_TYPE_FIELD_NUMBER: _ClassVar[int]
    AVAILABILITY_ZONE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    backup_id: str
    volume_id: str
    name: str
    volume_type: str
    availability_zone: str
    request_id: str
    def __init__(self, backup_id: _Optional[str] = ..., volume_id: _Optional[str] = ..., name: _Optional[str] = ..., volume_type: _Optional[str] = ..., availability_zone: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class VerifyBackupRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class BackupVerification(_message.Message):
    __slots__ = ("backup_id", "chunks_checked", "bytes_checked")
    BACKUP_ID_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_CHECKED_FIELD_NUMBER: _ClassVar[int]
    BYTES_CHECKED_FIELD_NUMBER: _ClassVar[int]
    backup_id: str
    chunks_checked: int
    bytes_checked: int
    def __init__(self, backup_id: _Optional[str] = ..., chunks_checked: _Optional[int] = ..., bytes_checked: _Optional[int] = ...) -> None: ...

class ExportBackupRecordRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class BackupRecord(_message.Message):
    __slots__ = ("backup_service", "backup_url")
    BACKUP_SERVICE_FIELD_NUMBER: _ClassVar[int]
    BACKUP_URL_FIELD_NUMBER: _ClassVar[int]
    backup_service: str
    backup_url: str
    def __init__(self, backup_service: _Optional[str] = ..., backup_url: _Optional[str] = ...) -> None: ...

class ImportBackupRecordRequest(_message.Message):
    __slots__ = ("backup_service", "backup_url")
    BACKUP_SERVICE_FIELD_NUMBER: _ClassVar[int]
    BACKUP_URL_FIELD_NUMBER: _ClassVar[int]
    backup_service: str
    backup_url: str
    def __init__(self, backup_service: _Optional[str] = ..., backup_url: _Optional[str] = ...) -> None: ...

class WatchBackupRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class WatchBackupResponse(_message.Message):
    __slots__ = ("backup", "bytes_done", "bytes_total", "deleted")
    BACKUP_FIELD_NUMBER: _ClassVar[int]
    BYTES_DONE_FIELD_NUMBER: _ClassVar[int]
    BYTES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    backup: Backup
    bytes_done: int
    bytes_total: int
    deleted: bool
    def __init__(self, backup: _Optional[_Union[Backup, _Mapping]] = ..., bytes_done: _Optional[int] = ..., bytes_total: _Optional[int] = ..., deleted: _Optional[bool] = ...) -> None: ...
