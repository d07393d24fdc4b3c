"""ironic-scale: run OpenStack Ironic power polling at 25,000 nodes."""
