"""`nox -s package` (tools/package.py): a byte-for-byte reproducible offline bundle, and `verify`.

The bundles are built from a snapshot of this checkout (its sources, committed to a fresh git
repository with a fixed date, or copied without git), so the tests neither depend on this
clone's history nor see edits made while they run.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import stat
import subprocess
import tomllib
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from tools.package import SOURCES, ZIP_EPOCH, PackagingError, provenance
from tools.package import package as package_command

REPO = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
TOP = f"saascore-{VERSION}"
WHEEL = f"wheels/saascore-{VERSION}-py3-none-any.whl"
COMMITTED = datetime(2025, 1, 2, 3, 4, 6, tzinfo=UTC)  # even seconds: a ZIP time's resolution
EXIT_VERIFY_FAILED = 17
GIT = shutil.which("git")


def copy_sources(into: Path) -> Path:
    """The files a bundle is made from, copied from this checkout into ``into``."""
    into.mkdir()
    for pattern in SOURCES:
        for path in REPO.glob(pattern):
            target = into / path.relative_to(REPO)
            if path.is_dir():
                shutil.copytree(path, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(path, target)
    return into


def git(checkout: Path, *args: str) -> str:
    date = COMMITTED.isoformat()
    env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,  # no signing or hooks from the developer's config
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_AUTHOR_DATE": date,
        "GIT_COMMITTER_DATE": date,
    }
    command = [GIT or "git", *args]
    done = subprocess.run(
        command, cwd=checkout, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git clone of this checkout's sources with one commit, dated ``COMMITTED``."""
    if GIT is None:
        pytest.skip("git is not installed")
    root = copy_sources(tmp_path_factory.mktemp("clone") / "saascore")
    git(root, "init", "--quiet")
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "--message", "snapshot")
    return root


@pytest.fixture(scope="module")
def unversioned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same sources with no git repository around them."""
    return copy_sources(tmp_path_factory.mktemp("copy") / "saascore")


@pytest.fixture(autouse=True)
def no_outside_git(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """git stops looking for a repository at the temporary folders, and no
    SOURCE_DATE_EPOCH is inherited from the environment."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path_factory.getbasetemp()))
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)


def package(cwd: Path, *args: str) -> Result:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(cwd)
        patch.delenv("SOURCE_DATE_EPOCH", raising=False)
        return CliRunner().invoke(package_command, list(args), catch_exceptions=False)


def built(result: Result) -> Path:
    assert 0 == result.exit_code, result.output
    match = re.search(r"^wrote (\S+\.zip) ", result.stdout, re.MULTILINE)
    assert match is not None, result.output
    return Path(match[1])


@pytest.fixture(scope="module")
def builds(checkout: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, Result]:
    """The commit packaged twice: from the clone's root, and from the docs/ folder of a
    second clone (other paths, other file times, a stricter umask) into another folder."""
    out = tmp_path_factory.mktemp("bundles")
    first = package(checkout, "--out", str(out / "first"))
    other = tmp_path_factory.mktemp("other") / "saascore"
    git(checkout, "clone", "--quiet", str(checkout), str(other))
    for path in (other / "src").rglob("*.py"):
        path.chmod(0o600)
    second = package(other / "docs", "--out", str(out / "second"))
    return first, second


@pytest.fixture(scope="module")
def bundle(builds: tuple[Result, Result]) -> Path:
    return built(builds[0])


@pytest.fixture(scope="module")
def unversioned_build(unversioned: Path, tmp_path_factory: pytest.TempPathFactory) -> Result:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GIT_CEILING_DIRECTORIES", str(unversioned.parent))
        return package(unversioned, "--out", str(tmp_path_factory.mktemp("unversioned")))


@pytest.fixture(scope="module")
def unversioned_bundle(unversioned_build: Result) -> Path:
    """A bundle built without git: the verify tests need no git."""
    return built(unversioned_build)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sums(bundle: Path) -> dict[str, str]:
    with zipfile.ZipFile(bundle) as archive:
        text = archive.read(f"{TOP}/SHA256SUMS").decode()
    return {line[66:]: line[:64] for line in text.splitlines()}


def verify(path: Path) -> Result:
    return CliRunner().invoke(package_command, ["verify", str(path)], catch_exceptions=False)


def one_line(result: Result) -> str:
    lines = result.output.strip().splitlines()
    assert 1 == len(lines), result.output
    return lines[0]


