"""What identifies one BMC session: where, who, and how to log in."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

PRIV_LEVELS = {"CALLBACK": 1, "USER": 2, "OPERATOR": 3, "ADMINISTRATOR": 4}
# Cipher suites the engine implements (RAKP-HMAC-SHA1 / -SHA256, AES-CBC-128).
CIPHER_SUITES = (3, 17)
# IPMI 2.0 limits (RAKP 1 user name; the 20-byte K_UID and K_G keys).
MAX_USERNAME_BYTES = 16
MAX_PASSWORD_BYTES = 20
MAX_KG_BYTES = 20
MAX_ADDRESS_CHARS = 255


def is_int(value: object) -> bool:
    """An int that is not a bool (True is an int to Python, never a port to us)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _utf8_length(value: object, name: str) -> int:
    """Bytes ``value`` takes on the wire; refuses what the IO thread could not encode."""
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a str, not {type(value).__name__}")
    try:
        return len(value.encode())
    except UnicodeEncodeError:
        raise ValueError(f"{name} is not valid Unicode (it has a lone surrogate)") from None


@dataclass(frozen=True, slots=True)
class BmcCredentials:
    """Login parameters of one BMC. Secrets are kept out of repr() and the cache key.

    Every field is checked on construction, so a bad value fails in the caller's
    thread with a ValueError (one line, never a secret) instead of inside the
    engine's IO thread, where it would break the session of every node.
    """

    address: str
    port: int = 623
    username: str = ""
    password: str = field(default="", repr=False)
    kg: bytes | None = field(default=None, repr=False)  # BMC key; None: use the password
    priv_level: int = PRIV_LEVELS["ADMINISTRATOR"]
    cipher_suite: int | None = None  # None: try 17, then 3
    # Single bridging (IPMI Send Message): (target channel, target address).
    bridge: tuple[int, int] | None = None
    # session_key, computed once: the engine looks it up on every request.
    _key: tuple = field(init=False, repr=False, compare=False, hash=False, default=())

    def __post_init__(self) -> None:
        self._check_address()
        if not is_int(self.port) or not 1 <= self.port <= 65535:
            raise ValueError("port must be an int in 1-65535")
        if _utf8_length(self.username, "username") > MAX_USERNAME_BYTES:
            raise ValueError(f"username is longer than {MAX_USERNAME_BYTES} bytes")
        if _utf8_length(self.password, "password") > MAX_PASSWORD_BYTES:
            raise ValueError(f"password is longer than {MAX_PASSWORD_BYTES} bytes")
        if self.kg is not None and (not isinstance(self.kg, bytes)
                                    or not 0 < len(self.kg) <= MAX_KG_BYTES):
            raise ValueError(f"kg must be None or 1-{MAX_KG_BYTES} bytes")
        if not is_int(self.priv_level) or self.priv_level not in PRIV_LEVELS.values():
            raise ValueError("priv_level must be an int in 1-4")
        if self.cipher_suite is not None and (not is_int(self.cipher_suite)
                                              or self.cipher_suite not in CIPHER_SUITES):
            raise ValueError(f"cipher_suite must be None or one of {CIPHER_SUITES}")
        self._check_bridge()
        secret = hashlib.sha256(self.password.encode() + b"\0" + (self.kg or b"")).hexdigest()
        object.__setattr__(self, "_key", (self.address, self.port, self.username, secret,
                                          self.priv_level, self.cipher_suite))

    def _check_address(self) -> None:
        """A non-empty printable str: replies are matched against it character for character."""
        if not isinstance(self.address, str) or not self.address:
            raise ValueError("address must be a non-empty str")
        if len(self.address) > MAX_ADDRESS_CHARS:
            raise ValueError(f"address is longer than {MAX_ADDRESS_CHARS} characters")
        if not self.address.isprintable() or any(c.isspace() for c in self.address):
            raise ValueError("address contains whitespace or control characters")

    def _check_bridge(self) -> None:
        if self.bridge is None:
            return
        if (not isinstance(self.bridge, tuple) or len(self.bridge) != 2
                or not all(is_int(v) for v in self.bridge)
                or not 0 <= self.bridge[0] <= 0x0F or not 0 <= self.bridge[1] <= 0xFF):
            raise ValueError("bridge must be None or (channel 0-15, address 0-255)")

    @property
    def session_key(self) -> tuple:
        """Cache key: a changed password or Kg makes a new session, never an old one."""
        return self._key

    @property
    def target(self) -> str:
        return f"{self.address}:{self.port}"
