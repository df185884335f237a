"""Entrypoints: the composition root, the web app and the CLI."""