def rewrite(bundle: Path, into: Path, change: Callable[[str, bytes], bytes | None]) -> Path:
    """A copy of ``bundle`` whose entries pass through ``change`` (None drops one)."""
    with zipfile.ZipFile(bundle) as source, zipfile.ZipFile(into, "w") as target:
        for entry in source.infolist():
            data = change(entry.filename.removeprefix(f"{TOP}/"), source.read(entry))
            if data is not None:
                target.writestr(entry, data)
    return into


class TestBuild:
    def test_same_commit_same_bytes(self, builds: tuple[Result, Result]) -> None:
        """Packaging one commit in two clones, from any folder, gives identical bytes."""
        first, second = (built(result) for result in builds)
        assert first.name == second.name
        assert sha256(first) == sha256(second)

    def test_output_names_the_zip_and_its_sha256(
        self, checkout: Path, builds: tuple[Result, Result], bundle: Path
    ) -> None:
        """The ZIP is saascore-<version>-<12-digit commit>.zip; the output gives its path,
        the count of checksummed files and its sha256."""
        commit = git(checkout, "rev-parse", "HEAD")
        assert f"saascore-{VERSION}-{commit[:12]}.zip" == bundle.name
        files = len(sums(bundle))
        expected = f"wrote {bundle} ({files} files and SHA256SUMS)\nsha256 {sha256(bundle)}\n"
        assert expected == builds[0].stdout

    def test_layout(self, checkout: Path, bundle: Path) -> None:
        """Sorted entries under one folder: the wheel, the lock, the docs, the migrations,
        INSTALL.txt and SHA256SUMS listing every other file."""
        with zipfile.ZipFile(bundle) as archive:
            names = archive.namelist()
        assert sorted(names) == names
        assert all(name.startswith(f"{TOP}/") for name in names)
        inside = {name.removeprefix(f"{TOP}/") for name in names}
        docs = {f"docs/{p.name}" for p in (checkout / "docs").glob("*.md")}
        expected = {WHEEL, "requirements.lock", "INSTALL.txt", "SHA256SUMS", "migrations/env.py"}
        assert expected | docs | {"docs/README.md", "docs/CHANGELOG.md"} <= inside
        assert inside - {"SHA256SUMS"} == set(sums(bundle))
        assert any(name.startswith("migrations/versions/") for name in inside)

    def test_entries_are_stamped_alike(self, bundle: Path) -> None:
        """Every entry, of the bundle and of the wheel in it, has the commit's time; the
        bundle's are regular rw-r--r-- files."""
        stamp = COMMITTED.timetuple()[:6]
        with zipfile.ZipFile(bundle) as archive:
            entries = archive.infolist()
            wheel = zipfile.ZipFile(io.BytesIO(archive.read(f"{TOP}/{WHEEL}")))
        assert {stamp} == {entry.date_time for entry in entries}
        assert {0o100644 << 16} == {entry.external_attr for entry in entries}
        assert {stamp} == {entry.date_time for entry in wheel.infolist()}

    def test_verifies(self, bundle: Path) -> None:
        """The bundle verifies against its own SHA256SUMS."""
        assert f"ok: {len(sums(bundle))} files verified\n" == verify(bundle).output

    def test_lock_is_copied_not_resolved(self, checkout: Path, bundle: Path) -> None:
        """requirements.lock in the bundle is the committed file, byte for byte."""
        with zipfile.ZipFile(bundle) as archive:
            shipped = archive.read(f"{TOP}/requirements.lock")
        assert (checkout / "requirements.lock").read_bytes() == shipped

    def test_outside_a_checkout(self, tmp_cwd: Path) -> None:
        """Outside a saascore checkout the command refuses in one line."""
        result = package(tmp_cwd)
        assert 1 == result.exit_code
        assert "run `nox -s package` in a saascore source checkout" in one_line(result)


