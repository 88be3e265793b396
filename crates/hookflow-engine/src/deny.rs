//! The operator's outbound deny list (`--deny-networks`, SPEC §4) and where it is enforced.
//!
//! Every address an `http_request` connects to is checked: a host name is resolved by
//! [`DenyingResolver`], the HTTP client's own resolver, so the addresses checked are the
//! addresses connected to (a DNS answer that changes between a check and the connection —
//! rebinding — cannot slip through); an IP-literal URL, which the client connects to without
//! resolving, is checked by [`DenyList::check_url`] before the request is sent.
//!
//! An address is compared as given and, for IPv4-mapped (`::ffff:a.b.c.d`) and IPv4-compatible
//! (`::a.b.c.d`) IPv6 addresses, as the IPv4 address it carries. Whenever a deny list is set, the
//! unspecified addresses `0.0.0.0/8` and `::` are denied too: connecting to them reaches this
//! machine, so they would open every loopback range the list closes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// An address range outbound calls may not reach.
#[derive(Debug, Clone)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    /// `10.0.0.0/8`, `::1/128`, or a bare address.
    pub fn parse(text: &str) -> Result<Network, String> {
        let (a, p) = text.split_once('/').unwrap_or((text, ""));
        let addr: IpAddr = a
            .trim()
            .parse()
            .map_err(|_| format!("{text:?} is not an address range (like 10.0.0.0/8)"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = if p.is_empty() {
            max
        } else {
            p.trim()
                .parse::<u8>()
                .ok()
                .filter(|n| *n <= max)
                .ok_or_else(|| format!("{text:?} has a bad prefix length"))?
        };
        Ok(Network { addr, prefix })
    }

    /// Whether `ip` (of the same family) is in the range.
    pub fn contains(&self, ip: &IpAddr) -> bool {
        match (ip, self.addr) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let m = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - self.prefix)
                };
                u32::from(*a) & m == u32::from(b) & m
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                let m = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - self.prefix)
                };
                u128::from(*a) & m == u128::from(b) & m
            }
            _ => false,
        }
    }
}

/// The IPv4 address an IPv6 address carries: IPv4-mapped `::ffff:a.b.c.d`, or IPv4-compatible
/// `::a.b.c.d` (deprecated, but still parsed) — not `::` and `::1`, which are IPv6's own.
fn embedded_v4(ip: &Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let bits = u128::from(*ip);
    (bits >> 32 == 0 && bits > 1).then(|| Ipv4Addr::from(bits as u32))
}

/// The ranges outbound calls may not reach (empty: anything may be reached).
#[derive(Debug, Clone, Default)]
pub struct DenyList {
    networks: Vec<Network>,
}

impl DenyList {
    /// The configured ranges; with any, the unspecified addresses are added (module docs).
    pub fn parse(ranges: &[String]) -> Result<DenyList, String> {
        let mut networks = ranges
            .iter()
            .map(|n| Network::parse(n))
            .collect::<Result<Vec<_>, _>>()?;
        if !networks.is_empty() {
            networks.push(Network::parse("0.0.0.0/8")?);
            networks.push(Network::parse("::/128")?);
        }
        Ok(DenyList { networks })
    }

    pub fn is_empty(&self) -> bool {
        self.networks.is_empty()
    }

    /// Whether an address is denied, as given or as the IPv4 address it carries.
    pub fn denies(&self, ip: &IpAddr) -> bool {
        let v4 = match ip {
            IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        self.networks
            .iter()
            .any(|n| n.contains(ip) || v4.as_ref().is_some_and(|v| n.contains(v)))
    }

    /// Refuses an IP-literal URL in a denied range (host names are checked by the resolver).
    pub fn check_url(&self, url: &reqwest::Url) -> Result<(), Denied> {
        // The URL parser has normalised IPv4 forms (`0`, `2130706433`, `0x7f.1`) to dotted
        // quads and IPv6 to its canonical form in brackets.
        let host = url.host_str().unwrap_or_default();
        match host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            Ok(ip) => self.check(host, &ip),
            Err(_) => Ok(()),
        }
    }

    fn check(&self, host: &str, ip: &IpAddr) -> Result<(), Denied> {
        if self.denies(ip) {
            return Err(Denied(format!(
                "outbound calls to {host} ({ip}) are denied by the server's configuration"
            )));
        }
        Ok(())
    }
}

/// A destination refused by the deny list; the message names the host and the address.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub String);

impl Denied {
    /// The refusal inside an error's chain of causes (the HTTP client wraps its resolver's
    /// errors).
    pub fn find<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a Denied> {
        let mut cur = Some(e);
        while let Some(err) = cur {
            if let Some(d) = err.downcast_ref::<Denied>() {
                return Some(d);
            }
            cur = err.source();
        }
        None
    }
}

/// The HTTP client's resolver when a deny list is set: resolves with the system's resolver and
/// refuses the name when any of its addresses is denied (a name pointing into a denied range is
/// refused whole, not connected to through its other addresses).
pub struct DenyingResolver {
    pub deny: Arc<DenyList>,
}

impl reqwest::dns::Resolve for DenyingResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let deny = self.deny.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            for a in &addrs {
                deny.check(&host, &a.ip())?;
            }
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denies(list: &[&str], ip: &str) -> bool {
        let list: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        DenyList::parse(&list).unwrap().denies(&ip.parse().unwrap())
    }

    #[test]
    fn networks() {
        let n = Network::parse("127.0.0.0/8").unwrap();
        assert!(n.contains(&"127.1.2.3".parse().unwrap()));
        assert!(!n.contains(&"128.0.0.1".parse().unwrap()));
        let m = Network::parse("169.254.169.254").unwrap();
        assert!(m.contains(&"169.254.169.254".parse().unwrap()));
        assert!(Network::parse("10.0.0.0/33").is_err());
    }

    #[test]
    fn embedded_and_unspecified_addresses_are_denied() {
        let loopback = ["127.0.0.0/8", "::1/128"];
        for ip in [
            "127.0.0.1",
            "::1",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "::",
            "::ffff:0.0.0.0",
        ] {
            assert!(denies(&loopback, ip), "{ip} is not denied");
        }
        for ip in ["10.0.0.1", "fe80::2", "2001:db8::1", "::ffff:10.0.0.1"] {
            assert!(!denies(&loopback, ip), "{ip} is denied");
        }
        // Without a list, nothing is denied.
        assert!(!denies(&[], "0.0.0.0"));
    }

    /// The resolver refuses a name when an address it resolves to is denied, and answers the
    /// addresses otherwise.
    #[tokio::test]
    async fn the_resolver_checks_what_it_resolves() {
        use reqwest::dns::Resolve;
        let resolver = |list: &[&str]| DenyingResolver {
            deny: Arc::new(
                DenyList::parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap(),
            ),
        };
        let name = |n: &str| n.parse::<reqwest::dns::Name>().unwrap();
        let refused = resolver(&["127.0.0.0/8", "::1/128"])
            .resolve(name("localhost"))
            .await
            .err()
            .expect("localhost is refused");
        assert!(Denied::find(&*refused).is_some(), "{refused}");
        let addrs: Vec<SocketAddr> = resolver(&["10.0.0.0/8"])
            .resolve(name("localhost"))
            .await
            .expect("localhost is allowed")
            .collect();
        assert!(addrs.iter().any(|a| a.ip().is_loopback()), "{addrs:?}");
    }
}
