"""The offline deployment bundle: build it, verify it. Release tooling, run from a source
checkout and never shipped in the wheel::

    nox -s package                      # or: python tools/package.py [--out DIR]
    nox -s package -- verify ZIP        # or: python tools/package.py verify ZIP (exit 17)

A bundle is one ZIP whose entries all sit under ``saascore-<version>/``::

    INSTALL.txt           how to install it, and the commit it was built from
    SHA256SUMS            sha256 of every other file, in ``sha256sum -c`` format
    docs/                 docs/*.md, README.md, CHANGELOG.md
    migrations/           a copy of src/adapters/sql/migrations (the wheel holds them too)
    requirements.lock     the committed, hashed pins of the runtime dependencies
    wheels/saascore-<version>-py3-none-any.whl

The same commit gives the same bytes: every time inside (the wheel's and the ZIP's) is
SOURCE_DATE_EPOCH, taken from the environment, else from the last commit (without git,
1980-01-01); entries are sorted, with fixed permissions and compression; the pins are
copied, never resolved here.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
import zlib
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import click
from attrs import frozen

PROJECT = "saascore"
SUMS = "SHA256SUMS"
LOCK = "requirements.lock"
MIGRATIONS = Path("src/adapters/sql/migrations")
# 1980-01-01T00:00:00Z: the earliest time a ZIP entry can hold, and the time used without git.
ZIP_EPOCH = 315532800
COMPRESSLEVEL = 9
FILE_MODE = (stat.S_IFREG | 0o644) << 16  # a regular file, rw-r--r--
UNIX = 3  # ZipInfo.create_system; the default depends on the building OS
BUILD_TIMEOUT = 600
# What the bundle is made from (git pathspecs): a change here, and only here, makes it dirty.
SOURCES = (
    "pyproject.toml", ".gitignore", "README.md", "CHANGELOG.md", LOCK, "docs", "src",
    "LICENSE*", "LICENCE*", "COPYING*", "NOTICE*", "AUTHORS*",
)  # fmt: skip
SUMS_LINE = re.compile(r"([0-9a-f]{64}) [ *](.+)")


class _Failed(click.ClickException):
    """A failure reported as one line on stderr with a chosen exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click reads it per instance


class PackagingError(Exception):
    """A bundle that cannot be built, or that does not verify; the message is one line."""


@frozen
class Provenance:
    """Where a build comes from: the time stamped on every entry and the commit, if any."""

    epoch: int
    commit: str | None
    dirty: bool
    warnings: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """The bundle name's suffix: a 12-digit commit (``-dirty`` if changed), or ``nogit``."""
        if self.commit is None:
            return "nogit"
        return self.commit[:12] + ("-dirty" if self.dirty else "")


@frozen
class Bundle:
    path: Path
    sha256: str
    files: int  # checksummed in SHA256SUMS
    warnings: tuple[str, ...]


@frozen
class Verification:
    """``problems`` holds one ``<path>: <what>`` line per file that failed."""

    checked: int
    problems: tuple[str, ...]


def find_project_root(start: Path) -> Path:
    """The nearest folder at or above ``start`` with saascore's pyproject.toml."""
    for folder in (start.resolve(), *start.resolve().parents):
        if _project(folder).get("name") == PROJECT:
            return folder
    raise PackagingError(
        f"no saascore pyproject.toml in {start} or above: "
        "run `nox -s package` in a saascore source checkout"
    )


def _project(folder: Path) -> dict[str, object]:
    try:
        with (folder / "pyproject.toml").open("rb") as file:
            project = tomllib.load(file).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    return project if isinstance(project, dict) else {}


def project_version(root: Path) -> str:
    version = _project(root).get("version")
    if not isinstance(version, str):
        raise PackagingError(f"{root / 'pyproject.toml'} has no static [project].version")
    return version


