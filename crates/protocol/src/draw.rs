//! The draw anyone can check: the keyed permutation that orders a campaign's pre-queue, the
//! commitment to its seed, the Merkle tree over the ticket ids in join order, and the
//! verification a client runs once the seed is revealed (`lineup verify-draw`).
//!
//! This is the reference implementation: the server draws with [`Draw`] and the client checks
//! with the same code, and `docs/protocol.md` states every byte so that another implementation
//! can be written from the text alone (its test vectors are checked by the tests below).
//!
//! What the checks prove, and what they cannot, is argued in `docs/protocol.md` ("A draw
//! anyone can check").

use crate::ids::CampaignId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// Feistel rounds: enough that the order is indistinguishable from random without the seed.
pub const ROUNDS: u8 = 8;

/// Domain of the permutation's round function.
pub const ROUND_DOMAIN: &[u8] = b"lineup-draw-v1";
/// Domain of the seed commitment.
pub const COMMIT_DOMAIN: &[u8] = b"lineup-draw-commit-v1";
/// Most ticket ids one page of `GET .../draw/tickets` holds.
pub const PAGE_MAX: u64 = 10_000;

/// The draw of one campaign: a keyed permutation of `[0, n)` (join index to position - 1).
///
/// A balanced Feistel network over `[0, 4^h)` (the smallest power of four holding `n`) with
/// [`ROUNDS`] rounds whose round function is `SHA-256("lineup-draw-v1" || seed || round ||
/// half)` (first 8 bytes, big-endian, masked to `h` bits), restricted to `[0, n)` by
/// cycle-walking. Written out here so it can never change with a library upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Draw {
    seed: u64,
    n: u64,
    half_bits: u32,
}

impl Draw {
    pub fn new(seed: u64, n: u64) -> Self {
        // Bits of the largest index, rounded up to an even count (at least 2).
        let bits = 64 - n.saturating_sub(1).leading_zeros();
        let half_bits = bits.div_ceil(2).max(1);
        Draw { seed, n, half_bits }
    }

    /// Tickets in the draw.
    pub fn len(&self) -> u64 {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The 1-based position of the ticket that joined `index`-th (0-based), or `None` when
    /// `index` is not in the draw.
    pub fn position_of(&self, index: u64) -> Option<u64> {
        if index >= self.n {
            return None;
        }
        let mut x = index;
        loop {
            x = self.encrypt(x);
            if x < self.n {
                return Some(x + 1);
            }
        }
    }

    /// The 0-based join index of the ticket at 1-based `position`, or `None` when no ticket of
    /// the draw has it.
    pub fn index_at(&self, position: u64) -> Option<u64> {
        if position == 0 || position > self.n {
            return None;
        }
        let mut x = position - 1;
        loop {
            x = self.decrypt(x);
            if x < self.n {
                return Some(x);
            }
        }
    }

    fn mask(&self) -> u64 {
        (1u64 << self.half_bits) - 1
    }

    fn round(&self, round: u8, half: u64) -> u64 {
        let mut h = Sha256::new();
        h.update(ROUND_DOMAIN);
        h.update(self.seed.to_be_bytes());
        h.update([round]);
        h.update(half.to_be_bytes());
        let d = h.finalize();
        let mut b = [0u8; 8];
        b.copy_from_slice(&d[..8]);
        u64::from_be_bytes(b) & self.mask()
    }

    fn encrypt(&self, x: u64) -> u64 {
        let (mut l, mut r) = (x >> self.half_bits, x & self.mask());
        for k in 0..ROUNDS {
            (l, r) = (r, l ^ self.round(k, r));
        }
        (l << self.half_bits) | r
    }

    fn decrypt(&self, y: u64) -> u64 {
        let (mut l, mut r) = (y >> self.half_bits, y & self.mask());
        for k in (0..ROUNDS).rev() {
            (l, r) = (r ^ self.round(k, l), l);
        }
        (l << self.half_bits) | r
    }
}

/// `SHA-256("lineup-draw-commit-v1" || seed as 8 bytes big-endian || salt)`: published before
/// the pre-queue opens, the seed and salt revealed at the draw. The 32-byte random salt is what
/// makes the commitment hiding: the seed alone has 64 bits, which a determined party could
/// search from its hash.
pub fn commitment(seed: u64, salt: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(COMMIT_DOMAIN);
    h.update(seed.to_be_bytes());
    h.update(salt);
    h.finalize().into()
}

/// Leaf hash of the Merkle tree over the join order: `SHA-256(0x00 || ticket id as UTF-8)`.
pub fn leaf_hash(ticket_id: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(ticket_id.as_bytes());
    h.finalize().into()
}

/// Interior node: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The Merkle tree over ticket ids in join order, level by level: the leaves, then each level
/// pairing neighbours left to right, a last node without a neighbour carried up unchanged.
/// This is the tree hash of RFC 6962 / RFC 9162 section 2.1.1 (the split at the largest power
/// of two below `n` gives the same tree); the root of no tickets is `SHA-256("")`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinTree {
    levels: Vec<Vec<[u8; 32]>>,
}

