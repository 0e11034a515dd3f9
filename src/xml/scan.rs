//! Finding the end of a short XML value: the byte scan behind the roster decoder's fast path,
//! 16 bytes at a time where the CPU allows (SSE2 is part of every x86-64), one at a time elsewhere.

/// What [`find_special`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Special {
    /// The position of the first special byte, or the length of the input if there is none.
    pub at: usize,
    /// True when every byte before `at` is ASCII (so the text up to there is UTF-8 already).
    pub ascii: bool,
}

/// Finds the first byte of `b` that is `stop`, `<`, `&`, or a control character (below 0x20:
/// tab, line ends, NUL, ...), noting whether the bytes before it are all ASCII. For an attribute
/// value `stop` is its quote; for character data, `<` again.
#[inline(always)]
pub fn find_special(b: &[u8], stop: u8) -> Special {
    #[cfg(target_arch = "x86_64")]
    {
        sse2::find_special(b, stop)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        find_special_bytewise(b, stop, 0, true)
    }
}

fn is_special(c: u8, stop: u8) -> bool {
    c == stop || c == b'<' || c == b'&' || c < 0x20
}

/// The byte-at-a-time scan, from `from` (`ascii`: whether the bytes before `from` were).
fn find_special_bytewise(b: &[u8], stop: u8, from: usize, ascii: bool) -> Special {
    let at = b[from..].iter().position(|&c| is_special(c, stop)).map_or(b.len(), |p| from + p);
    Special { at, ascii: ascii && b[from..at].is_ascii() }
}

#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::*;

    #[inline(always)]
    pub fn find_special(b: &[u8], stop: u8) -> super::Special {
        let mut i = 0;
        let mut high = 0u32;
        // SAFETY: SSE2 is always available on x86_64; every load reads 16 bytes from `i`, and the
        // loop runs only while 16 bytes remain from there (unaligned loads are allowed).
        unsafe {
            let stop_v = _mm_set1_epi8(stop as i8);
            let lt = _mm_set1_epi8(b'<' as i8);
            let amp = _mm_set1_epi8(b'&' as i8);
            let ctl_max = _mm_set1_epi8(0x1f);
            while i + 16 <= b.len() {
                let v = _mm_loadu_si128(b.as_ptr().add(i).cast());
                // A byte is at most 0x1f exactly when max(byte, 0x1f) is 0x1f (unsigned).
                let ctl = _mm_cmpeq_epi8(_mm_max_epu8(v, ctl_max), ctl_max);
                let hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, stop_v), _mm_cmpeq_epi8(v, lt)), _mm_or_si128(_mm_cmpeq_epi8(v, amp), ctl));
                let mask = _mm_movemask_epi8(hit) as u32;
                // The top bit of each byte: set for the bytes of non-ASCII characters.
                let top = _mm_movemask_epi8(v) as u32;
                if mask != 0 {
                    let at = mask.trailing_zeros();
                    high |= top & ((1u32 << at) - 1);
                    return super::Special { at: i + at as usize, ascii: high == 0 };
                }
                high |= top;
                i += 16;
            }
        }
        super::find_special_bytewise(b, stop, i, high == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_special_byte_at_every_position_and_length() {
        let specials = [b'\'', b'"', b'<', b'&', 0, b'\t', b'\n', b'\r', 0x1f];
        for len in 0..70 {
            for at in 0..=len {
                for &special in &specials {
                    // Plain text around it, non-ASCII included (bytes >= 0x80 are never special).
                    let mut b: Vec<u8> = (0..len).map(|k| [b'a', 0xc3, 0xa9, b' ', b'>', b'"', 0x7f][k % 7]).collect();
                    b.retain(|&c| c != b'"');
                    b.resize(len, b'z');
                    if at < len {
                        b[at] = special;
                    }
                    for stop in [b'\'', b'"', b'<'] {
                        assert_eq!(find_special(&b, stop), find_special_bytewise(&b, stop, 0, true), "len {len} at {at} special {special} stop {stop}");
                    }
                    let expected = if at < len && special != b'"' && special != b'\'' { at } else { len };
                    let found = find_special(&b, b'<');
                    assert_eq!(found.at, expected, "len {len} at {at} special {special}");
                    assert_eq!(found.ascii, b[..expected].is_ascii(), "len {len} at {at} special {special}");
                }
            }
        }
        assert_eq!(find_special(b"abc'def", b'\'').at, 3);
        assert_eq!(find_special(b"abc'def", b'"').at, 7);
        assert_eq!(find_special(b"\x20\x7f\x80\xff", b'<'), Special { at: 4, ascii: false }, "space, DEL and high bytes are plain");
        // Non-ASCII after the special byte does not count, in either scan.
        let long = [&[b'a'; 20][..], b"'", &[0xc3, 0xa9][..], &[b'b'; 20][..]].concat();
        assert_eq!(find_special(&long, b'\''), Special { at: 20, ascii: true });
        assert_eq!(find_special(&long[..22], b'\''), Special { at: 20, ascii: true });
    }
}
