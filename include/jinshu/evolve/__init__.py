"""Contracts that change: a dataset table brought to its contract, or refused with the reason.

:mod:`.diff` decides (pure: contract and live columns in, steps out);
:mod:`.migrate` reads the live table, applies the steps and audits them.
"""
