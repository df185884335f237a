"""The load benchmark behind `nox -s bench`: never part of the test suite (docs/performance.md)."""
