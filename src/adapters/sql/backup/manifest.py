"""A backup on disk: the data file, the manifest beside it, and the checks that make a
damaged or incomplete backup refuse to be used."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from alembic.runtime.migration import MigrationContext
from attrs import frozen
from sqlalchemy import func, inspect, select, table
from sqlalchemy.engine import Connection

from adapters.sql.tables import metadata
from saascore.errors import InvalidInput, SaasCoreError

FORMAT = 1
PREFIX = "saascore-"
MANIFEST_SUFFIX = ".manifest.json"
Kind = Literal["sqlite", "postgres"]
DATA_SUFFIXES: Mapping[Kind, str] = {"sqlite": ".sqlite3", "postgres": ".pgdump"}
VERSION_TABLE = "alembic_version"
# What a backup counts: saascore's tables and Alembic's, never anything else in the database.
COUNTED = frozenset(metadata.tables) | {VERSION_TABLE}
_SHA256 = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20


class BackupRefused(SaasCoreError):
    """The backup cannot be used: it is incomplete, damaged, or not for this database."""

    code = "backup_refused"


@frozen
class Inventory:
    """What a database holds: its schema revision and the rows in each counted table."""

    revision: str | None
    counts: Mapping[str, int]


def inventory(connection: Connection) -> Inventory:
    """Count the rows of every saascore table present, and read the schema revision."""
    names = sorted(COUNTED & set(inspect(connection).get_table_names()))
    counts = {
        name: connection.execute(select(func.count()).select_from(table(name))).scalar_one()
        for name in names
    }
    revision = MigrationContext.configure(connection).get_current_revision()
    return Inventory(revision, counts)


def reason(exc: BaseException) -> str:
    """The driver's complaint, on one line."""
    cause = getattr(exc, "orig", None) or exc
    return f"{type(cause).__name__}: {cause}".splitlines()[0][:200]


def differences(expected: Mapping[str, int], actual: Mapping[str, int]) -> list[str]:
    """One line per table whose row count differs from the manifest's."""
    return [
        f"{name}: {actual.get(name, 'no table')} restored, "
        f"{expected.get(name, 'no table')} in the manifest"
        for name in sorted(set(expected) | set(actual))
        if expected.get(name) != actual.get(name)
    ]


@frozen
class Manifest:
    """What a backup holds and how to check it, as written next to the data file."""

    kind: Kind
    data_file: str
    size: int
    sha256: str
    schema_revision: str
    row_counts: Mapping[str, int]
    created_at: datetime
    app_version: str
    source: str
    format: int = FORMAT

    @property
    def tables(self) -> int:
        """saascore's tables in the backup (Alembic's bookkeeping table not counted)."""
        return len([name for name in self.row_counts if name != VERSION_TABLE])

    @property
    def rows(self) -> int:
        return sum(n for name, n in self.row_counts.items() if name != VERSION_TABLE)

    def to_json(self) -> str:
        document = {
            "format": self.format,
            "kind": self.kind,
            "data_file": self.data_file,
            "size": self.size,
            "sha256": self.sha256,
            "schema_revision": self.schema_revision,
            "row_counts": dict(sorted(self.row_counts.items())),
            "created_at": self.created_at.isoformat(),
            "app_version": self.app_version,
            "source": self.source,
        }
        return json.dumps(document, indent=2) + "\n"


def parse_manifest(text: str) -> Manifest:
    """Read a manifest; raise ``ValueError`` naming the first thing wrong with it."""
    raw = json.loads(text)
    if not isinstance(raw, dict):
        raise ValueError("not a JSON object")
    if _get(raw, "format", int) != FORMAT:
        raise ValueError(f"format {raw['format']} is not {FORMAT}")
    kind = _get(raw, "kind", str)
    if kind not in DATA_SUFFIXES:
        raise ValueError(f"kind {kind!r} is neither sqlite nor postgres")
    data_file = _get(raw, "data_file", str)
    if Path(data_file).name != data_file or data_file in ("", ".", ".."):
        raise ValueError("data_file must be a file name in the manifest's folder")
    sha256 = _get(raw, "sha256", str)
    if not _SHA256.fullmatch(sha256):
        raise ValueError("sha256 is not 64 hex digits")
    counts = _get(raw, "row_counts", dict)
    if not all(isinstance(k, str) and _is_int(v) and v >= 0 for k, v in counts.items()):
        raise ValueError("row_counts must map table names to counts")
    created_at = datetime.fromisoformat(_get(raw, "created_at", str))
    if created_at.tzinfo is None:
        raise ValueError("created_at has no time zone")
    return Manifest(
        kind="sqlite" if kind == "sqlite" else "postgres",
        data_file=data_file,
        size=_get(raw, "size", int),
        sha256=sha256,
        schema_revision=_get(raw, "schema_revision", str),
        row_counts=counts,
        created_at=created_at,
        app_version=_get(raw, "app_version", str),
        source=_get(raw, "source", str),
    )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _get(raw: Mapping[str, Any], name: str, kind: type[Any]) -> Any:
    if name not in raw:
        raise ValueError(f"{name} is missing")
    value = raw[name]
    if not isinstance(value, kind) or (kind is int and not _is_int(value)):
        raise ValueError(f"{name} is not a {kind.__name__}")
    return value