class TestProvenance:
    def test_clean_clone(self, checkout: Path) -> None:
        """In a clean clone the time is the last commit's and the commit is HEAD."""
        source = provenance(checkout)
        assert int(COMMITTED.timestamp()) == source.epoch
        assert git(checkout, "rev-parse", "HEAD") == source.commit
        assert (False, ()) == (source.dirty, source.warnings)

    def test_changed_source_is_dirty(self, checkout: Path) -> None:
        """A change to a file the bundle is made from marks it -dirty, with a warning."""
        added = checkout / "docs" / "draft.md"
        added.write_text("unfinished\n")
        try:
            source = provenance(checkout)
        finally:
            added.unlink()
        assert source.dirty
        assert source.label.endswith("-dirty")
        assert "uncommitted changes" in source.warnings[0]

    def test_other_files_do_not_make_it_dirty(self, checkout: Path) -> None:
        """Files outside what the bundle is made from (caches, notes) leave it clean."""
        cache = checkout / ".some_tool_cache"
        cache.write_text("x\n")
        try:
            assert not provenance(checkout).dirty
        finally:
            cache.unlink()

    def test_source_date_epoch_wins(self, checkout: Path) -> None:
        """A SOURCE_DATE_EPOCH set in the environment is used as it is."""
        assert 1700000000 == provenance(checkout, {"SOURCE_DATE_EPOCH": "1700000000"}).epoch

    def test_bad_source_date_epoch(self, checkout: Path) -> None:
        """A SOURCE_DATE_EPOCH that is not a count of seconds is refused."""
        with pytest.raises(PackagingError, match="SOURCE_DATE_EPOCH"):
            provenance(checkout, {"SOURCE_DATE_EPOCH": "yesterday"})

    def test_without_git(self, unversioned: Path) -> None:
        """Without git the files are dated 1980-01-01, no commit is named, and it warns."""
        source = provenance(unversioned)
        assert (ZIP_EPOCH, None, "nogit") == (source.epoch, source.commit, source.label)
        assert "no git commit" in source.warnings[0]


class TestWithoutGit:
    def test_named_nogit_and_dated_1980(self, unversioned_build: Result) -> None:
        """A copy without .git still packages: named nogit, dated 1980-01-01, with a warning."""
        bundle = built(unversioned_build)
        assert f"saascore-{VERSION}-nogit.zip" == bundle.name
        assert "warning: no git commit found" in unversioned_build.stderr
        with zipfile.ZipFile(bundle) as archive:
            assert {(1980, 1, 1, 0, 0, 0)} == {entry.date_time for entry in archive.infolist()}


