"""Shared vocabulary, the bottom layer: identifier formats, masks, administrative divisions.

Pure and dependency-free within jinshu: everything else may import it, it imports nothing of jinshu.
"""
