//! Campaign specifications: the TOML `--config` file and the built-in demo campaign.

use chrono::{DateTime, Duration, Utc};
use lineup_protocol::CampaignId;
use serde::Deserialize;

/// Everything fixed about a campaign (the moving numbers live in the store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignSpec {
    pub id: CampaignId,
    pub title: String,
    pub title_en: String,
    pub issuer: String,
    pub brands: Vec<String>,
    pub amount: u32,
    /// ISO 4217, three ASCII capitals.
    pub currency: [u8; 3],
    pub supply: u64,
    pub prequeue_opens_at: DateTime<Utc>,
    pub draw_at: DateTime<Utc>,
    pub opens_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
    pub voucher_expires_at: DateTime<Utc>,
    pub admission_rate_per_s: u32,
    pub admission_window_s: u64,
}

/// Why a campaign specification was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("campaign {0}: instants must satisfy prequeue_opens_at <= draw_at < opens_at < closes_at")]
    Order(String),
    #[error("campaign {0}: vouchers must expire after opening")]
    Expiry(String),
    #[error("campaign {0}: supply, admission_rate_per_s and admission_window_s must be positive")]
    Zero(String),
    #[error("campaign {0}: currency must be three capital letters")]
    Currency(String),
    #[error(
        "campaign {0}: a staff_token of at least 16 characters, or staff_token_sha256 = 64 hex digits of SHA-256(\"lineup-staff-v1\" || token), is required"
    )]
    StaffToken(String),
    #[error("campaign {0}: {1}")]
    Invalid(String, String),
    #[error("the config file is not valid TOML for campaigns: {0}")]
    Toml(String),
}

impl CampaignSpec {
    /// Checks the invariants every other module relies on.
    pub fn validate(&self) -> Result<(), SpecError> {
        let id = self.id.to_string();
        if !(self.prequeue_opens_at <= self.draw_at && self.draw_at < self.opens_at && self.opens_at < self.closes_at) {
            return Err(SpecError::Order(id));
        }
        if self.voucher_expires_at <= self.opens_at {
            return Err(SpecError::Expiry(id));
        }
        if self.supply == 0 || self.admission_rate_per_s == 0 || self.admission_window_s == 0 {
            return Err(SpecError::Zero(id));
        }
        if !self.currency.iter().all(u8::is_ascii_uppercase) {
            return Err(SpecError::Currency(id));
        }
        // Stored as SQL BIGINT.
        if self.supply > i64::MAX as u64 / 2 || self.admission_window_s > 10 * 365 * 86_400 {
            return Err(SpecError::Invalid(id, "supply or admission window too large".into()));
        }
        Ok(())
    }

    pub fn currency_str(&self) -> String {
        String::from_utf8_lossy(&self.currency).into_owned()
    }

    pub fn admission_window(&self) -> Duration {
        Duration::seconds(i64::try_from(self.admission_window_s).unwrap_or(i64::MAX / 1000))
    }
}

/// What the demo campaign looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoSpecInput {
    pub vouchers: u64,
    pub open_in: std::time::Duration,
    pub draw_lead: Option<std::time::Duration>,
    pub admission_rate_per_s: u32,
    pub admission_window: std::time::Duration,
    pub closes_after: std::time::Duration,
}

/// The demo campaign `demo`: a 6,000-won cinema discount usable at CGV, Lotte Cinema and Megabox.
/// The pre-queue opens at `now`; the draw is `min(30 s, open_in / 2)` before opening unless
/// `draw_lead` says otherwise; vouchers expire 30 days after opening.
pub fn demo_spec(input: &DemoSpecInput, now: DateTime<Utc>) -> Result<CampaignSpec, SpecError> {
    let to =
        |d: std::time::Duration| Duration::from_std(d).map_err(|e| SpecError::Invalid("demo".into(), e.to_string()));
    let open_in = to(input.open_in)?;
    let default_lead = std::cmp::min(Duration::seconds(30), open_in / 2);
    let lead = match input.draw_lead {
        Some(d) => to(d)?,
        None => default_lead,
    };
    let opens_at = now + open_in;
    let spec = CampaignSpec {
        id: "demo"
            .parse()
            .map_err(|_| SpecError::Invalid("demo".into(), "id".into()))?,
        title: "영화관람 6천원 할인권".into(),
        title_en: "6,000-won cinema discount".into(),
        issuer: "Lineup demo issuer (문화체육관광부 영화관람 할인권 예시)".into(),
        brands: vec!["CGV".into(), "Lotte Cinema".into(), "Megabox".into()],
        amount: 6000,
        currency: *b"KRW",
        supply: input.vouchers,
        prequeue_opens_at: now,
        draw_at: opens_at - lead,
        opens_at,
        closes_at: opens_at + to(input.closes_after)?,
        voucher_expires_at: opens_at + Duration::days(30),
        admission_rate_per_s: input.admission_rate_per_s,
        admission_window_s: input.admission_window.as_secs().max(1),
    };
    spec.validate()?;
    Ok(spec)
}

