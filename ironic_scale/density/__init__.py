"""Density test: a real Ironic syncing a simulated fleet, per driver."""
