"""BMC fleet simulator: thousands of IPMI 2.0 / RMCP+ BMCs over UDP on loopback.

Depends on nothing else in ironic_scale, so it can run beside any client.
"""
