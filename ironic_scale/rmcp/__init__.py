"""RMCP+ / IPMI-over-LAN primitives shared by both ends: framing, cipher suites, keys.

The simulator (BMC side) and the native client (console side) use the same
arithmetic; each is checked against independent peers (ipmitool, ipmipower,
pyghmi and OpenIPMI's ipmi_sim), so a shared mistake cannot hide.
"""
