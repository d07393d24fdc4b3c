"""Ironic side of the native IPMI driver: hardware type ``native-ipmi`` and its interfaces.

Thin over :mod:`ironic_scale.ipmi`: these modules translate Ironic's node,
driver_info and states into IPMI commands and back, and never start a process.
"""
