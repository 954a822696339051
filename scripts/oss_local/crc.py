"""CRC-64/ECMA-182 the way OSS reports it in x-oss-hash-crc64ecma.

OSS's "crc64ecma" is the reflected CRC-64 with polynomial 0x42F0E1EBA9EA3693, initial value and
final XOR all ones (catalogued as CRC-64/XZ; crcmod's predefined 'crc-64-xz'). Whole objects are
never read twice: the server updates a CRC while a body streams to disk, and derives the CRC of a
concatenation (appends, multipart completion) from the CRCs and lengths of its pieces.
"""

import crcmod

_POLY = 0x142F0E1EBA9EA3693  # crcmod spells the polynomial with its x^64 term
_REFLECTED = 0xC96C5795D7870F42  # the polynomial bit-reversed, as the reflected algorithm uses it


class Crc64:
    """A running CRC over data given in pieces."""

    def __init__(self):
        self._crc = crcmod.Crc(_POLY, initCrc=0, rev=True, xorOut=0xFFFFFFFFFFFFFFFF)

    def update(self, data):
        self._crc.update(data)

    @property
    def value(self):
        return self._crc.crcValue


def crc64(data):
    c = Crc64()
    c.update(data)
    return c.value


def _gf2_times(matrix, vector):
    total = 0
    i = 0
    while vector:
        if vector & 1:
            total ^= matrix[i]
        vector >>= 1
        i += 1
    return total


def _gf2_square(matrix):
    return [_gf2_times(matrix, matrix[n]) for n in range(64)]


def combine(crc1, crc2, len2):
    """CRC of A + B from crc1 = CRC(A), crc2 = CRC(B) and len2 = len(B) (zlib's method: apply
    len2 zero bytes to crc1 with a matrix operator, then add crc2; the pre- and post-conditioning
    of this CRC cancel out in the XOR)."""
    if len2 == 0:
        return crc1
    odd = [_REFLECTED] + [1 << n for n in range(63)]  # operator for one zero bit
    even = _gf2_square(odd)  # two zero bits
    odd = _gf2_square(even)  # four zero bits
    while True:
        even = _gf2_square(odd)  # first pass: one zero byte
        if len2 & 1:
            crc1 = _gf2_times(even, crc1)
        len2 >>= 1
        if not len2:
            break
        odd = _gf2_square(even)
        if len2 & 1:
            crc1 = _gf2_times(odd, crc1)
        len2 >>= 1
        if not len2:
            break
    return crc1 ^ crc2
