"""Sharing between departments (docs/regulation.md, pillar 3): the exchange."""
