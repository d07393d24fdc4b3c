"""Several conductors per host and across hosts on Ironic's own hash ring.

Predict which conductor owns each node, report balance, plan changes before
they happen, check a set of configs, and generate per-instance units and
configs. Placement always goes through tooz's ``HashRing``, the class Ironic
builds its rings with, never a re-implementation.
"""
