"""Measurements of sub-networks, one module per concern.

``counting`` (exact MACs/params of any module by forward hooks), ``latency`` and ``accuracy``. Nothing is imported here:
each module pulls in torch, so callers import the one they need.
"""