/// One `[[campaign]]` table of the TOML config. Instants are RFC 3339 strings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CampaignToml {
    id: String,
    title: String,
    title_en: String,
    issuer: String,
    #[serde(default)]
    brands: Vec<String>,
    amount: u32,
    currency: String,
    supply: u64,
    prequeue_opens_at: DateTime<Utc>,
    draw_at: DateTime<Utc>,
    opens_at: DateTime<Utc>,
    closes_at: DateTime<Utc>,
    voucher_expires_at: DateTime<Utc>,
    admission_rate_per_s: u32,
    admission_window_s: u64,
    /// The box office's bearer token; only its hash is stored.
    #[serde(default)]
    staff_token: Option<String>,
    /// Alternatively the token's digest in hex (64 digits, either case): SHA-256 of the ASCII
    /// bytes `lineup-staff-v1` followed by the token's UTF-8 bytes, with nothing between them
    /// ([`crate::issuer::staff_token_hash`]); not a plain SHA-256 of the token.
    #[serde(default)]
    staff_token_sha256: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigToml {
    #[serde(default)]
    campaign: Vec<CampaignToml>,
}

/// A campaign from the config file with the hash of its staff token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfiguredCampaign {
    pub spec: CampaignSpec,
    pub staff_token_hash: [u8; 32],
}

/// Parses the `--config` TOML text.
pub fn parse_config(text: &str) -> Result<Vec<ConfiguredCampaign>, SpecError> {
    let cfg: ConfigToml = toml::from_str(text).map_err(|e| SpecError::Toml(e.to_string()))?;
    cfg.campaign.into_iter().map(configured).collect()
}

fn configured(c: CampaignToml) -> Result<ConfiguredCampaign, SpecError> {
    let id: CampaignId =
        c.id.parse()
            .map_err(|e: lineup_protocol::IdError| SpecError::Invalid(c.id.clone(), e.to_string()))?;
    let currency: [u8; 3] = c
        .currency
        .as_bytes()
        .try_into()
        .map_err(|_| SpecError::Currency(c.id.clone()))?;
    let staff_token_hash = match (&c.staff_token, &c.staff_token_sha256) {
        (Some(t), None) if t.len() >= 16 => crate::issuer::staff_token_hash(t),
        (None, Some(h)) => parse_hex32(h).ok_or_else(|| SpecError::StaffToken(c.id.clone()))?,
        _ => return Err(SpecError::StaffToken(c.id.clone())),
    };
    let spec = CampaignSpec {
        id,
        title: c.title,
        title_en: c.title_en,
        issuer: c.issuer,
        brands: c.brands,
        amount: c.amount,
        currency,
        supply: c.supply,
        prequeue_opens_at: c.prequeue_opens_at,
        draw_at: c.draw_at,
        opens_at: c.opens_at,
        closes_at: c.closes_at,
        voucher_expires_at: c.voucher_expires_at,
        admission_rate_per_s: c.admission_rate_per_s,
        admission_window_s: c.admission_window_s,
    };
    spec.validate()?;
    Ok(ConfiguredCampaign { spec, staff_token_hash })
}

fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    let s = s.trim();
    if s.len() != 64 {
        return None;
    }
    // Hex digits only (`from_str_radix` alone would take a sign such as "+f").
    if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
        let hex = std::str::from_utf8(chunk).ok()?;
        out[i] = u8::from_str_radix(hex, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(open_in: u64) -> DemoSpecInput {
        DemoSpecInput {
            vouchers: 1000,
            open_in: std::time::Duration::from_secs(open_in),
            draw_lead: None,
            admission_rate_per_s: 100,
            admission_window: std::time::Duration::from_secs(300),
            closes_after: std::time::Duration::from_secs(86_400),
        }
    }

    #[test]
    fn demo_draws_half_way_or_thirty_seconds_before_opening() {
        let now = Utc::now();
        let s = demo_spec(&input(60), now).unwrap();
        assert_eq!(s.opens_at - s.draw_at, Duration::seconds(30));
        assert_eq!(s.prequeue_opens_at, now);
        assert_eq!(s.voucher_expires_at - s.opens_at, Duration::days(30));
        let s = demo_spec(&input(10), now).unwrap();
        assert_eq!(s.opens_at - s.draw_at, Duration::seconds(5));
        assert_eq!(s.title, "영화관람 6천원 할인권");
        assert!(
            demo_spec(&input(0), now).is_err(),
            "open_in 0 cannot satisfy draw_at < opens_at"
        );
    }

    #[test]
    fn config_parses_and_validates() {
        let text = r#"
            [[campaign]]
            id = "cgv-2026"
            title = "영화관람 6천원 할인권"
            title_en = "6,000-won cinema discount"
            issuer = "KOFIC"
            brands = ["CGV"]
            amount = 6000
            currency = "KRW"
            supply = 20000
            prequeue_opens_at = "2026-12-01T09:50:00Z"
            draw_at = "2026-12-01T09:59:00Z"
            opens_at = "2026-12-01T10:00:00Z"
            closes_at = "2026-12-01T22:00:00Z"
            voucher_expires_at = "2026-12-31T23:59:59Z"
            admission_rate_per_s = 1940
            admission_window_s = 300
            staff_token = "a-long-box-office-secret"
        "#;
        let c = parse_config(text).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].spec.supply, 20000);
        assert_eq!(
            c[0].staff_token_hash,
            crate::issuer::staff_token_hash("a-long-box-office-secret")
        );
        let bad = text.replace("09:59:00Z", "10:00:00Z");
        assert!(matches!(parse_config(&bad), Err(SpecError::Order(_))));
        let short = text.replace("a-long-box-office-secret", "short");
        assert!(matches!(parse_config(&short), Err(SpecError::StaffToken(_))));
        let hashed = text.replace(
            "staff_token = \"a-long-box-office-secret\"",
            &format!(
                "staff_token_sha256 = \"{}\"",
                hex(&crate::issuer::staff_token_hash("x"))
            ),
        );
        assert_eq!(
            parse_config(&hashed).unwrap()[0].staff_token_hash,
            crate::issuer::staff_token_hash("x")
        );
    }

    /// `staff_token_sha256` is exactly the digest docs/protocol.md gives (computed here
    /// independently of the server's code): SHA-256("lineup-staff-v1" || token), in hex of
    /// either case; a plain SHA-256 of the token is a different token's digest, and anything
    /// but 64 hex digits is refused.
    #[test]
    fn staff_token_sha256_is_the_documented_digest() {
        use sha2::Digest;
        let token = "a-long-box-office-secret";
        let documented: [u8; 32] = sha2::Sha256::digest(format!("lineup-staff-v1{token}").as_bytes()).into();
        let plain: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        // `printf 'lineup-staff-v1%s' a-long-box-office-secret | sha256sum`
        assert_eq!(hex(&documented).len(), 64);
        let text = |line: &str| {
            format!(
                r#"
                [[campaign]]
                id = "cgv-2026"
                title = "t"
                title_en = "t"
                issuer = "KOFIC"
                brands = ["CGV"]
                amount = 6000
                currency = "KRW"
                supply = 10
                prequeue_opens_at = "2026-12-01T09:50:00Z"
                draw_at = "2026-12-01T09:59:00Z"
                opens_at = "2026-12-01T10:00:00Z"
                closes_at = "2026-12-01T22:00:00Z"
                voucher_expires_at = "2026-12-31T23:59:59Z"
                admission_rate_per_s = 10
                admission_window_s = 300
                {line}
            "#
            )
        };
        for digest in [hex(&documented), hex(&documented).to_uppercase()] {
            let c = parse_config(&text(&format!("staff_token_sha256 = \"{digest}\""))).unwrap();
            assert_eq!(c[0].staff_token_hash, documented);
            assert!(crate::issuer::staff_token_matches(token, &c[0].staff_token_hash));
        }
        let from_token = parse_config(&text(&format!("staff_token = \"{token}\""))).unwrap();
        assert_eq!(from_token[0].staff_token_hash, documented);
        let c = parse_config(&text(&format!("staff_token_sha256 = \"{}\"", hex(&plain)))).unwrap();
        assert!(!crate::issuer::staff_token_matches(token, &c[0].staff_token_hash));
        let signed = format!("+{}", &hex(&documented)[1..]);
        for bad in [&hex(&documented)[..62], signed.as_str(), &"zz".repeat(32)] {
            let e = parse_config(&text(&format!("staff_token_sha256 = \"{bad}\""))).unwrap_err();
            assert!(matches!(e, SpecError::StaffToken(_)), "{bad}: {e}");
            assert!(e.to_string().contains("SHA-256(\"lineup-staff-v1\" || token)"), "{e}");
        }
        let both = format!(
            "staff_token = \"{token}\"\nstaff_token_sha256 = \"{}\"",
            hex(&documented)
        );
        assert!(matches!(parse_config(&text(&both)), Err(SpecError::StaffToken(_))));
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
}