impl JoinTree {
    pub fn new<S: AsRef<str>>(ids: &[S]) -> Self {
        Self::from_leaves(ids.iter().map(|s| leaf_hash(s.as_ref())).collect())
    }

    pub fn from_leaves(leaves: Vec<[u8; 32]>) -> Self {
        let mut levels = vec![leaves];
        while let Some(last) = levels.last().filter(|l| l.len() > 1) {
            let next = last
                .chunks(2)
                .map(|p| match p {
                    [l, r] => node_hash(l, r),
                    [one] => *one,
                    _ => unreachable!("chunks(2) yields one or two"),
                })
                .collect();
            levels.push(next);
        }
        JoinTree { levels }
    }

    /// Tickets in the tree.
    pub fn len(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn root(&self) -> [u8; 32] {
        match self.levels.last().and_then(|l| l.first()) {
            Some(r) => *r,
            None => Sha256::digest(b"").into(),
        }
    }

    /// The audit path of the leaf at 0-based `index`: the sibling at each level that has one,
    /// bottom up (RFC 9162's inclusion proof).
    pub fn proof(&self, index: u64) -> Option<Vec<[u8; 32]>> {
        if index >= self.len() {
            return None;
        }
        let mut i = usize::try_from(index).ok()?;
        let mut path = Vec::new();
        for level in &self.levels[..self.levels.len() - 1] {
            if let Some(s) = level.get(i ^ 1) {
                path.push(*s);
            }
            i /= 2;
        }
        Some(path)
    }
}

/// The join tree kept from level `skip` up: what a server holds to answer proofs for millions
/// of tickets in a few MB. Level `skip` holds the roots of aligned blocks of `2^skip` leaves
/// (join indexes `b·2^skip ..`); a proof's lowest `skip` steps are made from the leaves of the
/// ticket's block, read when asked. Same root and same proofs as [`JoinTree`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockTree {
    skip: u32,
    n: u64,
    upper: JoinTree,
}

impl BlockTree {
    /// From the leaves of each block in order (every block full but the last).
    pub fn from_block_roots(skip: u32, n: u64, roots: Vec<[u8; 32]>) -> Self {
        BlockTree {
            skip,
            n,
            upper: JoinTree::from_leaves(roots),
        }
    }

    /// Leaves a block holds.
    pub fn block_len(skip: u32) -> u64 {
        1 << skip
    }

    /// The root of one block's leaves (the node at level `skip`).
    pub fn block_root(leaves: &[[u8; 32]]) -> [u8; 32] {
        JoinTree::from_leaves(leaves.to_vec()).root()
    }

