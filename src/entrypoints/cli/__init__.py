"""The ``saascore`` admin command."""
