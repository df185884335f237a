"""Sessions that mirror the runbook: dev, seed, lint, typecheck, tests.

`nox` alone runs lint, typecheck and tests. Sessions run on the Python that runs nox
(3.11 or newer) and use uv when it is installed.
"""

from __future__ import annotations

import hashlib
import sys

import nox

if sys.version_info < (3, 11):  # noqa: UP036 -- say it before the resolver does, at length
    sys.exit(f"saascore needs Python 3.11 or newer; this is {sys.version.split()[0]}")

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["lint", "typecheck", "tests"]
# One set of environments per interpreter: running nox with another Python never reuses an
# environment built for the previous one.
_PYTHON = hashlib.sha256(sys.executable.encode()).hexdigest()[:8]
nox.options.envdir = f".nox/py{sys.version_info[0]}{sys.version_info[1]}-{_PYTHON}"

PYPROJECT = nox.project.load_toml("pyproject.toml")


def install(session: nox.Session, *groups: str) -> None:
    """Install the project (editable, with the Postgres and Redis drivers) and the named
    dependency groups."""
    requirements = [r for g in groups for r in nox.project.dependency_groups(PYPROJECT, g)]
    session.install("-e", ".[postgres,redis]", *requirements)


@nox.session
def dev(session: nox.Session) -> None:
    """Run the app on 127.0.0.1:8000: SQLite, demo data (README command 1)."""
    install(session)
    session.run("saascore", "dev", *session.posargs)


@nox.session
def seed(session: nox.Session) -> None:
    """Migrate the database named by DATABASE_URL and load the demo data."""
    install(session)
    session.run("saascore", "db", "upgrade")
    session.run("saascore", "db", "seed", *session.posargs)


# The wheel's build backend, pinned for bundles: its version is written into the wheel, so
# the same commit gives the same bytes only with the same hatchling.
HATCHLING = "hatchling==1.33.0"


@nox.session
def package(session: nox.Session) -> None:
    """The offline deployment bundle in dist/ (`-- --out DIR`, or `-- verify ZIP`)."""
    install(session)
    session.install(HATCHLING)
    session.run("python", "tools/package.py", *session.posargs)


@nox.session
def tests(session: nox.Session) -> None:
    """Unit and integration tests (README command 2). Postgres tests run when
    SAASCORE_TEST_POSTGRES_URL is set; CI sets it and requires them."""
    install(session, "tests")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (check and format) and the import-linter layer contracts."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", "src", "tests", "tools", "bench", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "tests", "tools", "bench", "noxfile.py")
    session.run("lint-imports", env={"PYTHONPATH": "src"})


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site into site/ (MkDocs, strict: any warning fails)."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "docs"))
    session.run("mkdocs", "build", "--strict", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """The load benchmark on SQLite and Postgres (docs/performance.md); never part of the
    tests. `-- --quick` for a smaller run, `-- --help` for the rest."""
    install(session, "bench")
    session.run("python", "-m", "bench.run", *session.posargs)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on src."""
    install(session, "typecheck")
    session.run("mypy")