def provenance(root: Path, environ: Mapping[str, str] = os.environ) -> Provenance:
    """SOURCE_DATE_EPOCH from the environment if set (the reproducible-builds convention),
    else the last commit's time; without git, 1980-01-01. Warns of a missing or dirty git."""
    head = _git(root, "log", "-1", "--format=%H %ct").split()
    commit, committed = (head[0], int(head[1])) if len(head) == 2 else (None, None)
    dirty = commit is not None and bool(_git(root, "status", "--porcelain", "--", *SOURCES))
    warnings = []
    if dirty:
        warnings.append(f"{root} has uncommitted changes: the bundle is not the commit's")
    if commit is None:
        warnings.append(f"no git commit found for {root} (not a clone, or no git): naming none")
    if "SOURCE_DATE_EPOCH" in environ:
        epoch = _epoch(environ["SOURCE_DATE_EPOCH"])
    elif committed is not None:
        epoch = committed
    else:
        epoch = ZIP_EPOCH
        warnings.append(f"dating every file 1980-01-01 (SOURCE_DATE_EPOCH={ZIP_EPOCH})")
    return Provenance(epoch, commit, dirty, tuple(warnings))


def _epoch(value: str) -> int:
    if not value.isdigit():
        raise PackagingError(f"SOURCE_DATE_EPOCH must be seconds since 1970, not {value!r}")
    return int(value)


def _git(root: Path, *args: str) -> str:
    """git's output in ``root``, or "" when git is missing or this is no repository."""
    git = shutil.which("git")
    try:
        done = _run([git, *args] if git else [], root, timeout=60)
    except PackagingError:
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def build_wheel(root: Path, epoch: int, into: Path) -> tuple[Path, tuple[str, ...]]:
    """Build saascore's wheel into ``into`` with SOURCE_DATE_EPOCH set, which hatchling
    stamps on every entry. The hatchling of this environment is preferred: offline, and its
    version is the one pinned by whoever installed it (``nox -s package`` pins it)."""
    command, warnings = _wheel_command(root, into)
    done = _run(command, root, {"SOURCE_DATE_EPOCH": str(epoch)}, timeout=BUILD_TIMEOUT)
    wheels = sorted(into.glob("*.whl"))
    if done.returncode != 0 or len(wheels) != 1:
        last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["no wheel"]
        raise PackagingError(f"building the wheel failed ({command[0]}): {last[0]}")
    return wheels[0], warnings


