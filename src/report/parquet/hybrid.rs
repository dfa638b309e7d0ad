//! Parquet's RLE / bit-packing hybrid encoding of small unsigned integers: the dictionary codes
//! and definition levels of the pages written here.
//!
//! Format: <https://parquet.apache.org/docs/file-format/data-pages/encodings/#run-length-encoding--bit-packing-hybrid-rle--3>.
//! A run is a header (ULEB128) and then either one value repeated (`header = count << 1`, the
//! value in `ceil(bit_width / 8)` little-endian bytes) or groups of eight values bit-packed
//! least significant bit first (`header = groups << 1 | 1`, `bit_width` bytes a group).
//!
//! Values are looked at eight at a time, as the bit-packed runs hold them: a group of eight
//! equal values starts or extends a repeated run, any other group joins a bit-packed one. Runs
//! that do not fill whole groups are bit-packed (polars' encoder repeats any run of eight); the
//! values read back are the same, written in one pass with no buffer.

/// Values per bit-packed group.
const GROUP: usize = 8;

/// Appends `values` (each mapped by `value` to a number below `2^bit_width`), hybrid-encoded, to
/// `out`. A final bit-packed group of fewer than eight values is padded with zeros, which
/// readers ignore past the page's count of values.
pub fn encode<T: Copy>(values: &[T], value: impl Fn(T) -> u32, bit_width: u32, out: &mut Vec<u8>) {
    debug_assert!(bit_width <= 32);
    // The run being gathered: `start..at` holds bit-packed groups, or one value repeated.
    let mut start = 0;
    let mut repeated: Option<u32> = None;
    for (g, group) in values.chunks(GROUP).enumerate() {
        let at = g * GROUP;
        let first = value(group[0]);
        let equal = group.iter().all(|&v| value(v) == first);
        match (equal, repeated) {
            (true, Some(r)) if r == first => continue,
            (true, _) => {
                flush(&values[start..at], &value, repeated, bit_width, out);
                (start, repeated) = (at, Some(first));
            }
            (false, Some(_)) => {
                flush(&values[start..at], &value, repeated, bit_width, out);
                (start, repeated) = (at, None);
            }
            (false, None) => {}
        }
    }
    flush(&values[start..], &value, repeated, bit_width, out);
}

/// Writes one run: `run` repeated (`Some(value)`), or its values bit-packed.
fn flush<T: Copy>(run: &[T], value: &impl Fn(T) -> u32, repeated: Option<u32>, bit_width: u32, out: &mut Vec<u8>) {
    if run.is_empty() {
        return;
    }
    match repeated {
        Some(v) => repeat(run.len(), v, bit_width, out),
        None => {
            uleb128((run.len().div_ceil(GROUP) as u64) << 1 | 1, out);
            out.reserve(run.len().div_ceil(GROUP) * bit_width as usize);
            let width = bit_width as usize;
            // Eight values of at most 16 bits fill at most 128: each group packed in one word,
            // out as its `bit_width` bytes.
            let whole = if width <= 16 { run.len() / GROUP * GROUP } else { 0 };
            for group in run[..whole].chunks_exact(GROUP) {
                let packed = group.iter().enumerate().fold(0u128, |p, (k, &v)| p | u128::from(value(v)) << (k * width));
                out.extend_from_slice(&packed.to_le_bytes()[..width]);
            }
            for group in run[whole..].chunks(GROUP) {
                // Wider values (eight of at most 32 bits are `bit_width` whole bytes) and a
                // final group of fewer than eight: out byte by byte.
                let mut bits: u64 = 0;
                let mut held = 0;
                for &v in group {
                    bits |= u64::from(value(v)) << held;
                    held += bit_width;
                    while held >= 8 {
                        out.push(bits as u8);
                        bits >>= 8;
                        held -= 8;
                    }
                }
                // A short (final) group: the rest of its bytes, as if padded with zeros.
                let missing = (GROUP - group.len()) as u32 * bit_width + held;
                for _ in 0..missing.div_ceil(8) {
                    out.push(bits as u8);
                    bits >>= 8;
                }
            }
        }
    }
}

/// Appends one run of `count` values `value` (a run no shorter than one value).
pub fn repeat(count: usize, value: u32, bit_width: u32, out: &mut Vec<u8>) {
    uleb128((count as u64) << 1, out);
    out.extend_from_slice(&value.to_le_bytes()[..(bit_width as usize).div_ceil(8)]);
}

/// Appends flags (each value mapped by `flag`) as Parquet's plain encoding of booleans: one bit
/// each, least significant first, the last byte padded with zeros.
pub fn plain_flags<T: Copy>(values: &[T], flag: impl Fn(T) -> bool, out: &mut Vec<u8>) {
    out.reserve(values.len().div_ceil(8));
    for eight in values.chunks(8) {
        out.push(eight.iter().enumerate().fold(0, |byte, (i, &v)| byte | u8::from(flag(v)) << i));
    }
}

