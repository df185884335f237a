"""Adapters: one technology per module, each implementing a saascore port."""
