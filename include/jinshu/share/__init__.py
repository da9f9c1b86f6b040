"""Sharing between departments (docs/regulation.md#sharing): the exchange."""
