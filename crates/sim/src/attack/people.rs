//! The calm people of an attack run: identities, registration and the read-back, as in `load`,
//! except that each person connects from its own loopback address (127.1.x.y). Real people
//! reach a server from many addresses; were they all on 127.0.0.1, the server's per-address
//! limit would treat the calm crowd as one hammering host, and the attack report would measure
//! the harness, not the attackers (who each use one address of their own, 127.0.0.2 and up).

use super::AttackError;
use crate::load::Shared;
use crate::load::clients::campaign_id;
use ed25519_dalek::SigningKey;
use lineup_core::api::{ApiClient, ApiConfig};
use lineup_protocol::Contact;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

/// Person `i`'s address: 127.1.0.1, 127.1.0.2, ... (16 million fit in 127.1.0.0/8's rest).
pub fn address_of(i: u32) -> IpAddr {
    let n = i + 1;
    IpAddr::V4(Ipv4Addr::new(127, 1 + (n >> 16) as u8, (n >> 8) as u8, n as u8))
}

/// One calm person: their key and their client (signing as them, from their address).
#[derive(Clone)]
pub struct Person {
    pub key: SigningKey,
    pub api: ApiClient,
}

/// `n` people for the server at `url`, keys from `seed`; clients are made on all cores (each
/// brings its own HTTP client and TLS set-up: milliseconds each, seconds for thousands).
pub async fn make(url: &str, n: u32, seed: u64, timeout_s: u64) -> Result<Vec<Person>, AttackError> {
    let mut rng = Pcg64::seed_from_u64(seed ^ 0x6b657973);
    let keys: Vec<SigningKey> = (0..n)
        .map(|_| {
            let mut bytes = [0u8; 32];
            rng.fill_bytes(&mut bytes);
            SigningKey::from_bytes(&bytes)
        })
        .collect();
    let config = ApiConfig {
        connect_timeout: Duration::from_secs(timeout_s),
        request_timeout: Duration::from_secs(timeout_s),
        // As in `load`: thousands of people share this machine's descriptors with the server.
        idle_timeout: Duration::from_millis(500),
    };
    let workers = std::thread::available_parallelism().map_or(1, usize::from);
    let chunk = keys.len().div_ceil(workers).max(1);
    let mut jobs = Vec::new();
    for (c, part) in keys.chunks(chunk).enumerate() {
        let (part, url) = (part.to_vec(), url.to_owned());
        jobs.push(tokio::task::spawn_blocking(move || {
            part.into_iter()
                .enumerate()
                .map(|(j, key)| {
                    let i = u32::try_from(c * chunk + j).map_err(|_| AttackError::Invalid("too many people".into()))?;
                    let api = ApiClient::bound_to(&url, config, address_of(i))
                        .map_err(|e| AttackError::Setup(format!("API client: {e}")))?
                        .with_identity(key.clone());
                    Ok(Person { key, api })
                })
                .collect::<Result<Vec<_>, AttackError>>()
        }));
    }
    let mut people = Vec::with_capacity(keys.len());
    for job in jobs {
        people.extend(
            job.await
                .map_err(|e| AttackError::Setup(format!("making clients: {e}")))??,
        );
    }
    Ok(people)
}

/// Registers everyone (contact `+8210` and the person's number), `concurrency` at a time,
/// retrying: registration comes before the scenario and is not measured.
pub async fn register(people: &[Person], concurrency: usize) -> Result<(), AttackError> {
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, p) in people.iter().enumerate() {
        let (api, sem) = (p.api.clone(), sem.clone());
        let contact: Contact = format!("+8210{i:08}")
            .parse()
            .map_err(|e| AttackError::Setup(format!("contact: {e}")))?;
        tasks.spawn(async move {
            let _permit = sem.acquire_owned().await;
            crate::load::clients::register_retrying(&api, contact)
                .await
                .map_err(|last| AttackError::Setup(format!("registration failed: {last}")))
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.map_err(|e| AttackError::Setup(format!("registration task: {e}")))??;
    }
    Ok(())
}

/// After the run: each person's place in the queue and the vouchers the server holds for
/// them, asked with their own client (not counted as scenario requests).
pub(crate) async fn read_back(people: &[Person], shared: &Arc<Shared>, concurrency: usize) -> Result<(), AttackError> {
    let cid = campaign_id()?;
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, p) in people.iter().enumerate() {
        let (api, sem, shared, cid) = (p.api.clone(), sem.clone(), shared.clone(), cid.clone());
        let client = u32::try_from(i).map_err(|_| AttackError::Invalid("too many people".into()))?;
        tasks.spawn(async move {
            let _permit = sem.acquire_owned().await;
            crate::load::clients::read_one(&api, &cid, client, &shared).await
        });
    }
    let mut failures = Vec::new();
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(e),
            Err(e) => failures.push(e.to_string()),
        }
    }
    if let Some(first) = failures.first() {
        return Err(AttackError::Setup(format!(
            "{} read-backs failed, e.g. {first}",
            failures.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_get_distinct_loopback_addresses_away_from_the_attackers() {
        assert_eq!(address_of(0), IpAddr::V4(Ipv4Addr::new(127, 1, 0, 1)));
        assert_eq!(address_of(255), IpAddr::V4(Ipv4Addr::new(127, 1, 1, 0)));
        assert_eq!(address_of(65_535), IpAddr::V4(Ipv4Addr::new(127, 2, 0, 0)));
        let all: std::collections::HashSet<IpAddr> = (0..100_000).map(address_of).collect();
        assert_eq!(all.len(), 100_000);
        assert!(
            all.iter()
                .all(|a| a.is_loopback() && !matches!(a, IpAddr::V4(v) if v.octets()[1] == 0))
        );
    }
}
