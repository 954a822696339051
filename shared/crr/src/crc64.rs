//! CRC-64/XZ (OSS calls it CRC-64/ECMA): the checksum OSS keeps of every object and
//! reports in `x-oss-hash-crc64ecma`. crr computes it while bytes stream through, and
//! combines the CRCs of parts the way OSS does for multipart objects, so a replica is
//! verified end to end whatever its part layout.
//!
//! Reflected polynomial `0xC96C5795D7870F42`, initial value and final XOR all ones
//! (the check value of `"123456789"` is `0x995DC9BBDF1939FA`). Computed eight bytes at a
//! time (slicing-by-8) so hashing keeps up with the network.

/// The reflected ECMA-182 polynomial.
const POLY: u64 = 0xC96C_5795_D787_0F42;

const TABLES: [[u64; 256]; 8] = tables();

const fn tables() -> [[u64; 256]; 8] {
    let mut t = [[0u64; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u64;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ POLY } else { crc >> 1 };
            bit += 1;
        }
        t[0][i] = crc;
        i += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = t[k - 1][i];
            t[k][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            i += 1;
        }
        k += 1;
    }
    t
}

/// A running CRC-64 over bytes fed in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crc64 {
    register: u64,
}

impl Default for Crc64 {
    fn default() -> Self {
        Crc64::new()
    }
}

impl Crc64 {
    pub const fn new() -> Self {
        Crc64 { register: !0 }
    }

    pub fn update(&mut self, mut data: &[u8]) {
        let mut crc = self.register;
        while data.len() >= 8 {
            let mut word = [0u8; 8];
            word.copy_from_slice(&data[..8]);
            let v = u64::from_le_bytes(word) ^ crc;
            crc = TABLES[7][(v & 0xff) as usize]
                ^ TABLES[6][((v >> 8) & 0xff) as usize]
                ^ TABLES[5][((v >> 16) & 0xff) as usize]
                ^ TABLES[4][((v >> 24) & 0xff) as usize]
                ^ TABLES[3][((v >> 32) & 0xff) as usize]
                ^ TABLES[2][((v >> 40) & 0xff) as usize]
                ^ TABLES[1][((v >> 48) & 0xff) as usize]
                ^ TABLES[0][(v >> 56) as usize];
            data = &data[8..];
        }
        for &b in data {
            crc = TABLES[0][((crc ^ b as u64) & 0xff) as usize] ^ (crc >> 8);
        }
        self.register = crc;
    }

    /// The CRC of everything fed so far.
    pub fn finish(&self) -> u64 {
        !self.register
    }
}

/// The CRC-64 of `data`.
pub fn checksum(data: &[u8]) -> u64 {
    let mut crc = Crc64::new();
    crc.update(data);
    crc.finish()
}

/// The CRC of `a` followed by `b`, from `crc_a`, `crc_b` and the length of `b` alone:
/// how OSS derives a multipart object's CRC from its parts' (zlib's `crc32_combine`,
/// with 64-bit matrices over GF(2)).
pub fn combine(crc_a: u64, crc_b: u64, len_b: u64) -> u64 {
    if len_b == 0 {
        return crc_a;
    }
    // The operator for one zero bit, then squared into the operators for 2 and 4 bits.
    let mut odd = [0u64; 64];
    odd[0] = POLY;
    for (n, row) in odd.iter_mut().enumerate().skip(1) {
        *row = 1 << (n - 1);
    }
    let mut even = [0u64; 64];
    square(&mut even, &odd);
    square(&mut odd, &even);
    // Applies len_b zero bytes to crc_a, one bit of len_b per squaring.
    let mut crc = crc_a;
    let mut len = len_b;
    loop {
        square(&mut even, &odd);
        if len & 1 == 1 {
            crc = times(&even, crc);
        }
        len >>= 1;
        if len == 0 {
            break;
        }
        square(&mut odd, &even);
        if len & 1 == 1 {
            crc = times(&odd, crc);
        }
        len >>= 1;
        if len == 0 {
            break;
        }
    }
    crc ^ crc_b
}

fn times(matrix: &[u64; 64], mut vector: u64) -> u64 {
    let mut sum = 0;
    let mut row = 0;
    while vector != 0 {
        if vector & 1 == 1 {
            sum ^= matrix[row];
        }
        vector >>= 1;
        row += 1;
    }
    sum
}

fn square(out: &mut [u64; 64], matrix: &[u64; 64]) {
    for (n, row) in out.iter_mut().enumerate() {
        *row = times(matrix, matrix[n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One bit at a time, straight from the definition: the oracle for the tables.
    fn bitwise(data: &[u8]) -> u64 {
        let mut crc = !0u64;
        for &b in data {
            crc ^= b as u64;
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ POLY } else { crc >> 1 };
            }
        }
        !crc
    }

    #[test]
    fn check_values() {
        assert_eq!(checksum(b"123456789"), 0x995D_C9BB_DF19_39FA, "the catalogued check value of CRC-64/XZ");
        assert_eq!(checksum(b""), 0);
    }

    #[test]
    fn slicing_matches_the_bitwise_definition_at_every_alignment() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        for len in [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 999, 1000] {
            assert_eq!(checksum(&data[..len]), bitwise(&data[..len]), "{len} bytes");
        }
        let mut split = Crc64::new();
        split.update(&data[..3]);
        split.update(&data[3..500]);
        split.update(&data[500..]);
        assert_eq!(split.finish(), checksum(&data), "fed in pieces");
    }

    #[test]
    fn combined_parts_equal_the_whole() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        for cut in [0, 1, 8, 1000, 102_400, 299_999, 300_000] {
            let (a, b) = data.split_at(cut);
            assert_eq!(combine(checksum(a), checksum(b), b.len() as u64), checksum(&data), "cut at {cut}");
        }
        let parts: Vec<&[u8]> = data.chunks(102_400).collect();
        let combined = parts.iter().fold(0, |crc, p| combine(crc, checksum(p), p.len() as u64));
        assert_eq!(combined, checksum(&data), "folded over parts from the empty CRC");
    }
}
