//! Push endpoints are URLs a client hands the server, which then POSTs to them: a server-side
//! request forgery vector. A registered endpoint must be `https` with a public host; at send
//! time the resolver refuses names that resolve to private, loopback or link-local addresses
//! (a name may point anywhere after registration), and redirects are not followed.
//! `--push-allow-private-endpoints` lifts both rules (and allows `http`), for tests on loopback.

use std::net::{IpAddr, SocketAddr};

/// Longest endpoint accepted (push services' URLs are a few hundred bytes).
pub const MAX_ENDPOINT_LEN: usize = 2048;

/// A push endpoint that passed [`Endpoint::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    url: reqwest::Url,
}

/// Why an endpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("the endpoint is not an absolute URL")]
    NotUrl,
    #[error("the endpoint is longer than {MAX_ENDPOINT_LEN} bytes")]
    TooLong,
    #[error("the endpoint must use https")]
    NotHttps,
    #[error("the endpoint must not carry a user name or password")]
    Credentials,
    #[error("the endpoint's host is a private, loopback or otherwise non-public address")]
    PrivateHost,
}

impl Endpoint {
    pub fn parse(s: &str, allow_private: bool) -> Result<Self, EndpointError> {
        if s.len() > MAX_ENDPOINT_LEN {
            return Err(EndpointError::TooLong);
        }
        let url = reqwest::Url::parse(s).map_err(|_| EndpointError::NotUrl)?;
        match url.scheme() {
            "https" => {}
            "http" if allow_private => {}
            _ => return Err(EndpointError::NotHttps),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(EndpointError::Credentials);
        }
        let host = url.host().ok_or(EndpointError::NotUrl)?;
        if !allow_private {
            let public = match host {
                url::Host::Ipv4(a) => is_public(IpAddr::V4(a)),
                url::Host::Ipv6(a) => is_public(IpAddr::V6(a)),
                url::Host::Domain(d) => {
                    let d = d.trim_end_matches('.').to_ascii_lowercase();
                    d.contains('.') && d != "localhost" && !d.ends_with(".localhost") && !d.ends_with(".local")
                }
            };
            if !public {
                return Err(EndpointError::PrivateHost);
            }
        }
        Ok(Endpoint { url })
    }

    pub fn url(&self) -> &reqwest::Url {
        &self.url
    }

    /// RFC 8292's audience: scheme, host and, when not the scheme's default, the port.
    pub fn origin(&self) -> String {
        self.url.origin().ascii_serialization()
    }
}

/// Whether `ip` is a globally routable unicast address (not loopback, private, link-local,
/// shared, documentation, unspecified, multicast or an IPv4-mapped one of those).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            !(a.is_private()
                || a.is_loopback()
                || a.is_link_local()
                || a.is_unspecified()
                || a.is_broadcast()
                || a.is_multicast()
                || a.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || o[0] >= 240)
        }
        IpAddr::V6(a) => {
            if let Some(v4) = a.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = a.segments();
            !(a.is_loopback()
                || a.is_unspecified()
                || a.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || s[0] == 0x2001 && s[1] == 0x0db8)
        }
    }
}

/// A resolver for the push client that drops non-public addresses (so a name registered while
/// public cannot later aim the server at its own network).
#[derive(Debug, Clone, Copy)]
pub struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| is_public(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_https_endpoints_only() {
        let ok = Endpoint::parse("https://fcm.googleapis.com/fcm/send/abc:def", false).unwrap();
        assert_eq!(ok.origin(), "https://fcm.googleapis.com");
        let port = Endpoint::parse("https://push.example.org:8443/x", false).unwrap();
        assert_eq!(port.origin(), "https://push.example.org:8443");
        for (bad, why) in [
            ("not a url", EndpointError::NotUrl),
            ("http://push.example.org/x", EndpointError::NotHttps),
            ("ftp://push.example.org/x", EndpointError::NotHttps),
            ("https://u:p@push.example.org/x", EndpointError::Credentials),
            ("https://127.0.0.1/x", EndpointError::PrivateHost),
            ("https://10.1.2.3/x", EndpointError::PrivateHost),
            ("https://169.254.169.254/latest/meta-data", EndpointError::PrivateHost),
            ("https://100.64.0.1/x", EndpointError::PrivateHost),
            ("https://[::1]/x", EndpointError::PrivateHost),
            ("https://[fd00::1]/x", EndpointError::PrivateHost),
            ("https://[fe80::1]/x", EndpointError::PrivateHost),
            ("https://[::ffff:192.168.0.1]/x", EndpointError::PrivateHost),
            ("https://localhost/x", EndpointError::PrivateHost),
            ("https://printer.local/x", EndpointError::PrivateHost),
            ("https://intranet/x", EndpointError::PrivateHost),
        ] {
            assert_eq!(Endpoint::parse(bad, false), Err(why), "{bad}");
        }
        assert_eq!(
            Endpoint::parse(&format!("https://a.example/{}", "x".repeat(MAX_ENDPOINT_LEN)), false),
            Err(EndpointError::TooLong)
        );
        // Tests on loopback, behind the flag.
        let local = Endpoint::parse("http://127.0.0.1:5000/push/a", true).unwrap();
        assert_eq!(local.origin(), "http://127.0.0.1:5000");
        assert!(is_public("8.8.8.8".parse().unwrap()));
        assert!(is_public("2a00:1450::1".parse().unwrap()));
    }
}