@frozen
class Backup:
    """A backup found on disk: its manifest file, its data file and what the manifest says."""

    manifest_path: Path
    data_path: Path
    manifest: Manifest


def manifest_path_for(path: Path) -> Path:
    """The manifest of the backup ``path`` names: the manifest itself, the data file, or the
    name the two share (``backups/saascore-20261126T230000Z``)."""
    if path.name.endswith(MANIFEST_SUFFIX):
        return path
    if path.suffix in DATA_SUFFIXES.values():
        return path.with_name(path.stem + MANIFEST_SUFFIX)
    return path.with_name(path.name + MANIFEST_SUFFIX)


def read_backup(manifest_path: Path) -> Backup:
    """Read a backup's manifest (no checksum yet); raise ``BackupRefused`` if it is unusable."""
    try:
        manifest = parse_manifest(manifest_path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise BackupRefused(f"{manifest_path}: unreadable manifest ({exc}); refused") from exc
    return Backup(manifest_path, manifest_path.with_name(manifest.data_file), manifest)


def open_backup(path: Path) -> Backup:
    """Find the backup ``path`` names and check it against its manifest: the data file must
    exist and have the recorded size and SHA-256. Raises ``BackupRefused`` otherwise."""
    if path.is_dir():
        newest = max(path.glob(f"{PREFIX}*{MANIFEST_SUFFIX}"), default=None)
        example = f", such as {newest}" if newest else ""
        raise InvalidInput({"BACKUP": f"{path} is a folder; name one backup in it{example}"})
    manifest_path = manifest_path_for(path)
    if not manifest_path.is_file():
        if not path.exists():
            raise BackupRefused(f"{path}: no such backup")
        raise BackupRefused(
            f"{path}: its manifest {manifest_path.name} is missing, so it cannot be checked; "
            "refused"
        )
    if manifest_path.is_symlink():
        raise BackupRefused(f"{manifest_path}: a symbolic link, not a backup file; refused")
    backup = read_backup(manifest_path)
    data = backup.data_path
    if data.is_symlink():
        raise BackupRefused(f"{data}: a symbolic link, not a backup file; refused")
    if manifest_path != path and path.is_file() and path.name != data.name:
        raise BackupRefused(f"{path}: the manifest describes {data.name}, not this file; refused")
    if not data.is_file():
        raise BackupRefused(f"{data}: data file missing; refused")
    size = data.stat().st_size
    if size != backup.manifest.size:
        raise BackupRefused(
            f"{data}: {size} bytes, the manifest says {backup.manifest.size}: "
            "truncated or damaged; refused"
        )
    if sha256_of(data) != backup.manifest.sha256:
        raise BackupRefused(f"{data}: SHA-256 differs from the manifest: damaged; refused")
    return backup


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def seal(path: Path) -> tuple[int, str]:
    """Flush ``path`` to disk; return its size and SHA-256."""
    with path.open("rb+") as file:
        os.fsync(file.fileno())
    return path.stat().st_size, sha256_of(path)


def copy_checked(backup: Backup, target: Path) -> None:
    """Copy the data file to ``target``, hashing what is copied: a file that changed since it
    was checked is refused rather than restored."""
    digest = hashlib.sha256()
    with backup.data_path.open("rb") as source, target.open("wb") as copy:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            copy.write(chunk)
        copy.flush()
        os.fsync(copy.fileno())
    if digest.hexdigest() != backup.manifest.sha256:
        raise BackupRefused(f"{backup.data_path}: changed while being copied; refused")


def write_atomically(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all (a crash leaves no half-written manifest), 0600,
    through a temporary file of a random name created exclusively, never a planted one."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def new_stem(directory: Path, now: datetime) -> str:
    """``saascore-YYYYmmddTHHMMSSZ``, with ``-2``, ``-3``… when that second is taken."""
    base = PREFIX + now.strftime("%Y%m%dT%H%M%SZ")
    stem, n = base, 1
    while any(directory.glob(f"{stem}.*")):
        n += 1
        stem = f"{base}-{n}"
    return stem


def prune_backups(directory: Path, *, older_than: datetime, keep: Backup) -> list[Backup]:
    """Delete the saascore backups in ``directory`` made before ``older_than`` (by their
    manifest), except ``keep``. Files without a readable manifest are never touched."""
    deleted = []
    for manifest_path in sorted(directory.glob(f"{PREFIX}*{MANIFEST_SUFFIX}")):
        try:
            old = read_backup(manifest_path)
        except BackupRefused:
            continue
        if manifest_path == keep.manifest_path or old.manifest.created_at >= older_than:
            continue
        old.data_path.unlink(missing_ok=True)
        manifest_path.unlink()
        deleted.append(old)
    return deleted
