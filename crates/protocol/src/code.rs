//! The human-readable voucher code: 11 symbols from an alphabet without look-alikes
//! (no 0/O, 1/I/L), plus a weighted mod-31 check symbol, grouped 4-4-4 for reading aloud
//! at a box office ("7KQM-R2XD-94HZ"). It is derived from the voucher's signature, so it
//! cannot be guessed from the serial, and a single mistyped or swapped symbol is caught.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The code alphabet: digits 2-9 and letters without I, L, O (31 symbols).
pub const ALPHABET: &[u8; 31] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
const DATA_LEN: usize = 11;

/// Errors from parsing a typed-in code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("a voucher code has 12 symbols (for example {EXAMPLE})")]
    Length,
    #[error("'{0}' is not a voucher code symbol (codes use 2-9 and A-Z without I, L, O)")]
    Symbol(char),
    #[error("the code's check symbol does not match: a symbol was mistyped")]
    Check,
}

/// A well-formed code (its check symbol matches), for messages and documentation.
pub const EXAMPLE: &str = "7KQM-R2XD-94HZ";

/// What a code may look like on the wire, as a regular expression: 12 symbols of the alphabet in
/// either case, with any '-' or ' ' between them. The check symbol is beyond a regular
/// expression; the OpenAPI document names it with the format `voucher-code`.
pub const PATTERN: &str = "^[- ]*(?:[2-9A-HJKMNP-Za-hjkmnp-z][- ]*){12}$";

/// A validated voucher code, kept without separators. On the wire: grouped `XXXX-XXXX-XXXX`
/// (any '-' or ' ' and lowercase are accepted); the 12th symbol is a weighted mod-31 check
/// symbol over the other 11, so a single mistyped symbol or swap of neighbours is refused.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(
        value_type = String,
        format = "voucher-code",
        pattern = "^[- ]*(?:[2-9A-HJKMNP-Za-hjkmnp-z][- ]*){12}$",
        example = "7KQM-R2XD-94HZ"
    )
)]
#[serde(try_from = "String", into = "String")]
pub struct VoucherCode([u8; DATA_LEN + 1]);

fn index_of(c: u8) -> Option<u32> {
    ALPHABET.iter().position(|&a| a == c).map(|i| i as u32)
}

/// Weighted check symbol modulo the prime 31: data symbol `i` has weight `i + 2`, the check
/// symbol weight 1, and the weighted sum is 0 mod 31. Because 31 is prime and all weights are
/// distinct and non-zero, every single substitution and every adjacent swap is detected.
fn check_symbol(data: &[u32]) -> u32 {
    let sum: u32 = data.iter().enumerate().map(|(i, &d)| (i as u32 + 2) * d).sum();
    (31 - sum % 31) % 31
}

impl VoucherCode {
    /// Derives the code from arbitrary seed bytes (the voucher signature).
    pub fn derive(seed: &[u8]) -> Self {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(b"lineup-code-v1");
        h.update(seed);
        let digest = h.finalize();
        let mut acc = u64::from_be_bytes(digest[..8].try_into().unwrap_or([0; 8]));
        let mut idx = [0u32; DATA_LEN];
        for slot in idx.iter_mut() {
            *slot = (acc % 31) as u32;
            acc /= 31;
        }
        let check = check_symbol(&idx);
        let mut out = [0u8; DATA_LEN + 1];
        for (o, &i) in out.iter_mut().zip(idx.iter()) {
            *o = ALPHABET[i as usize];
        }
        out[DATA_LEN] = ALPHABET[check as usize];
        VoucherCode(out)
    }

    /// The 12 symbols without separators.
    pub fn compact(&self) -> String {
        String::from_utf8_lossy(&self.0).into_owned()
    }

    /// Grouped for reading: `XXXX-XXXX-XXXX`.
    pub fn grouped(&self) -> String {
        let s = self.compact();
        format!("{}-{}-{}", &s[0..4], &s[4..8], &s[8..12])
    }
}

