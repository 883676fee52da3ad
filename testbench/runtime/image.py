"""Program image: every configuration record of a tile program, versioned and checksummed.

Layout (little-endian)::

    offset  size  field
    0       8     magic b"RDUPROG\\0"
    8       2     format version (IMAGE_VERSION)
    10      2     reserved, 0
    12      4     fingerprint of the RDUParams the program was built for (CRC-32)
    16      4     number of 32-bit payload words N
    20      4     CRC-32 of the payload bytes
    24      4*N   payload: the Program Load word stream (config records, see
                  hdl.tile.config_distributor)

The runtime refuses an image whose magic, version, length, checksum or
fingerprint is wrong before any of it reaches the hardware.
"""

import json
import struct
import zlib
from dataclasses import dataclass

import numpy as np

from hdl.rdu.config import RDUParams

__all__ = ["IMAGE_VERSION", "ImageError", "ProgramImage", "config_fingerprint"]

MAGIC = b"RDUPROG\0"
IMAGE_VERSION = 1
_HEADER = struct.Struct("<8sHHIII")


class ImageError(ValueError):
    """A program image that cannot be loaded; the message says why."""


def config_fingerprint(config: RDUParams) -> int:
    """CRC-32 of the configuration's canonical JSON: images run only where they were built for."""
    return zlib.crc32(json.dumps(config.to_json(), sort_keys=True).encode())


@dataclass(frozen=True)
class ProgramImage:
    """The Program Load words of one tile program and the RDU configuration they target."""

    words: tuple[int, ...]
    fingerprint: int

    @classmethod
    def for_config(cls, config: RDUParams, words) -> "ProgramImage":
        words = tuple(int(w) for w in words)
        bad = [w for w in words if not 0 <= w < 1 << 32]
        if bad:
            raise ImageError(f"payload word {bad[0]:#x} does not fit in 32 bits")
        return cls(words, config_fingerprint(config))

    def to_bytes(self) -> bytes:
        payload = np.asarray(self.words, dtype="<u4").tobytes()
        return _HEADER.pack(MAGIC, IMAGE_VERSION, 0, self.fingerprint, len(self.words),
                            zlib.crc32(payload)) + payload

    @classmethod
    def from_bytes(cls, blob: bytes) -> "ProgramImage":
        if len(blob) < _HEADER.size:
            raise ImageError(f"image is {len(blob)} bytes, shorter than its "
                             f"{_HEADER.size}-byte header")
        magic, version, _, fingerprint, count, crc = _HEADER.unpack_from(blob)
        if magic != MAGIC:
            raise ImageError(f"not a program image (magic {magic!r}, expected {MAGIC!r})")
        if version != IMAGE_VERSION:
            raise ImageError(f"image format version {version}; this runtime reads "
                             f"version {IMAGE_VERSION}")
        payload = blob[_HEADER.size:]
        if len(payload) != 4 * count:
            raise ImageError(f"image header announces {count} words ({4 * count} bytes) but "
                             f"{len(payload)} payload bytes follow")
        if zlib.crc32(payload) != crc:
            raise ImageError(f"image checksum mismatch (header {crc:#010x}, payload "
                             f"{zlib.crc32(payload):#010x}): the image is corrupted")
        words = tuple(int(w) for w in np.frombuffer(payload, dtype="<u4"))
        return cls(words, fingerprint)

    def check_for(self, config: RDUParams) -> None:
        """Raise ImageError unless the image was built for ``config``."""
        if self.fingerprint != config_fingerprint(config):
            here = config_fingerprint(config)
            raise ImageError(f"image built for another RDU configuration (fingerprint "
                             f"{self.fingerprint:#010x}, this RDU {here:#010x})")