    pub fn len(&self) -> u64 {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    pub fn root(&self) -> [u8; 32] {
        self.upper.root()
    }

    /// The audit path of leaf `index`, given the leaves of its block (`None` when `index` is
    /// out of range or `block_leaves` is not that block's size).
    pub fn proof(&self, index: u64, block_leaves: &[[u8; 32]]) -> Option<Vec<[u8; 32]>> {
        if index >= self.n {
            return None;
        }
        let len = Self::block_len(self.skip);
        let block = index >> self.skip;
        let expected = len.min(self.n - block * len);
        if block_leaves.len() as u64 != expected {
            return None;
        }
        let mut path = JoinTree::from_leaves(block_leaves.to_vec()).proof(index - block * len)?;
        path.extend(self.upper.proof(block)?);
        Some(path)
    }
}

/// Whether `leaf` is the leaf at 0-based `index` of a tree of `n` leaves with `root`, by the
/// audit path `proof` from [`JoinTree::proof`].
pub fn verify_inclusion(index: u64, n: u64, leaf: &[u8; 32], proof: &[[u8; 32]], root: &[u8; 32]) -> bool {
    if index >= n {
        return false;
    }
    let (mut i, mut len, mut r) = (index, n, *leaf);
    let mut path = proof.iter();
    while len > 1 {
        if i ^ 1 < len {
            let Some(p) = path.next() else { return false };
            r = if i % 2 == 0 { node_hash(&r, p) } else { node_hash(p, &r) };
        }
        i /= 2;
        len = len.div_ceil(2);
    }
    path.next().is_none() && r == *root
}

/// Lowercase hex.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses exactly `N` bytes of hex (either case).
pub fn from_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let s = s.as_bytes();
    if s.len() != 2 * N {
        return None;
    }
    let nib = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(s.chunks(2)) {
        *o = nib(pair[0])? << 4 | nib(pair[1])?;
    }
    Some(out)
}

/// `GET /v1/campaigns/{id}/draw`: the commitment from the campaign's creation on; the rest once
/// the draw is done. 64-bit and 256-bit values are hex strings (JSON numbers lose precision
/// past 2^53 in many clients).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DrawInfo {
    pub campaign_id: CampaignId,
    /// `hex(SHA-256("lineup-draw-commit-v1" || seed || salt))`, fixed before the pre-queue opens.
    pub commitment: String,
    pub draw_at: DateTime<Utc>,
    /// Whether the draw is done (then `n`, `seed`, `salt` and, once sealed, `list_root` follow).
    pub drawn: bool,
    /// Tickets in the draw (those with join sequence numbers 1..=n).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u64>,
    /// The seed: 16 hex digits (8 bytes big-endian).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
    /// The salt of the commitment: 64 hex digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
    /// Root of the Merkle tree over the ticket ids in join order ([`JoinTree`]), 64 hex
    /// digits: fixed within seconds of the draw, before anyone is admitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_root: Option<String>,
    pub server_time: DateTime<Utc>,
}

/// `GET /v1/campaigns/{id}/draw/tickets?from=F&limit=L`: ticket ids in join order, the first
/// with join sequence number `from` (1-based).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DrawPage {
    pub campaign_id: CampaignId,
    pub n: u64,
    pub from: u64,
    pub tickets: Vec<String>,
}

/// `GET /v1/campaigns/{id}/draw/proof/{ticket_id}`: where one ticket sits in the join order and
/// the Merkle audit path that proves it against `list_root` (about 20 hashes for a million
/// tickets: what a phone checks instead of the whole list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DrawProof {
    pub campaign_id: CampaignId,
    pub ticket_id: String,
    /// Join sequence number, 1-based (the leaf index plus one).
    pub seq: u64,
    pub n: u64,
    /// Hex hashes, bottom up.
    pub path: Vec<String>,
}

