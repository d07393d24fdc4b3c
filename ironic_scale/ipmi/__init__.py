"""The protocol side of the native driver: persistent RMCP+ sessions to many BMCs.

Knows nothing about Ironic. Entry points: ``sessions.SessionManager.call`` for
one command, ``poller.poll_power`` for a sweep, ``commands`` for typed helpers.
"""