/// Appends `n` as unsigned LEB128.
fn uleb128(mut n: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// The bits needed for every number up to `max` (0 for 0).
pub fn bit_width(max: u32) -> u32 {
    u32::BITS - max.leading_zeros()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `count` values back, as the format says (a reference decoder, not the encoder's
    /// inverse).
    fn decode(mut bytes: &[u8], bit_width: u32, count: usize) -> Vec<u32> {
        let mut out = Vec::new();
        let read_uleb = |bytes: &mut &[u8]| {
            let (mut n, mut shift) = (0u64, 0);
            loop {
                let b = bytes[0];
                *bytes = &bytes[1..];
                n |= u64::from(b & 0x7f) << shift;
                shift += 7;
                if b & 0x80 == 0 {
                    return n;
                }
            }
        };
        while out.len() < count {
            let header = read_uleb(&mut bytes);
            if header & 1 == 0 {
                let width = (bit_width as usize).div_ceil(8);
                let mut v = [0u8; 4];
                v[..width].copy_from_slice(&bytes[..width]);
                bytes = &bytes[width..];
                out.extend(std::iter::repeat_n(u32::from_le_bytes(v), (header >> 1) as usize));
            } else {
                let values = (header >> 1) as usize * 8;
                let len = values * bit_width as usize / 8;
                let packed = &bytes[..len];
                bytes = &bytes[len..];
                for i in 0..values {
                    let mut v = 0u32;
                    for b in 0..bit_width as usize {
                        let bit = i * bit_width as usize + b;
                        v |= u32::from(packed[bit / 8] >> (bit % 8) & 1) << b;
                    }
                    out.push(v);
                }
            }
        }
        assert!(bytes.is_empty(), "nothing after the runs");
        out.truncate(count);
        out
    }

    fn round_trip(values: &[u32], bit_width: u32) -> Vec<u8> {
        let mut out = Vec::new();
        encode(values, |v| v, bit_width, &mut out);
        assert_eq!(decode(&out, bit_width, values.len()), values, "width {bit_width}: {values:?}");
        out
    }

    #[test]
    fn reads_back_at_every_width_and_length() {
        for width in 0..=32u32 {
            let max = if width == 0 { 0 } else { u32::MAX >> (32 - width) };
            for len in [0, 1, 7, 8, 9, 15, 16, 17, 64, 100, 1_000] {
                // A pseudo-random walk over the width's range, with runs and the extremes.
                let values: Vec<u32> = (0..len as u64)
                    .map(|i| match i % 23 {
                        0..=9 => max,
                        10 => 0,
                        _ => ((i * 2_654_435_761) as u32) & max,
                    })
                    .collect();
                round_trip(&values, width);
            }
        }
    }

    #[test]
    fn runs_are_repeated_and_the_rest_bit_packed() {
        // All equal: one repeated run, whatever the length (here not a multiple of eight).
        assert_eq!(round_trip(&[5; 13], 3), vec![13 << 1, 5]);
        // Width 0: the value takes no bytes.
        assert_eq!(round_trip(&[0; 20], 0), vec![20 << 1]);
        // Long runs need a longer header: 1,000 = 0b111_1101000 as two LEB128 bytes of 2,000.
        assert_eq!(round_trip(&[1; 1_000], 1), vec![0xd0, 0x0f, 1]);
        // Eight distinct values, then a run: one bit-packed group, one repeated run.
        let mut values: Vec<u32> = (0..8).collect();
        values.extend([2; 16]);
        assert_eq!(round_trip(&values, 3), vec![0b11, 0b1000_1000, 0b1100_0110, 0b1111_1010, 16 << 1, 2]);
        // A run that starts mid-group is bit-packed up to the next group; its whole groups repeat.
        let mut values = vec![1, 2, 3];
        values.extend([7; 21]);
        let out = round_trip(&values, 3);
        assert_eq!(out[0], 0b11, "one bit-packed group first");
        assert_eq!(&out[4..], &[16 << 1, 7]);
        // A short final group that is not a run: padded to a whole group.
        assert_eq!(round_trip(&[1, 0, 1], 1), vec![0b11, 0b101]);
    }

    #[test]
    fn flags_are_bits_least_significant_first() {
        let mut out = Vec::new();
        plain_flags(&[true, false, false, true, true, true, false, false, false, true], |f| f, &mut out);
        assert_eq!(out, vec![0b0011_1001, 0b10]);
        out.clear();
        plain_flags(&[] as &[bool], |f| f, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn bit_widths() {
        assert_eq!([0, 1, 2, 3, 4, 255, 256, u32::MAX].map(bit_width), [0, 1, 2, 2, 3, 8, 9, 32]);
    }
}
