"""NNI's ``sharedStorage`` configs (NFS, Azure Blob): loaded and canonicalised, refused at start."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .base import ConfigBase

__all__ = ["SharedStorageConfig", "NfsConfig", "AzureBlobConfig", "parse_shared_storage"]


class SharedStorageConfig(ConfigBase):
    """Fields both kinds of storage share; ``storageType`` says which one."""

    storage_type: str
    local_mount_point: Path
    remote_mount_point: str
    local_mounted: str
    storage_account_name: str | None = None
    storage_account_key: str | None = None
    container_name: str | None = None
    nfs_server: str | None = None
    exported_directory: str | None = None


class NfsConfig(SharedStorageConfig):
    storage_type: str = "NFS"
    nfs_server: str
    exported_directory: str


class AzureBlobConfig(SharedStorageConfig):
    storage_type: str = "AzureBlob"
    storage_account_name: str
    container_name: str


def parse_shared_storage(value: Any) -> Any:
    """A dict becomes the class its ``storageType`` names (NNI's two, or the common base)."""
    if not isinstance(value, dict):
        return value
    kind = next((str(v) for k, v in value.items() if str(k).replace("_", "").lower() == "storagetype"), "")
    classes: dict[str, type[SharedStorageConfig]] = {"nfs": NfsConfig, "azureblob": AzureBlobConfig}
    return classes.get(kind.lower(), SharedStorageConfig).model_validate(value)
