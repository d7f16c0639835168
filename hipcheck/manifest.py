"""The plugin manifest: who a plugin is, what it needs, and how to run it (RFD 0003)."""

from __future__ import annotations

import re
from typing import Literal

import semver
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_snake

from hipcheck.versions import RequirementError, parse_requirement

_IDENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _kebab(name: str) -> str:
    return to_snake(name).replace("_", "-")


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", alias_generator=_kebab, populate_by_name=True, frozen=True
    )


def _check_ident(value: str | None) -> str | None:
    if value is not None and not _IDENT.match(value):
        raise ValueError(f"{value!r} is not a valid identifier (letters, digits, '_', '.', '-')")
    return value


def identity(publisher: str, name: str, namespace: str | None = None) -> str:
    """The ``publisher/[namespace/]name`` spelling used in policies and queries."""
    return "/".join(p for p in (publisher, namespace, name) if p)


class Dependency(_Model):
    """Another plugin this plugin queries."""

    publisher: str
    namespace: str | None = None
    name: str
    version: str = "*"

    _idents = field_validator("publisher", "namespace", "name")(_check_ident)

    @field_validator("version")
    @classmethod
    def _requirement(cls, value: str) -> str:
        try:
            parse_requirement(value)
        except RequirementError as exc:
            raise ValueError(str(exc)) from exc  # pydantic reports ValueErrors with the field
        return value

    @property
    def identity(self) -> str:
        return identity(self.publisher, self.name, self.namespace)


class Manifest(_Model):
    """Every field RFD 0003 asks of a plugin manifest."""

    publisher: str
    namespace: str | None = None
    name: str
    version: str
    kind: Literal["analysis", "data"]
    interface: Literal["python", "exec", "hipcheck-grpc"] = "python"
    plugin_interface_version: str = "1"
    dependencies: tuple[Dependency, ...] = ()
    schemas: dict[str, str] = Field(default_factory=dict)
    entrypoint: str
    entrypoint_hashes: dict[str, str] = Field(default_factory=dict)
    # Beyond RFD 0003: whether the plugin needs the network. It gets it only when the policy
    # also allows it (allow-network); strict, so a stray "no" is not read as true.
    network: bool = Field(default=False, strict=True)

    _idents = field_validator("publisher", "namespace", "name")(_check_ident)

    @field_validator("version")
    @classmethod
    def _semver(cls, value: str) -> str:
        try:
            semver.Version.parse(value, optional_minor_and_patch=True)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a SemVer version (MAJOR.MINOR.PATCH)") from exc
        return value

    @property
    def identity(self) -> str:
        return identity(self.publisher, self.name, self.namespace)
