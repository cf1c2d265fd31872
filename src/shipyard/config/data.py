"""Data movement blocks shared by ``pool.yaml`` and ``jobs.yaml``: resource files, input and output data.

The pool's forms are stricter than the job's (Batch Shipyard's schema): a pool's ``azure_batch``
input needs a ``destination`` and its ``azure_storage`` input a ``local_path``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from shipyard.config.base import Model


class ResourceFile(Model):
    blob_source: str
    file_path: str
    file_mode: str | None = None


class AzureBatchInput(Model):
    job_id: str
    task_id: str
    destination: str | None = None
    include: list[str] | None = None
    exclude: list[str] | None = None


class PoolAzureBatchInput(AzureBatchInput):
    destination: str


class AzureStorageInput(Model):
    storage_account_settings: str
    remote_path: str
    local_path: str | None = None
    is_file_share: bool | None = None
    include: list[str] | None = None
    exclude: list[str] | None = None
    blobxfer_extra_options: str | None = None


class PoolAzureStorageInput(AzureStorageInput):
    """A pool's storage input; Batch Shipyard 2.x named ``remote_path`` ``container`` (or
    ``file_share``) and ``local_path`` ``destination`` (``config.legacy`` warns about them)."""

    local_path: str

    @model_validator(mode="before")
    @classmethod
    def _from_2x(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "remote_path" in data:
            return data
        data = dict(data)
        if "container" in data:
            data["remote_path"] = data.pop("container")
        elif "file_share" in data:
            data["remote_path"] = data.pop("file_share")
            data.setdefault("is_file_share", True)
        if "destination" in data and "local_path" not in data:
            data["local_path"] = data.pop("destination")
        return data


class InputData(Model):
    azure_batch: list[AzureBatchInput] = Field(default_factory=list)
    azure_storage: list[AzureStorageInput] = Field(default_factory=list)


class PoolInputData(Model):
    azure_batch: list[PoolAzureBatchInput] = Field(default_factory=list)
    azure_storage: list[PoolAzureStorageInput] = Field(default_factory=list)


class AzureStorageOutput(Model):
    storage_account_settings: str
    remote_path: str
    local_path: str | None = None
    is_file_share: bool | None = None
    condition: Literal["taskcompletion", "taskfailure", "tasksuccess"] | None = None
    include: list[str] | None = None
    exclude: list[str] | None = None
    blobxfer_extra_options: str | None = None


class OutputData(Model):
    azure_storage: list[AzureStorageOutput] = Field(default_factory=list)