impl FromStr for VoucherCode {
    type Err = CodeError;
    fn from_str(s: &str) -> Result<Self, CodeError> {
        let mut out = [0u8; DATA_LEN + 1];
        let mut n = 0;
        for c in s.chars() {
            if c == '-' || c == ' ' {
                continue;
            }
            let u = c.to_ascii_uppercase();
            if !u.is_ascii() || index_of(u as u8).is_none() {
                return Err(CodeError::Symbol(c));
            }
            if n == out.len() {
                return Err(CodeError::Length);
            }
            out[n] = u as u8;
            n += 1;
        }
        if n != out.len() {
            return Err(CodeError::Length);
        }
        let idx: Vec<u32> = out[..DATA_LEN].iter().filter_map(|&b| index_of(b)).collect();
        if index_of(out[DATA_LEN]) != Some(check_symbol(&idx)) {
            return Err(CodeError::Check);
        }
        Ok(VoucherCode(out))
    }
}

impl TryFrom<String> for VoucherCode {
    type Error = CodeError;
    fn try_from(s: String) -> Result<Self, CodeError> {
        s.parse()
    }
}

impl From<VoucherCode> for String {
    fn from(c: VoucherCode) -> String {
        c.grouped()
    }
}

impl fmt::Display for VoucherCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.grouped())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_codes_parse_back() {
        for i in 0u32..500 {
            let c = VoucherCode::derive(&i.to_be_bytes());
            let g = c.grouped();
            assert_eq!(g.len(), 14);
            assert_eq!(g.parse::<VoucherCode>().unwrap(), c);
            assert_eq!(g.to_lowercase().parse::<VoucherCode>().unwrap(), c);
            assert_eq!(c.compact().parse::<VoucherCode>().unwrap(), c);
        }
    }

    #[test]
    fn every_single_substitution_is_caught() {
        let c = VoucherCode::derive(b"seed").compact().into_bytes();
        for pos in 0..c.len() {
            for &a in ALPHABET.iter() {
                if a == c[pos] {
                    continue;
                }
                let mut m = c.clone();
                m[pos] = a;
                let s = String::from_utf8(m).unwrap();
                assert_eq!(s.parse::<VoucherCode>(), Err(CodeError::Check), "{s}");
            }
        }
    }

    #[test]
    fn adjacent_swaps_are_caught() {
        let mut caught = 0;
        let mut total = 0;
        for i in 0u32..200 {
            let c = VoucherCode::derive(&i.to_le_bytes()).compact().into_bytes();
            for pos in 0..c.len() - 1 {
                if c[pos] == c[pos + 1] {
                    continue;
                }
                let mut m = c.clone();
                m.swap(pos, pos + 1);
                total += 1;
                if String::from_utf8(m).unwrap().parse::<VoucherCode>().is_err() {
                    caught += 1;
                }
            }
        }
        assert_eq!(caught, total);
    }

    #[test]
    fn the_example_is_a_valid_code() {
        let c: VoucherCode = EXAMPLE.parse().unwrap();
        assert_eq!(c.grouped(), EXAMPLE);
    }

    /// A string matches [`PATTERN`] exactly when it parses or fails only on the check symbol.
    #[test]
    fn pattern_matches_what_the_parser_reads() {
        let re = regex::Regex::new(PATTERN).unwrap();
        let symbols: Vec<char> = "23456789ABCDEFGHJKMNPQRSTUVWXYZabcdefghjkmnpqrstuvwxyz -01IOLiol_é"
            .chars()
            .collect();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        for _ in 0..20_000 {
            let len = next(18);
            let s: String = (0..len).map(|_| symbols[next(symbols.len())]).collect();
            let parsed = s.parse::<VoucherCode>();
            let readable = matches!(parsed, Ok(_) | Err(CodeError::Check));
            assert_eq!(re.is_match(&s), readable, "{s:?}: {parsed:?}");
        }
        for i in 0u32..200 {
            let g = VoucherCode::derive(&i.to_be_bytes()).grouped();
            assert!(re.is_match(&g) && re.is_match(&g.to_lowercase()), "{g}");
        }
    }

    #[test]
    fn bad_input_gets_specific_errors() {
        assert_eq!("ABC".parse::<VoucherCode>(), Err(CodeError::Length));
        assert_eq!("7KQM-R2XD-94H0".parse::<VoucherCode>(), Err(CodeError::Symbol('0')));
        assert_eq!("7KQM-R2XD-94HC".parse::<VoucherCode>(), Err(CodeError::Check));
        assert_eq!("7KQM-R2XD-94HCC".parse::<VoucherCode>(), Err(CodeError::Length));
        assert_eq!("IKQM-R2XD-94HC".parse::<VoucherCode>(), Err(CodeError::Symbol('I')));
    }
}