/// Why a published draw does not check out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DrawVerifyError {
    #[error("the draw has not been done yet (draw_at {0}); the seed is revealed then")]
    NotDrawn(DateTime<Utc>),
    #[error("the draw is done but its {0} is not published")]
    Missing(&'static str),
    #[error("the published {0} is not valid hex of the right length")]
    BadHex(&'static str),
    #[error("the revealed seed and salt do not match the commitment {commitment}")]
    CommitmentMismatch { commitment: String },
    #[error("the commitment changed: {seen_before} was published before, {now} now")]
    CommitmentChanged { seen_before: String, now: String },
    #[error("the list has {got} ticket ids but the draw says n = {n}")]
    CountMismatch { n: u64, got: u64 },
    #[error("ticket id {id} appears twice in the list (join numbers {first} and {second})")]
    Duplicate { id: String, first: u64, second: u64 },
    #[error("the list's Merkle root {computed} is not the published list_root {published}: the list was changed")]
    RootMismatch { computed: String, published: String },
    #[error("your ticket {0} is not in the published list")]
    NotInList(String),
    #[error("the server told you position {told} but the published draw puts your ticket at position {computed}")]
    PositionMismatch { told: u64, computed: u64 },
    #[error("the Merkle proof of ticket {0} does not lead to the published list_root")]
    BadProof(String),
}

/// A published draw whose commitment checked out: the seed, `n` and the list root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevealedDraw {
    pub draw: Draw,
    pub seed: u64,
    pub n: u64,
    pub list_root: [u8; 32],
}

impl DrawInfo {
    /// Checks the reveal against the commitment (and against a commitment seen earlier, if the
    /// client kept one), and returns the draw to recompute positions with.
    pub fn reveal(&self, seen_before: Option<&str>) -> Result<RevealedDraw, DrawVerifyError> {
        if let Some(before) = seen_before
            && !before.eq_ignore_ascii_case(&self.commitment)
        {
            return Err(DrawVerifyError::CommitmentChanged {
                seen_before: before.to_owned(),
                now: self.commitment.clone(),
            });
        }
        if !self.drawn {
            return Err(DrawVerifyError::NotDrawn(self.draw_at));
        }
        let n = self.n.ok_or(DrawVerifyError::Missing("n"))?;
        let seed = self.seed.as_deref().ok_or(DrawVerifyError::Missing("seed"))?;
        let salt = self.salt.as_deref().ok_or(DrawVerifyError::Missing("salt"))?;
        let root = self.list_root.as_deref().ok_or(DrawVerifyError::Missing("list_root"))?;
        let seed = u64::from_be_bytes(from_hex::<8>(seed).ok_or(DrawVerifyError::BadHex("seed"))?);
        let salt = from_hex::<32>(salt).ok_or(DrawVerifyError::BadHex("salt"))?;
        let list_root = from_hex::<32>(root).ok_or(DrawVerifyError::BadHex("list_root"))?;
        let committed = from_hex::<32>(&self.commitment).ok_or(DrawVerifyError::BadHex("commitment"))?;
        if commitment(seed, &salt) != committed {
            return Err(DrawVerifyError::CommitmentMismatch {
                commitment: self.commitment.clone(),
            });
        }
        Ok(RevealedDraw {
            draw: Draw::new(seed, n),
            seed,
            n,
            list_root,
        })
    }
}

/// The order a full list gives: every ticket's position, checked against the published root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedOrder {
    /// Ticket ids by position (index 0 = position 1).
    pub by_position: Vec<String>,
    /// Position of each ticket id.
    pub position_of: HashMap<String, u64>,
}

impl RevealedDraw {
    /// Checks the whole list of ticket ids in join order (length, no duplicates, Merkle root)
    /// and recomputes every position.
    pub fn verify_list(&self, ids: &[String]) -> Result<VerifiedOrder, DrawVerifyError> {
        let got = ids.len() as u64;
        if got != self.n {
            return Err(DrawVerifyError::CountMismatch { n: self.n, got });
        }
        let mut seq_of: HashMap<&str, u64> = HashMap::with_capacity(ids.len());
        for (i, id) in ids.iter().enumerate() {
            if let Some(first) = seq_of.insert(id, i as u64 + 1) {
                return Err(DrawVerifyError::Duplicate {
                    id: id.clone(),
                    first,
                    second: i as u64 + 1,
                });
            }
        }
        let computed = JoinTree::new(ids).root();
        if computed != self.list_root {
            return Err(DrawVerifyError::RootMismatch {
                computed: to_hex(&computed),
                published: to_hex(&self.list_root),
            });
        }
        let mut by_position = vec![String::new(); ids.len()];
        let mut position_of = HashMap::with_capacity(ids.len());
        for (i, id) in ids.iter().enumerate() {
            let p = self
                .draw
                .position_of(i as u64)
                .ok_or(DrawVerifyError::CountMismatch { n: self.n, got })?;
            by_position[(p - 1) as usize] = id.clone();
            position_of.insert(id.clone(), p);
        }
        Ok(VerifiedOrder {
            by_position,
            position_of,
        })
    }

