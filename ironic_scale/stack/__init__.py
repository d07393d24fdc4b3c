"""A real Ironic on loopback: config from deploy/, processes, enrollment."""
