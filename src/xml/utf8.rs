//! UTF-8 validation of short values (contact names, group names) without a branch per character.
//!
//! std's validator takes a branch per multi-byte character, which mispredicts on short mixed
//! text like "Zoë Müller" or "李 小龙". Here a short input runs through a shift-based DFA instead:
//! one `u64` table entry per byte value holds, for every state, the next state. A state is a bit
//! offset into the entry (a multiple of 6), and the 6 bits at that offset are the next state's
//! offset, so a step is one load and one shift: `state = TABLE[byte] >> state`. The shift count
//! is taken modulo 64 (`wrapping_shr`, like the CPU's own shift), so the higher bits left over in
//! `state` never matter and the loop needs no mask. The load does not depend on the state, so the
//! dependency chain is one shift per byte.
//!
//! Long inputs go to std, whose word-at-a-time ASCII path is faster on long text.

/// Inputs up to this many bytes are checked by the DFA, longer ones by std. The DFA costs about a
/// cycle per byte whatever the text; std is faster on ASCII (4.8 ns vs 18.7 ns for 64 ASCII bytes,
/// in a throwaway micro-benchmark) and slower on anything else (37 ns vs 26 ns for 64 bytes of
/// Latin and CJK). Names are 5 to 30 bytes; past 64, text is more likely long mostly-ASCII prose.
const DFA_MAX_LEN: usize = 64;

// The states, each named by its bit offset in a table entry (see the module comment).

/// Not UTF-8, whatever follows: the low 6 bits of every entry are 0, so this state never leaves.
const ERROR: u32 = 0;
// A new table is all 0s, so all ERROR only while ERROR is 0 (see `build_table`).
const _: () = assert!(ERROR == 0, "the table starts with every field at ERROR");
/// Between characters: the input so far is UTF-8.
const ACCEPT: u32 = 6;
/// One continuation byte (80..BF) still to come in this character.
const NEED_1: u32 = 12;
/// Two continuation bytes to come.
const NEED_2: u32 = 18;
/// Three continuation bytes to come.
const NEED_3: u32 = 24;
/// After E0: A0..BF next (80..9F would be an overlong three-byte form).
const AFTER_E0: u32 = 30;
/// After ED: 80..9F next (A0..BF would encode a surrogate, D800..DFFF).
const AFTER_ED: u32 = 36;
/// After F0: 90..BF next (80..8F would be an overlong four-byte form).
const AFTER_F0: u32 = 42;
/// After F4: 80..8F next (90..BF would go above U+10FFFF).
const AFTER_F4: u32 = 48;

/// Every edge of the DFA: (from, first byte, last byte, to). Any byte not listed leads to ERROR.
/// This is the table of well-formed sequences of the Unicode Standard (§3.9, table 3-7): C0, C1
/// and F5..FF never start a character; a continuation byte never starts one either.
const EDGES: [(u32, u8, u8, u32); 16] = [
    (ACCEPT, 0x00, 0x7F, ACCEPT),
    (ACCEPT, 0xC2, 0xDF, NEED_1),
    (ACCEPT, 0xE0, 0xE0, AFTER_E0),
    (ACCEPT, 0xE1, 0xEC, NEED_2),
    (ACCEPT, 0xED, 0xED, AFTER_ED),
    (ACCEPT, 0xEE, 0xEF, NEED_2),
    (ACCEPT, 0xF0, 0xF0, AFTER_F0),
    (ACCEPT, 0xF1, 0xF3, NEED_3),
    (ACCEPT, 0xF4, 0xF4, AFTER_F4),
    (NEED_1, 0x80, 0xBF, ACCEPT),
    (NEED_2, 0x80, 0xBF, NEED_1),
    (NEED_3, 0x80, 0xBF, NEED_2),
    (AFTER_E0, 0xA0, 0xBF, NEED_1),
    (AFTER_ED, 0x80, 0x9F, NEED_1),
    (AFTER_F0, 0x90, 0xBF, NEED_2),
    (AFTER_F4, 0x80, 0x8F, NEED_2),
];