    /// Checks one ticket's Merkle proof and returns its position (what a phone checks).
    pub fn verify_proof(&self, proof: &DrawProof) -> Result<u64, DrawVerifyError> {
        let bad = || DrawVerifyError::BadProof(proof.ticket_id.clone());
        if proof.n != self.n || proof.seq == 0 {
            return Err(bad());
        }
        let path: Vec<[u8; 32]> = proof
            .path
            .iter()
            .map(|h| from_hex::<32>(h))
            .collect::<Option<_>>()
            .ok_or(DrawVerifyError::BadHex("proof path"))?;
        let leaf = leaf_hash(&proof.ticket_id);
        if !verify_inclusion(proof.seq - 1, self.n, &leaf, &path, &self.list_root) {
            return Err(bad());
        }
        self.draw.position_of(proof.seq - 1).ok_or_else(bad)
    }
}

/// Compares the position the server told a person with the one the published draw gives.
pub fn check_told_position(told: u64, computed: u64) -> Result<(), DrawVerifyError> {
    if told == computed {
        Ok(())
    } else {
        Err(DrawVerifyError::PositionMismatch { told, computed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_a_bijection_for_many_sizes() {
        for n in [1u64, 2, 3, 4, 5, 7, 8, 15, 16, 17, 100, 1000, 4097] {
            let d = Draw::new(42, n);
            let mut seen = vec![false; n as usize];
            for i in 0..n {
                let p = d.position_of(i).unwrap();
                assert!((1..=n).contains(&p), "n={n} i={i} p={p}");
                assert!(!seen[(p - 1) as usize], "position {p} given twice (n={n})");
                seen[(p - 1) as usize] = true;
                assert_eq!(d.index_at(p), Some(i), "inverse (n={n})");
            }
            assert_eq!(d.position_of(n), None);
            assert_eq!(d.index_at(0), None);
            assert_eq!(d.index_at(n + 1), None);
        }
        assert!(Draw::new(1, 0).is_empty());
        assert_eq!(Draw::new(1, 0).position_of(0), None);
    }

    #[test]
    fn reproducible_from_the_seed_and_different_across_seeds() {
        let a: Vec<u64> = (0..1000).map(|i| Draw::new(7, 1000).position_of(i).unwrap()).collect();
        let b: Vec<u64> = (0..1000).map(|i| Draw::new(7, 1000).position_of(i).unwrap()).collect();
        let c: Vec<u64> = (0..1000).map(|i| Draw::new(8, 1000).position_of(i).unwrap()).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn first_comers_get_no_advantage() {
        // Over many seeds, the first joiner's position is spread over the whole line.
        let n = 100u64;
        let front_half = (0..2000u64)
            .filter(|&seed| Draw::new(seed, n).position_of(0).unwrap() <= n / 2)
            .count();
        assert!(
            (850..=1150).contains(&front_half),
            "first joiner in the front half {front_half} of 2000 times"
        );
    }

    #[test]
    fn large_draws_are_cheap_per_ticket() {
        let d = Draw::new(99, 5_000_000);
        for i in [0u64, 1, 2_500_000, 4_999_999] {
            let p = d.position_of(i).unwrap();
            assert_eq!(d.index_at(p), Some(i));
        }
    }

    /// RFC 6962's recursive tree hash, written independently of [`JoinTree`].
    fn mth(leaves: &[[u8; 32]]) -> [u8; 32] {
        match leaves.len() {
            0 => Sha256::digest(b"").into(),
            1 => leaves[0],
            n => {
                let k = 1usize << (usize::BITS - (n - 1).leading_zeros() - 1);
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    #[test]
    fn the_tree_is_rfc6962_and_every_proof_verifies() {
        for n in 0..40usize {
            let ids: Vec<String> = (0..n).map(|i| format!("t{i}")).collect();
            let t = JoinTree::new(&ids);
            let leaves: Vec<[u8; 32]> = ids.iter().map(|s| leaf_hash(s)).collect();
            assert_eq!(t.root(), mth(&leaves), "n={n}");
            for i in 0..n as u64 {
                let p = t.proof(i).unwrap();
                assert!(
                    verify_inclusion(i, n as u64, &leaves[i as usize], &p, &t.root()),
                    "n={n} i={i}"
                );
                // The wrong index, a wrong leaf, a shortened path all fail.
                if n > 1 {
                    let j = (i + 1) % n as u64;
                    assert!(
                        !verify_inclusion(j, n as u64, &leaves[i as usize], &p, &t.root()),
                        "n={n} i={i}"
                    );
                    assert!(!verify_inclusion(i, n as u64, &leaf_hash("x"), &p, &t.root()));
                    assert!(!verify_inclusion(i, n as u64, &leaves[i as usize], &p[1..], &t.root()));
                }
            }
            assert_eq!(t.proof(n as u64), None);
        }
    }

    #[test]
    fn a_block_tree_has_the_full_trees_root_and_proofs() {
        for skip in [0u32, 1, 2, 4] {
            for n in 0..70u64 {
                let leaves: Vec<[u8; 32]> = (0..n).map(|i| leaf_hash(&format!("t{i}"))).collect();
                let full = JoinTree::from_leaves(leaves.clone());
                let blocks: Vec<&[[u8; 32]]> = leaves.chunks(1 << skip).collect();
                let roots = blocks.iter().map(|b| BlockTree::block_root(b)).collect();
                let sparse = BlockTree::from_block_roots(skip, n, roots);
                assert_eq!(sparse.root(), full.root(), "skip={skip} n={n}");
                for i in 0..n {
                    let b = blocks[(i >> skip) as usize];
                    assert_eq!(sparse.proof(i, b), full.proof(i), "skip={skip} n={n} i={i}");
                }
                assert_eq!(sparse.proof(n, &[]), None);
                if n > 1 && skip > 0 {
                    assert_eq!(sparse.proof(0, &blocks[0][..1]), None, "a short block is refused");
                }
            }
        }
    }

    fn hex_line(doc: &str, name: &str) -> String {
        let line = doc
            .lines()
            .find(|l| l.contains(&format!("`{name}`")))
            .unwrap_or_else(|| panic!("no line naming `{name}` in docs/protocol.md"));
        let start = line
            .rfind(": `")
            .unwrap_or_else(|| panic!("no value on the {name} line"))
            + 3;
        line[start..].trim_end_matches(['`', '.', ' ']).to_owned()
    }

    /// The test vectors printed in docs/protocol.md ("A draw anyone can check") are the ones
    /// this implementation computes: the document is parsed, not copied.
    #[test]
    fn the_documented_test_vectors_hold() {
        let doc = include_str!("../../../docs/protocol.md");
        // The permutation.
        let v: Vec<u64> = (0..8).map(|i| Draw::new(7, 8).position_of(i).unwrap()).collect();
        assert!(doc.contains("Seed 7, n = 8 gives positions `[2, 6, 4, 8, 7, 5, 1, 3]`"));
        assert_eq!(v, [2, 6, 4, 8, 7, 5, 1, 3]);
        // The commitment, the tree and a proof.
        let salt = [0x11u8; 32];
        assert_eq!(hex_line(doc, "vector-commitment"), to_hex(&commitment(7, &salt)));
        let ids: Vec<String> = (1..=5).map(|i| format!("ticket-{i}")).collect();
        let t = JoinTree::new(&ids);
        assert_eq!(hex_line(doc, "vector-leaf"), to_hex(&leaf_hash("ticket-1")));
        assert_eq!(hex_line(doc, "vector-root"), to_hex(&t.root()));
        let proof: Vec<String> = t.proof(2).unwrap().iter().map(|h| to_hex(h)).collect();
        assert_eq!(hex_line(doc, "vector-proof"), proof.join(","));
        let pos: Vec<String> = (0..5)
            .map(|i| Draw::new(7, 5).position_of(i).unwrap().to_string())
            .collect();
        assert_eq!(hex_line(doc, "vector-positions"), pos.join(","));
    }

    fn published(seed: u64, salt: [u8; 32], ids: &[String]) -> DrawInfo {
        DrawInfo {
            campaign_id: "demo".parse().unwrap(),
            commitment: to_hex(&commitment(seed, &salt)),
            draw_at: DateTime::from_timestamp(1_900_000_000, 0).unwrap(),
            drawn: true,
            n: Some(ids.len() as u64),
            seed: Some(to_hex(&seed.to_be_bytes())),
            salt: Some(to_hex(&salt)),
            list_root: Some(to_hex(&JoinTree::new(ids).root())),
            server_time: DateTime::from_timestamp(1_900_000_100, 0).unwrap(),
        }
    }

    #[test]
    fn an_honest_draw_verifies_and_a_tampered_one_fails() {
        let ids: Vec<String> = (0..50).map(|i| format!("id-{i}")).collect();
        let info = published(123, [9; 32], &ids);
        let r = info.reveal(Some(&info.commitment.to_uppercase())).unwrap();
        let order = r.verify_list(&ids).unwrap();
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(order.position_of[id], r.draw.position_of(i as u64).unwrap());
            assert_eq!(&order.by_position[(order.position_of[id] - 1) as usize], id);
        }
        // Proofs give the same positions.
        let t = JoinTree::new(&ids);
        for i in [0usize, 17, 49] {
            let proof = DrawProof {
                campaign_id: "demo".parse().unwrap(),
                ticket_id: ids[i].clone(),
                seq: i as u64 + 1,
                n: 50,
                path: t.proof(i as u64).unwrap().iter().map(|h| to_hex(h)).collect(),
            };
            assert_eq!(r.verify_proof(&proof).unwrap(), order.position_of[&ids[i]]);
            let lie = DrawProof {
                seq: i as u64 % 49 + 2,
                ..proof
            };
            assert!(matches!(r.verify_proof(&lie), Err(DrawVerifyError::BadProof(_))));
        }
        // Two ids swapped: the root no longer matches.
        let mut swapped = ids.clone();
        swapped.swap(3, 4);
        assert!(matches!(
            r.verify_list(&swapped),
            Err(DrawVerifyError::RootMismatch { .. })
        ));
        // An id dropped: the count no longer matches.
        let dropped: Vec<String> = ids[1..].to_vec();
        assert!(matches!(
            r.verify_list(&dropped),
            Err(DrawVerifyError::CountMismatch { n: 50, got: 49 })
        ));
        // An id repeated in place of another.
        let mut dup = ids.clone();
        dup[7] = dup[2].clone();
        assert!(matches!(
            r.verify_list(&dup),
            Err(DrawVerifyError::Duplicate {
                first: 3,
                second: 8,
                ..
            })
        ));
        // A seed that is not the committed one.
        let mut other = info.clone();
        other.seed = Some(to_hex(&124u64.to_be_bytes()));
        assert!(matches!(
            other.reveal(None),
            Err(DrawVerifyError::CommitmentMismatch { .. })
        ));
        // A commitment that changed since the client first saw it.
        assert!(matches!(
            info.reveal(Some(&"00".repeat(32))),
            Err(DrawVerifyError::CommitmentChanged { .. })
        ));
        // Not drawn yet.
        let early = DrawInfo {
            drawn: false,
            ..info.clone()
        };
        assert!(matches!(early.reveal(None), Err(DrawVerifyError::NotDrawn(_))));
        assert!(check_told_position(5, 6).is_err());
        assert!(check_told_position(5, 5).is_ok());
    }

    #[test]
    fn hex_roundtrips_and_rejects_junk() {
        assert_eq!(from_hex::<2>("0aFF"), Some([10, 255]));
        assert_eq!(to_hex(&[10, 255]), "0aff");
        assert_eq!(from_hex::<2>("0aF"), None);
        assert_eq!(from_hex::<2>("0aFg"), None);
        assert_eq!(from_hex::<1>("é"), None);
    }
}
