"""Measure what a power poll costs: native sessions against ipmitool and ipmipower."""
