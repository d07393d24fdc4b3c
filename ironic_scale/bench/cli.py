"""``ironic-scale bench``: placeholder replaced below."""
import argparse


def add_bench(sub: argparse._SubParsersAction) -> None:
    pass