/// Lays [`EDGES`] out as one entry per byte value; fields no edge sets stay ERROR.
/// Runs at compile time; an edge that overlaps another fails the build.
const fn build_table() -> [u64; 256] {
    let mut table = [0u64; 256];
    let mut e = 0;
    while e < EDGES.len() {
        let (from, first, last, to) = EDGES[e];
        let mut byte = first as usize;
        while byte <= last as usize {
            if (table[byte] >> from) & 63 != ERROR as u64 {
                panic!("two edges for the same state and byte");
            }
            table[byte] |= (to as u64) << from;
            byte += 1;
        }
        e += 1;
    }
    table
}

static TABLE: [u64; 256] = build_table();

/// True when `b` is UTF-8, by the DFA (any length; [`from_utf8`] uses it for short inputs).
#[inline]
fn dfa_accepts(b: &[u8]) -> bool {
    let mut state = ACCEPT as u64;
    for &byte in b {
        state = TABLE[byte as usize].wrapping_shr(state as u32);
    }
    state & 63 == ACCEPT as u64
}

/// `b` as `str` if it is UTF-8, else `None`: the same verdict as `std::str::from_utf8`, faster on
/// short non-ASCII text.
#[inline]
pub fn from_utf8(b: &[u8]) -> Option<&str> {
    if b.len() > DFA_MAX_LEN {
        return std::str::from_utf8(b).ok();
    }
    if !dfa_accepts(b) {
        return None;
    }
    // SAFETY: the DFA ended in ACCEPT, which it reaches only after a whole number of well-formed
    // sequences as the Unicode Standard defines them (no overlong form, surrogate, code point
    // above U+10FFFF, stray or missing continuation byte): exactly what `str` requires. The tests
    // below check the verdict against std for every input of up to 3 bytes and many longer ones.
    Some(unsafe { std::str::from_utf8_unchecked(b) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use xmpp_roster_testsupport::Rng;

    /// Byte values on either side of every range boundary of the DFA's edges.
    const BOUNDARY: [u8; 10] = [0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xFF];

    /// The DFA's verdict, and `from_utf8`'s result, agree with std on `b`. (Where a result is
    /// expected to be `None` the tests assert `is_none()`: printing a wrongly accepted `str`
    /// would be undefined behaviour.)
    fn assert_same_as_std(b: &[u8]) {
        let expected = std::str::from_utf8(b).ok();
        assert_eq!(dfa_accepts(b), expected.is_some(), "DFA on {b:02X?}");
        assert_eq!(from_utf8(b), expected, "from_utf8 on {b:02X?}");
    }

    /// Under Miri only the boundary values (each case is slow there); all 256 otherwise.
    fn bytes_to_try() -> Vec<u8> {
        if cfg!(miri) {
            BOUNDARY.iter().copied().chain([0xC2, 0xE0, 0xED, 0xF0, 0xF4, 0xF5]).collect()
        } else {
            (0..=255).collect()
        }
    }

    #[test]
    fn error_is_never_left() {
        for (byte, entry) in TABLE.iter().enumerate() {
            assert_eq!(entry.wrapping_shr(ERROR) & 63, ERROR as u64, "byte {byte:02X}");
        }
    }

    #[test]
    fn every_one_and_two_byte_input_gets_the_verdict_of_std() {
        assert_same_as_std(b"");
        let all = bytes_to_try();
        for &a in &all {
            assert_same_as_std(&[a]);
            for &b in &all {
                assert_same_as_std(&[a, b]);
            }
        }
    }

    #[test]
    fn every_three_byte_input_gets_the_verdict_of_std() {
        // All 16.7M inputs: the DFA alone, compared with std's verdict (a few seconds unoptimised).
        let all = bytes_to_try();
        for &a in &all {
            for &b in &all {
                for &c in &all {
                    let input = [a, b, c];
                    assert_eq!(dfa_accepts(&input), std::str::from_utf8(&input).is_ok(), "DFA on {input:02X?}");
                }
            }
        }
    }

    #[test]
    fn four_byte_inputs_get_the_verdict_of_std() {
        for a in bytes_to_try() {
            for b in BOUNDARY {
                for c in BOUNDARY {
                    for d in BOUNDARY {
                        assert_same_as_std(&[a, b, c, d]);
                    }
                }
            }
        }
        // The limits of the four-byte range, and just past them.
        assert_same_as_std("\u{10000}".as_bytes());
        assert_same_as_std("\u{10FFFF}".as_bytes());
        assert_same_as_std(&[0xF4, 0x90, 0x80, 0x80]); // U+110000
        assert_same_as_std(&[0xF0, 0x8F, 0xBF, 0xBF]); // U+FFFF, overlong
    }

    #[test]
    fn refuses_what_std_refuses() {
        for bad in [
            &[0xC0, 0x80][..],            // overlong NUL
            &[0xC1, 0xBF],                // overlong '\x7F'
            &[0xE0, 0x9F, 0xBF],          // overlong U+07FF
            &[0xED, 0xA0, 0x80],          // surrogate U+D800
            &[0xED, 0xBF, 0xBF],          // surrogate U+DFFF
            &[0xF0, 0x8F, 0xBF, 0xBF],    // overlong U+FFFF
            &[0xF4, 0x90, 0x80, 0x80],    // U+110000
            &[0xF5, 0x80, 0x80, 0x80],    // F5 never starts a character
            &[b'a', 0x80, b'b'],          // stray continuation byte
            &[0xC3, b'a'],                // a lead byte without its continuation
        ] {
            assert!(from_utf8(bad).is_none(), "{bad:02X?}");
        }
        assert_eq!(from_utf8("\u{D7FF}\u{E000}".as_bytes()), Some("\u{D7FF}\u{E000}"), "either side of the surrogates");
    }

    #[test]
    fn a_truncated_character_at_the_end_is_refused() {
        for name in ["Zoë", "李 小龙", "Nguyễn", "smile 😀"] {
            let bytes = name.as_bytes();
            let last = name.char_indices().last().map_or(0, |(at, _)| at);
            assert_eq!(from_utf8(bytes), Some(name));
            for cut in last + 1..bytes.len() {
                assert!(from_utf8(&bytes[..cut]).is_none(), "{name:?} cut at {cut}");
            }
            // The same past the DFA's limit (std's path).
            let long = format!("{}{name}", "a".repeat(DFA_MAX_LEN));
            let long_last = DFA_MAX_LEN + last;
            assert_eq!(from_utf8(long.as_bytes()), Some(long.as_str()));
            for cut in long_last + 1..long.len() {
                assert!(from_utf8(&long.as_bytes()[..cut]).is_none(), "long {name:?} cut at {cut}");
            }
        }
    }

    #[test]
    fn random_mixed_inputs_get_the_verdict_of_std() {
        // Mostly valid text, so that the errors land deep inside, at every place and length.
        let chars = ['a', ' ', 'é', 'ë', 'ü', 'Я', 'ж', 'ễ', '李', '龙', '\u{FFFD}', '😀', '\u{10FFFF}', '\u{7F}'];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let rounds = if cfg!(miri) { 300 } else { 200_000 };
        let (mut long, mut valid) = (0, 0);
        for _ in 0..rounds {
            let len = rng.below(100);
            // Half the inputs get no random bytes, so that long valid ones are common too.
            let noisy = rng.below(2) == 0;
            let mut b = Vec::with_capacity(len + 4);
            while b.len() < len {
                match rng.below(20) {
                    0 if noisy => b.push(rng.next_u64() as u8), // any byte: often an error
                    1..=8 => b.push(b'a' + rng.below(26) as u8),
                    _ => {
                        let c = chars[rng.below(chars.len())];
                        b.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                    }
                }
            }
            b.truncate(len); // may cut the last character
            long += usize::from(b.len() > DFA_MAX_LEN);
            valid += usize::from(std::str::from_utf8(&b).is_ok());
            assert_same_as_std(&b);
        }
        assert!(long > rounds / 10, "inputs past the DFA's limit are tried too");
        assert!(valid > rounds / 10 && valid < rounds * 9 / 10, "valid and invalid inputs are both common");
    }
}
