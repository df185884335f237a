"""In-memory adapters: real implementations of the ports, for unit tests and users' own tests."""

from adapters.memory.uow import InMemoryDatabase, InMemoryUnitOfWork

__all__ = ["InMemoryDatabase", "InMemoryUnitOfWork"]
