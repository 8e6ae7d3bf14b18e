//! QR rendering of a voucher token: SVG for the app's wallet and Unicode half blocks for the
//! terminal. Tokens are about 120 characters, a version-7 code at error correction M.

use qrcode::render::{svg, unicode};
use qrcode::{EcLevel, QrCode};

/// The token could not be encoded (it is far longer than any real token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the token cannot be encoded as a QR code: {0}")]
pub struct QrError(String);

fn code(token: &str) -> Result<QrCode, QrError> {
    QrCode::with_error_correction_level(token.as_bytes(), EcLevel::M).map_err(|e| QrError(e.to_string()))
}

/// SVG markup of the token's QR code (black on white, with the quiet zone).
pub fn svg(token: &str) -> Result<String, QrError> {
    Ok(code(token)?
        .render::<svg::Color<'_>>()
        .min_dimensions(240, 240)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build())
}

/// The QR code as text for a terminal: two modules per character cell, drawn light on dark
/// so it scans on dark and light terminal themes alike (the quiet zone is included).
pub fn terminal(token: &str) -> Result<String, QrError> {
    Ok(code(token)?
        .render::<unicode::Dense1x2>()
        .dark_color(unicode::Dense1x2::Light)
        .light_color(unicode::Dense1x2::Dark)
        .build())
}

/// The QR version used for a token (7 for real tokens).
pub fn version(token: &str) -> Result<i16, QrError> {
    match code(token)?.version() {
        qrcode::Version::Normal(v) | qrcode::Version::Micro(v) => Ok(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_real_sized_token() {
        // A base64url token mixes cases, so it is encoded in byte mode.
        let token = "aB3-_".repeat(24);
        assert_eq!(version(&token).unwrap(), 7);
        let s = svg(&token).unwrap();
        assert!(s.starts_with("<?xml") && s.contains("<svg") && s.contains("#000000"));
        let t = terminal(&token).unwrap();
        // Version 7 is 45 modules plus a 4-module quiet zone each side: 53 wide, 27 rows.
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 27);
        assert!(lines.iter().all(|l| l.chars().count() == 53));
        assert!(svg(&"x".repeat(5000)).is_err());
    }
}
