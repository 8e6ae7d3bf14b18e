//! The first-come claim endpoint the baselines hit, as the cinema sites had it: from opening,
//! whoever's request is served first gets the next voucher. One voucher per identity (a repeat
//! returns the same one), as `docs/protocol.md` requires of any claim.

use crate::scenario::{Micros, Scenario};

/// The server's answer to a first-come claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstComeAnswer {
    /// 409 `too_early`: not open yet.
    TooEarly,
    /// 201: a new voucher.
    Issued(u64),
    /// 200: the voucher this identity already holds.
    Replay(u64),
    /// 410 `sold_out`.
    SoldOut,
    /// 410 `campaign_closed`.
    Closed,
}

/// Supply and holders of a first-come campaign.
#[derive(Debug, Clone)]
pub struct FirstCome {
    supply: u64,
    issued: u64,
    holder_serial: Vec<u64>,
    opens_at: Micros,
    closes_at: Micros,
}

impl FirstCome {
    pub fn new(s: &Scenario) -> Self {
        FirstCome {
            supply: u64::from(s.vouchers),
            issued: 0,
            holder_serial: vec![0; s.clients as usize],
            opens_at: s.opens_at(),
            closes_at: s.closes_at(),
        }
    }

    /// `client` asks for a voucher; the server handles it at `now`.
    pub fn claim(&mut self, client: u32, now: Micros) -> FirstComeAnswer {
        let held = self.holder_serial[client as usize];
        if held != 0 {
            return FirstComeAnswer::Replay(held);
        }
        if now < self.opens_at {
            return FirstComeAnswer::TooEarly;
        }
        if now >= self.closes_at {
            return FirstComeAnswer::Closed;
        }
        if self.issued >= self.supply {
            return FirstComeAnswer::SoldOut;
        }
        self.issued += 1;
        self.holder_serial[client as usize] = self.issued;
        FirstComeAnswer::Issued(self.issued)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::SEC;

    #[test]
    fn first_come_issues_once_per_identity_until_sold_out() {
        let s = Scenario {
            clients: 3,
            vouchers: 2,
            ..Scenario::default()
        };
        let open = s.opens_at();
        let mut f = FirstCome::new(&s);
        assert_eq!(f.claim(0, open - 1), FirstComeAnswer::TooEarly);
        assert_eq!(f.claim(1, open), FirstComeAnswer::Issued(1));
        assert_eq!(f.claim(1, open + 1), FirstComeAnswer::Replay(1));
        assert_eq!(f.claim(0, open + 2), FirstComeAnswer::Issued(2));
        assert_eq!(f.claim(2, open + 3), FirstComeAnswer::SoldOut);
        assert_eq!(f.claim(0, open + 4), FirstComeAnswer::Replay(2));
        assert_eq!(f.claim(2, s.closes_at() + SEC), FirstComeAnswer::Closed);
    }
}
