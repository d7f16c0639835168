"""Deterministic wheels, rebuilt from installed distributions or written from files.

Each plugin is installed into its own virtualenv from hash-pinned wheels, but the host env's copy
of a plugin (or of one of its dependencies) was often installed from a checkout, so no wheel of
it exists anywhere. These functions rebuild one from the installed files, after checking them
against the distribution's RECORD. Every entry gets a fixed timestamp and fixed permissions and
the entries are written in a fixed order, so the same files always give a byte-identical wheel,
and so the same sha256.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.parser import Parser
from importlib import metadata, util
from pathlib import Path, PurePosixPath

from packaging.tags import parse_tag
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from hipcheck import __version__
from hipcheck.errors import ArtifactError

__all__ = [
    "BRIDGE_NAME",
    "BRIDGE_REQUIRES",
    "bridge_wheel",
    "normalize_wheel",
    "read_dist_info",
    "wheel_from_installed",
    "write_wheel",
]

BRIDGE_NAME = "hipcheck-bridge"
# The bridge's only dependency; collect_artifacts adds it (and what it needs) to every plugin env.
BRIDGE_REQUIRES = ("pluggy>=1.5",)

# A constant rather than SOURCE_DATE_EPOCH: many shells and build systems set that variable for
# their own reasons, and a wheel's hash must depend on the installed files alone. 1980-01-01 is
# the earliest date a zip entry can carry.
_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
_CHUNK = 1 << 20
# Written by the installer rather than shipped by the project (INSTALLER, REQUESTED,
# direct_url.json), or regenerated (RECORD, whose signatures would no longer verify).
_SIGNATURES = frozenset({"RECORD.jws", "RECORD.p7s"})
_INSTALLER_FILES = _SIGNATURES | {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}


@dataclass(frozen=True)
class _Member:
    """One wheel entry: its archive name, its content, and the RECORD hash to check it against."""

    arcname: str
    source: Path | bytes
    record_hash: str | None = None


def wheel_from_installed(dist: metadata.Distribution, dest_dir: Path) -> Path:
    """Rebuild a wheel of the installed distribution `dist` in `dest_dir` and return its path.

    Every file the wheel takes is checked against its hash in RECORD while it is copied; a
    mismatch or a missing file raises ArtifactError (the installed copy was modified after
    installation) and leaves nothing in `dest_dir`. The wheel holds the files under the install
    root and the dist-info files the project shipped (METADATA, WHEEL with its Tag lines,
    entry_points.txt, licenses, ...). Left out: bytecode, the installer's own files, RECORD
    (regenerated), and files outside the install root such as console scripts, which pip
    regenerates from entry_points.txt; data files and plain scripts installed outside
    site-packages are lost too, which no plugin is expected to need.

    Editable installs are refused: where their files live is up to the build backend's
    import hook, so any rebuild would be a guess about which code the plugin env gets. Install
    such a plugin non-editable (`pip install <dir>`) for hipcheck to use it.
    """
    name, version = str(dist.metadata["Name"]), dist.version
    owner = f"{name} {version}"
    editable_url = _editable_url(dist)
    if editable_url is not None:
        raise ArtifactError(
            f"{owner} is installed in editable mode from {editable_url}; hipcheck installs "
            f"plugins from pinned wheels, so install it non-editable (pip install <directory>)"
        )
    record = dist.read_text("RECORD")
    if record is None:
        raise ArtifactError(f"{owner} has no RECORD file, so its installed files cannot be checked")
    rows = [row for row in csv.reader(io.StringIO(record)) if row]
    dist_info = _dist_info_dir(rows, owner)
    root = Path(str(dist.locate_file("")))
    members = []
    for row in rows:
        path = PurePosixPath(row[0])
        if not path.parts or path.is_absolute() or path.parts[0] == ".." or _is_bytecode(path):
            continue
        if path.parent == PurePosixPath(dist_info) and path.name in _INSTALLER_FILES:
            continue
        record_hash = row[1] if len(row) > 1 else ""
        if not record_hash:
            raise ArtifactError(
                f"{owner}: RECORD lists {path} without a hash, so it cannot be checked"
            )
        members.append(_Member(str(path), root / path, record_hash))

    tags = Parser().parsestr(dist.read_text("WHEEL") or "").get_all("Tag") or []
    filename = f"{_wheel_stem(name, version, owner)}-{_compressed_tag(tags, owner)}.whl"
    return _write_zip(dest_dir / filename, members, dist_info, owner)


def write_wheel(
    dest_dir: Path,
    *,
    name: str,
    version: str,
    files: Mapping[str, bytes | Path],
    requires: Sequence[str] = (),
) -> Path:
    """Write a pure-Python wheel of `files` (archive name -> content or file) in `dest_dir`.

    METADATA (with `requires` as Requires-Dist), WHEEL and RECORD are generated. Deterministic
    like wheel_from_installed: the same arguments always give the same bytes.
    """
    stem = _wheel_stem(name, version, name)
    dist_info = f"{stem}.dist-info"
    metadata_text = "".join(
        [
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
            *(f"Requires-Dist: {requirement}\n" for requirement in requires),
        ]
    )
    wheel_text = (
        f"Wheel-Version: 1.0\nGenerator: hipcheck ({__version__})\n"
        "Root-Is-Purelib: true\nTag: py3-none-any\n"
    )
    members = [_Member(arcname, source) for arcname, source in files.items()]
    members.append(_Member(f"{dist_info}/METADATA", metadata_text.encode()))
    members.append(_Member(f"{dist_info}/WHEEL", wheel_text.encode()))
    return _write_zip(dest_dir / f"{stem}-py3-none-any.whl", members, dist_info, name)


def bridge_wheel(dest_dir: Path) -> Path:
    """Write `hipcheck_bridge-<hipcheck version>-py3-none-any.whl` in `dest_dir`.

    The wheel holds the host's `hipcheck_bridge` package, nothing else, as distribution
    `hipcheck-bridge` requiring pluggy. Its files are taken from the package's directory
    whether hipcheck is installed normally or editable (as in development): checking them
    against hipcheck's RECORD would add nothing, since a modified host install is already
    running modified code in this very process.
    """
    spec = util.find_spec("hipcheck_bridge")
    if spec is None or not spec.submodule_search_locations:
        raise ArtifactError("the hipcheck_bridge package is missing from hipcheck's environment")
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    files: dict[str, bytes | Path] = {}
    for path in sorted(package_dir.rglob("*")):
        relative = PurePosixPath(path.relative_to(package_dir).as_posix())
        if path.is_file() and not _is_bytecode(relative):
            files[f"hipcheck_bridge/{relative}"] = path
    return write_wheel(
        dest_dir, name=BRIDGE_NAME, version=__version__, files=files, requires=BRIDGE_REQUIRES
    )


def normalize_wheel(wheel: Path, dest_dir: Path) -> Path:
    """Rewrite `wheel` into `dest_dir` the way this module writes every wheel; return the copy.

    Build backends stamp the build time into each zip entry, so two builds of the same sources
    hash differently; the rewrite (fixed timestamps, permissions and order) makes the hash a
    function of the files alone. Every entry is checked against the wheel's RECORD on the way:
    an entry RECORD does not list, or lists with another hash, raises ArtifactError, and so does
    a RECORD entry the archive lacks.
    """
    owner = wheel.name
    try:
        archive = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ArtifactError(f"{owner}: not a readable wheel: {exc}") from exc
    with archive, tempfile.TemporaryDirectory() as scratch:
        infos = [info for info in archive.infolist() if not info.is_dir()]
        rows = _archive_record(archive, [info.filename for info in infos], owner)
        dist_info = _dist_info_dir(rows, owner)
        expected = {row[0]: row[1] if len(row) > 1 else "" for row in rows}
        members = []
        for info in infos:
            path = PurePosixPath(info.filename)
            if path.parent == PurePosixPath(dist_info) and path.name in _SIGNATURES | {"RECORD"}:
                continue
            if path.is_absolute() or ".." in path.parts:
                raise ArtifactError(f"{owner}: entry {path} points outside the install root")
            if not expected.get(info.filename):
                raise ArtifactError(f"{owner}: {path} is not listed with a hash in its RECORD")
            target = Path(scratch, *path.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst, _CHUNK)
            if (info.external_attr >> 16) & 0o111:
                target.chmod(0o755)  # _add keeps only this bit
            members.append(_Member(info.filename, target, expected[info.filename]))
        listed = {m.arcname for m in members}
        for arcname, record_hash in expected.items():
            if record_hash and arcname not in listed:
                raise ArtifactError(f"{owner}: RECORD lists {arcname}, which the wheel lacks")
        return _write_zip(dest_dir / wheel.name, members, dist_info, owner)


def read_dist_info(wheel: Path, name: str) -> str | None:
    """The text of file `name` (for example ``entry_points.txt``) in `wheel`'s .dist-info."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            for arcname in archive.namelist():
                path = PurePosixPath(arcname)
                in_dist_info = len(path.parts) == 2 and path.parent.suffix == ".dist-info"
                if in_dist_info and path.name == name:
                    return archive.read(arcname).decode("utf-8")
    except (OSError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{wheel.name}: not a readable wheel: {exc}") from exc
    return None


def _archive_record(archive: zipfile.ZipFile, names: Sequence[str], owner: str) -> list[list[str]]:
    for arcname in names:
        path = PurePosixPath(arcname)
        if path.name == "RECORD" and len(path.parts) == 2 and path.parent.suffix == ".dist-info":
            text = archive.read(arcname).decode("utf-8")
            return [row for row in csv.reader(io.StringIO(text)) if row]
    raise ArtifactError(f"{owner}: no .dist-info/RECORD in the wheel")


def _editable_url(dist: metadata.Distribution) -> str | None:
    """The project directory of a PEP 660 editable install (per PEP 610), else None."""
    raw = dist.read_text("direct_url.json")
    if not raw:
        return None
    try:
        info = json.loads(raw)
    except ValueError as exc:
        raise ArtifactError(f"{dist.metadata['Name']}: unreadable direct_url.json: {exc}") from exc
    dir_info = info.get("dir_info")
    if isinstance(dir_info, dict) and dir_info.get("editable"):
        return str(info.get("url", "?"))
    return None


def _dist_info_dir(rows: Sequence[Sequence[str]], owner: str) -> str:
    for row in rows:
        path = PurePosixPath(row[0])
        if path.name == "RECORD" and len(path.parts) == 2 and path.parent.suffix == ".dist-info":
            return path.parent.name
    raise ArtifactError(f"{owner}: RECORD does not list itself inside a .dist-info directory")


def _is_bytecode(path: PurePosixPath) -> bool:
    return "__pycache__" in path.parts or path.suffix == ".pyc"


def _compressed_tag(tags: Sequence[str], owner: str) -> str:
    """The filename form of a wheel's tags, e.g. `py2.py3-none-any`."""
    parsed = [tag for text in tags for tag in parse_tag(text.strip())]
    if not parsed:
        raise ArtifactError(f"{owner}: its WHEEL file has no Tag lines")
    return "-".join(
        ".".join(sorted({getattr(tag, part) for tag in parsed}))
        for part in ("interpreter", "abi", "platform")
    )


def _wheel_stem(name: str, version: str, owner: str) -> str:
    """`name_version` as wheel filenames and .dist-info directories spell them."""
    try:
        normal_version = str(Version(version))
    except InvalidVersion as exc:
        raise ArtifactError(f"{owner}: version {version!r} is not a valid version") from exc
    return f"{canonicalize_name(name).replace('-', '_')}-{normal_version}"


def _record_hash(digest: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _write_zip(target: Path, members: Sequence[_Member], dist_info: str, owner: str) -> Path:
    """Write `members` and a fresh RECORD to `target`, atomically, in a fixed order.

    Entries are stored uncompressed: deflate output varies between zlib builds, storing is
    faster to write and to install, and these wheels only ever live in the local cache.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    # The spec asks for the .dist-info directory at the end of the archive, RECORD last.
    ordered = sorted(members, key=lambda m: (m.arcname.startswith(f"{dist_info}/"), m.arcname))
    fd, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w") as archive:
            for member in ordered:
                digest, size = _add(archive, member, owner)
                writer.writerow([member.arcname, _record_hash(digest), size])
            writer.writerow([f"{dist_info}/RECORD", "", ""])
            _add(archive, _Member(f"{dist_info}/RECORD", record.getvalue().encode()), owner)
        os.replace(partial, target)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return target


def _add(archive: zipfile.ZipFile, member: _Member, owner: str) -> tuple[bytes, int]:
    """Copy one entry into `archive`, checking it against its RECORD hash; (sha256, size)."""
    info = zipfile.ZipInfo(member.arcname, date_time=_TIMESTAMP)
    info.create_system = 3  # Unix, so that external_attr carries the permissions below
    info.compress_type = zipfile.ZIP_STORED
    if isinstance(member.source, bytes):
        info.external_attr = (stat.S_IFREG | 0o644) << 16
        archive.writestr(info, member.source)
        return hashlib.sha256(member.source).digest(), len(member.source)

    algorithm, _, expected = (member.record_hash or "sha256=").partition("=")
    if algorithm not in hashlib.algorithms_guaranteed:
        raise ArtifactError(f"{owner}: RECORD hashes {member.arcname} with unknown {algorithm!r}")
    try:
        status = member.source.stat()
    except FileNotFoundError:
        raise ArtifactError(
            f"{owner}: installed file {member.arcname} is missing "
            f"(RECORD expects {member.record_hash}); reinstall {owner}"
        ) from None
    # Only the executable bit survives: pip applies the user's umask to everything else.
    mode = 0o755 if status.st_mode & 0o111 else 0o644
    info.external_attr = (stat.S_IFREG | mode) << 16
    info.file_size = status.st_size  # lets zipfile decide on zip64 before streaming
    sha256, recorded = hashlib.sha256(), hashlib.new(algorithm)
    with member.source.open("rb") as src, archive.open(info, "w") as dst:
        while chunk := src.read(_CHUNK):
            sha256.update(chunk)
            recorded.update(chunk)
            dst.write(chunk)
    actual = base64.urlsafe_b64encode(recorded.digest()).rstrip(b"=").decode()
    if member.record_hash is not None and actual != expected:
        raise ArtifactError(
            f"{owner}: installed file {member.arcname} does not match its RECORD "
            f"(expected {algorithm}={expected}, actual {algorithm}={actual}); it was modified "
            f"after installation, reinstall {owner}"
        )
    return sha256.digest(), status.st_size