def _run(
    command: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None, *, timeout: float
) -> subprocess.CompletedProcess[str]:
    if not command:
        raise PackagingError("no command to run")
    try:
        # Our own fixed argument lists, never a shell: nothing untrusted reaches them.
        return subprocess.run(  # noqa: S603
            command,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise PackagingError(f"{Path(command[0]).name} failed: {exc}") from exc


def _wheel_command(root: Path, into: Path) -> tuple[list[str], tuple[str, ...]]:
    if importlib.util.find_spec("hatchling") is not None:
        hook = "import sys, hatchling.build as b; b.build_wheel(sys.argv[1])"
        return [sys.executable, "-c", hook, str(into)], ()
    warning = (
        "hatchling is not installed here, so the wheel is built with the hatchling the package "
        "index serves today; `nox -s package` pins it"
    )
    uv = shutil.which("uv")
    if uv is not None:
        build = [uv, "build", "--wheel", "--quiet", "--python", sys.executable]
        return [*build, "--out-dir", str(into), str(root)], (warning,)
    if importlib.util.find_spec("pip") is not None:
        pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet"]
        return [*pip, "--wheel-dir", str(into), str(root)], (warning,)
    raise PackagingError("cannot build the wheel: install hatchling (or uv, or pip) here")


def bundle_files(root: Path, wheel: Path, source: Provenance) -> dict[str, bytes]:
    """Every file of the bundle but SHA256SUMS, by its path under the top folder."""
    files = {f"wheels/{wheel.name}": wheel.read_bytes(), LOCK: _read(root / LOCK)}
    files |= {f"docs/{p.name}": p.read_bytes() for p in sorted((root / "docs").glob("*.md"))}
    files |= {f"docs/{name}": _read(root / name) for name in ("README.md", "CHANGELOG.md")}
    files |= {f"migrations/{name}": data for name, data in _migrations(root).items()}
    files["INSTALL.txt"] = install_text(project_version(root), wheel.name, source).encode()
    return files


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise PackagingError(f"cannot read {path.name}: {exc.strerror}") from exc


def _migrations(root: Path) -> dict[str, bytes]:
    folder = root / MIGRATIONS
    paths = (p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in paths if p.suffix != ".pyc"}


def install_text(version: str, wheel: str, source: Provenance) -> str:
    built_from = "no git commit (built outside a clone)"
    if source.commit is not None:
        changes = " plus uncommitted changes" if source.dirty else ""
        built_from = f"commit {source.commit}{changes}"
    return f"""saascore {version}, built from {built_from}.

Check the bundle first: `python tools/package.py verify THIS.zip` in a saascore
checkout, or after unzipping
    cd saascore-{version} && sha256sum -c SHA256SUMS

Install on Python 3.11 or newer. The dependencies are pinned with hashes in
requirements.lock and come from your package index or mirror (PIP_INDEX_URL):
    python3 -m venv /opt/saascore/venv
    /opt/saascore/venv/bin/pip install --require-hashes -r requirements.lock
    /opt/saascore/venv/bin/pip install --no-index --no-deps wheels/{wheel}

With no index at all, fetch the dependency wheels once on a machine of the same OS, CPU
and Python, copy them into wheels/, then install with --no-index:
    pip download --only-binary=:all: --require-hashes -r requirements.lock -d wheels
    /opt/saascore/venv/bin/pip install --no-index --find-links wheels \\
        --require-hashes -r requirements.lock

Then migrate and start (docs/configuration.md lists every setting):
    /opt/saascore/venv/bin/saascore db upgrade
    /opt/saascore/venv/bin/saascore serve
migrations/ is for review; `saascore db upgrade` runs the copy inside the wheel.
"""


def sha256sums(files: Mapping[str, bytes]) -> bytes:
    """``<hex>  <path>`` lines, sorted by path, as ``sha256sum`` writes them."""
    lines = (f"{hashlib.sha256(files[name]).hexdigest()}  {name}\n" for name in sorted(files))
    return "".join(lines).encode()


def write_zip(path: Path, top: str, files: Mapping[str, bytes], epoch: int) -> None:
    """Write ``files`` under ``top/``, sorted, every entry stamped alike; atomically."""
    stamp = time.gmtime(max(epoch, ZIP_EPOCH))[:6]
    partial = path.with_name(path.name + ".partial")
    with zipfile.ZipFile(partial, "w") as bundle:
        for name in sorted(files):
            entry = zipfile.ZipInfo(f"{top}/{name}", date_time=stamp)
            entry.create_system = UNIX
            entry.external_attr = FILE_MODE
            bundle.writestr(entry, files[name], zipfile.ZIP_DEFLATED, COMPRESSLEVEL)
    partial.replace(path)


def build_bundle(start: Path, out: Path | None = None) -> Bundle:
    """Build the bundle of the checkout around ``start`` into ``out`` (default its dist/)."""
    root = find_project_root(start)
    version = project_version(root)
    source = provenance(root)
    with tempfile.TemporaryDirectory(prefix="saascore-package-") as scratch:
        wheel, build_warnings = build_wheel(root, source.epoch, Path(scratch))
        expected = f"{PROJECT}-{version}-py3-none-any.whl"
        if wheel.name != expected:
            raise PackagingError(f"the build made {wheel.name}, not {expected}")
        files = bundle_files(root, wheel, source)
    count = len(files)
    files[SUMS] = sha256sums(files)
    target = (out if out is not None else root / "dist").resolve()
    target.mkdir(parents=True, exist_ok=True)
    path = target / f"{PROJECT}-{version}-{source.label}.zip"
    write_zip(path, f"{PROJECT}-{version}", files, source.epoch)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return Bundle(path, digest, count, source.warnings + build_warnings)


def verify_bundle(path: Path) -> Verification:
    """Recompute every checksum in the bundle's SHA256SUMS against the entries beside it."""
    try:
        bundle = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise PackagingError(f"{path} is not a saascore bundle: not a readable ZIP file") from exc
    with bundle:
        unsafe = [_unsafe(entry) for entry in bundle.infolist()]
        if any(unsafe):
            return Verification(0, tuple(p for p in unsafe if p))
        names = [entry.filename for entry in bundle.infolist() if not entry.is_dir()]
        top = _top_folder(path, names)
        listed, problems = _parse_sums(_read_sums(bundle, f"{top}/{SUMS}"))
        problems += [_check(bundle, f"{top}/{name}", name, digest) for name, digest in listed]
        inside = [name.removeprefix(f"{top}/") for name in names]
        problems += [f"{name}: DUPLICATE ENTRY" for name in _duplicates(inside)]
        unlisted = set(inside) - {name for name, _ in listed} - {SUMS}
        problems += [f"{name}: NOT IN {SUMS}" for name in sorted(unlisted)]
    return Verification(len(listed), tuple(p for p in problems if p))


def _unsafe(entry: zipfile.ZipInfo) -> str:
    """Why unpacking ``entry`` could write outside the bundle's folder, or ``""``: an
    absolute path, a ``..`` step, or a symbolic link."""
    name = entry.filename
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return f"{name}: ABSOLUTE PATH"
    if ".." in name.replace("\\", "/").split("/"):
        return f"{name}: PATH LEAVES THE BUNDLE"
    if stat.S_ISLNK(entry.external_attr >> 16):
        return f"{name}: SYMBOLIC LINK"
    return ""


def _top_folder(path: Path, names: Sequence[str]) -> str:
    tops = [name.split("/")[0] for name in names if name.count("/") == 1 and name.endswith(SUMS)]
    if len(tops) != 1:
        raise PackagingError(f"{path} is not a saascore bundle: no <folder>/{SUMS} in it")
    return tops[0]


def _read_sums(bundle: zipfile.ZipFile, member: str) -> bytes:
    try:
        return bundle.read(member)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as exc:
        raise PackagingError(f"{member} is unreadable: {exc}") from exc


def _parse_sums(text: bytes) -> tuple[list[tuple[str, str]], list[str]]:
    listed: list[tuple[str, str]] = []
    problems: list[str] = []
    for number, line in enumerate(text.decode("utf-8", "replace").splitlines(), start=1):
        match = SUMS_LINE.fullmatch(line)
        if match is None:
            problems.append(f"{SUMS} line {number}: not '<sha256>  <path>'")
        else:
            listed.append((match[2], match[1]))
    return listed, problems


def _duplicates(names: Sequence[str]) -> list[str]:
    return sorted(name for name, count in Counter(names).items() if count > 1)


def _check(bundle: zipfile.ZipFile, member: str, name: str, digest: str) -> str:
    """The line naming what is wrong with the member, or "" when its sha256 is ``digest``."""
    try:
        data = bundle.read(member)
    except KeyError:
        return f"{name}: MISSING"
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as exc:
        return f"{name}: UNREADABLE ({exc})"
    return "" if hashlib.sha256(data).hexdigest() == digest else f"{name}: FAILED"


# ---------------------------------------------------------------- the command line

EXIT_BUILD_FAILED = 1
EXIT_VERIFY_FAILED = 17


@click.group(invoke_without_command=True)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the ZIP (default: dist/ in the checkout).",
)
@click.pass_context
def package(ctx: click.Context, out: Path | None) -> None:
    """Build saascore-<version>-<commit>.zip for offline deployment: the wheel, the
    migrations, the docs, the pinned requirements.lock and SHA256SUMS. Run it in a git
    clone; the same commit gives the same bytes. Prints the ZIP's path and sha256."""
    if ctx.invoked_subcommand is not None:
        return
    try:
        bundle = build_bundle(Path.cwd(), out)
    except PackagingError as exc:
        raise _Failed(str(exc), EXIT_BUILD_FAILED) from exc
    for warning in bundle.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"wrote {bundle.path} ({bundle.files} files and {SUMS})")
    click.echo(f"sha256 {bundle.sha256}")


@package.command()
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def verify(bundle: Path) -> None:
    """Recompute the checksums in the bundle's SHA256SUMS. Prints "ok: N files verified",
    or one line per file that does not match, is missing or is not listed, and exits 17."""
    try:
        result = verify_bundle(bundle)
    except PackagingError as exc:
        raise _Failed(str(exc), EXIT_VERIFY_FAILED) from exc
    if result.problems:
        for problem in result.problems:
            click.echo(problem)
        count = len(result.problems)
        raise _Failed(f"{bundle.name} failed verification: {count} problem(s)", EXIT_VERIFY_FAILED)
    click.echo(f"ok: {result.checked} files verified")


if __name__ == "__main__":
    package()
