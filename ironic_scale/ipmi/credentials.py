"""What identifies one BMC session: where, who, and how to log in."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

PRIV_LEVELS = {"CALLBACK": 1, "USER": 2, "OPERATOR": 3, "ADMINISTRATOR": 4}


@dataclass(frozen=True)
class BmcCredentials:
    """Login parameters of one BMC. Secrets are kept out of repr() and the cache key."""

    address: str
    port: int = 623
    username: str = ""
    password: str = field(default="", repr=False)
    kg: bytes | None = field(default=None, repr=False)  # BMC key; None: use the password
    priv_level: int = PRIV_LEVELS["ADMINISTRATOR"]
    cipher_suite: int | None = None  # None: try 17, then 3
    # Single bridging (IPMI Send Message): (target channel, target address).
    bridge: tuple[int, int] | None = None

    @property
    def session_key(self) -> tuple:
        """Cache key: a changed password or Kg makes a new session, never an old one."""
        secret = hashlib.sha256(self.password.encode() + b"\0" + (self.kg or b"")).hexdigest()
        return (self.address, self.port, self.username, secret, self.priv_level, self.cipher_suite)

    @property
    def target(self) -> str:
        return f"{self.address}:{self.port}"