class TestVerify:
    def test_intact_bundle(self, unversioned_bundle: Path) -> None:
        """An intact bundle verifies: every file in SHA256SUMS is counted."""
        result = verify(unversioned_bundle)
        assert 0 == result.exit_code, result.output
        assert f"ok: {len(sums(unversioned_bundle))} files verified\n" == result.output

    def test_changed_byte_is_named(self, unversioned_bundle: Path, tmp_path: Path) -> None:
        """One changed byte in one file fails verification, naming that file only."""

        def flip(name: str, data: bytes) -> bytes:
            if name != "docs/README.md":
                return data
            return data[:100] + bytes([data[100] ^ 1]) + data[101:]

        result = verify(rewrite(unversioned_bundle, tmp_path / "changed.zip", flip))
        assert EXIT_VERIFY_FAILED == result.exit_code
        assert "docs/README.md: FAILED\n" == result.stdout
        assert "Error: changed.zip failed verification: 1 problem(s)\n" == result.stderr

    def test_missing_and_unlisted_files_are_named(
        self, unversioned_bundle: Path, tmp_path: Path
    ) -> None:
        """A file listed but absent, and a file present but not listed, are both named."""

        def swap(name: str, data: bytes) -> bytes | None:
            return None if name == "migrations/env.py" else data

        swapped = rewrite(unversioned_bundle, tmp_path / "swapped.zip", swap)
        with zipfile.ZipFile(swapped, "a") as archive:
            archive.writestr(f"{TOP}/wheels/extra-1.0-py3-none-any.whl", b"not listed")
        result = verify(swapped)
        assert EXIT_VERIFY_FAILED == result.exit_code
        expected = (
            "migrations/env.py: MISSING\nwheels/extra-1.0-py3-none-any.whl: NOT IN SHA256SUMS\n"
        )
        assert expected == result.stdout

    def test_corrupted_zip_bytes(self, unversioned_bundle: Path, tmp_path: Path) -> None:
        """A byte flipped in the ZIP file itself, inside the wheel's data, names the wheel."""
        with zipfile.ZipFile(unversioned_bundle) as archive:
            entry = archive.getinfo(f"{TOP}/{WHEEL}")
        data = bytearray(unversioned_bundle.read_bytes())
        data[entry.header_offset + 30 + len(entry.filename) + entry.compress_size // 2] ^= 0xFF
        corrupted = tmp_path / "corrupted.zip"
        corrupted.write_bytes(bytes(data))
        result = verify(corrupted)
        assert EXIT_VERIFY_FAILED == result.exit_code
        assert result.stdout.startswith(f"{WHEEL}: ")

    def test_not_a_zip(self, tmp_path: Path) -> None:
        """A file that is not a ZIP is refused in one line."""
        text = tmp_path / "bundle.zip"
        text.write_text("hello\n")
        result = verify(text)
        assert EXIT_VERIFY_FAILED == result.exit_code
        assert "not a readable ZIP file" in one_line(result)

    def test_zip_without_sums(self, tmp_path: Path) -> None:
        """A ZIP with no SHA256SUMS is refused in one line."""
        other = tmp_path / "other.zip"
        with zipfile.ZipFile(other, "w") as archive:
            archive.writestr("saascore-0.1.0/README.md", b"hi")
        result = verify(other)
        assert EXIT_VERIFY_FAILED == result.exit_code
        assert "no <folder>/SHA256SUMS" in one_line(result)

    @pytest.mark.parametrize(
        ("entry", "problem"),
        [
            ("saascore-0.1.0/../../etc/cron.d/x", "PATH LEAVES THE BUNDLE"),
            ("/etc/cron.d/x", "ABSOLUTE PATH"),
            ("saascore-0.1.0/docs/link", "SYMBOLIC LINK"),
        ],
    )
    def test_entries_that_would_unpack_elsewhere_are_refused(
        self, unversioned_bundle: Path, tmp_path: Path, entry: str, problem: str
    ) -> None:
        """A bundle with an entry that would land outside its folder (``..``, an absolute
        path) or that is a symbolic link fails verification, naming it, even when
        SHA256SUMS lists it."""
        planted = tmp_path / "planted.zip"
        shutil.copy(unversioned_bundle, planted)
        with zipfile.ZipFile(planted, "a") as archive:
            info = zipfile.ZipInfo(entry, date_time=(1980, 1, 1, 0, 0, 0))
            if problem == "SYMBOLIC LINK":
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, b"/etc/passwd")

        result = verify(planted)

        assert EXIT_VERIFY_FAILED == result.exit_code
        assert f"{entry}: {problem}" in result.output


PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)")


def lock_pins() -> dict[str, list[str]]:
    """Each pinned name in requirements.lock with its versions (one per marker)."""
    pins: dict[str, list[str]] = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        match = PIN.match(line)
        if match:
            pins.setdefault(canonicalize_name(match[1]), []).append(match[2])
    return pins


class TestRequirementsLock:
    def test_every_dependency_is_pinned(self) -> None:
        """Every [project].dependencies entry is pinned in requirements.lock, to a version
        its specifier allows (re-run the `uv pip compile` line at the top of the lock)."""
        pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
        pins = lock_pins()
        unpinned = []
        for requirement in map(Requirement, pyproject["project"]["dependencies"]):
            versions = pins.get(canonicalize_name(requirement.name), [])
            if not any(requirement.specifier.contains(v, prereleases=True) for v in versions):
                unpinned.append(str(requirement))
        assert [] == unpinned

    def test_every_pin_has_hashes(self) -> None:
        """Every pin carries sha256 hashes, so `pip install --require-hashes` works."""
        blocks = re.split(r"\n(?=[A-Za-z0-9])", (REPO / "requirements.lock").read_text())
        pins = [block for block in blocks if PIN.match(block)]
        assert [] == [block.split()[0] for block in pins if "--hash=sha256:" not in block]

    def test_runtime_only(self) -> None:
        """Test and lint tools are not in the lock: the bundle is for production."""
        assert set() == {"pytest", "ruff", "mypy", "localstripe"} & set(lock_pins())


def test_the_wheel_is_typed_and_holds_no_release_tooling(tmp_path: Path) -> None:
    """``py.typed`` ships, so users' type checkers read saascore's types; the bundle
    builder (tools/) stays in the checkout."""
    import hatchling.build  # noqa: PLC0415 - the pinned build backend of the test env

    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(REPO)
        wheel = tmp_path / hatchling.build.build_wheel(str(tmp_path))
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())

    assert "saascore/py.typed" in names
    assert not {n for n in names if n.startswith("tools/") or n.endswith("/packaging.py")}
