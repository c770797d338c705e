//! The client's address. Behind a load balancer every request comes from the balancer, so rate
//! limits, the audit trail and the logs would see one client. When the socket peer is one of the
//! deployment's `trusted_proxies`, the client is the right-most address of `Forwarded` (RFC
//! 7239; else `X-Forwarded-For`) that is not a trusted proxy: the last hop a trusted proxy saw.
//! From any other peer those headers are ignored, so a client cannot choose its address.
//! (`forwarded-header-value` parses the headers; `ipnet` holds the address blocks.)

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::http::header::FORWARDED;
use axum::middleware::Next;
use axum::response::Response;
use forwarded_header_value::ForwardedHeaderValue;
use ipnet::IpNet;

/// The peers whose forwarding headers are believed: addresses and CIDR blocks.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Each entry an address (`10.0.0.7`, `::1`) or a block (`10.0.0.0/8`); the error names
    /// the first that is neither.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<TrustedProxies, String> {
        let mut nets = Vec::with_capacity(entries.len());
        for entry in entries {
            let entry = entry.as_ref().trim();
            let net = entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("`{entry}` is neither an IP address nor a CIDR block"))?;
            nets.push(net);
        }
        Ok(TrustedProxies(nets))
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request from `peer` with `headers`.
    fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusts(client) {
            return client;
        }
        for hop in forwarded_for(headers).into_iter().rev() {
            match hop {
                Some(ip) => {
                    client = ip.to_canonical();
                    if !self.trusts(client) {
                        break;
                    }
                }
                // An unknown or obfuscated hop: the nearest proxy's view is all there is.
                None => break,
            }
        }
        client
    }
}

/// The client's address, as [`TrustedProxies`] decide it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientAddr(pub IpAddr);

/// The hops a request went through, the client first: from `Forwarded` when there is one, else
/// `X-Forwarded-For`; `None` for a hop that names no address. A header that does not parse
/// names no hop.
fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let joined = |name: &str| {
        let values: Vec<&str> =
            headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect();
        values.join(",")
    };
    let forwarded = joined(FORWARDED.as_str());
    let parsed = if forwarded.trim().is_empty() {
        ForwardedHeaderValue::from_x_forwarded_for(&joined("x-forwarded-for"))
    } else {
        ForwardedHeaderValue::from_forwarded(&forwarded)
    };
    parsed.map(|hops| hops.iter().map(|hop| hop.forwarded_for_ip()).collect()).unwrap_or_default()
}

/// The layer that puts the [`ClientAddr`] on every request.
pub(crate) async fn address(
    State(trusted): State<Arc<TrustedProxies>>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    if let Some(peer) = peer {
        let client = trusted.client(peer, request.headers());
        request.extensions_mut().insert(ClientAddr(client));
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let trusted = TrustedProxies::parse(&["10.0.0.0/8", "::1"]).unwrap();
        let peer = ip("10.0.0.2");
        for (pairs, client) in [
            (vec![("x-forwarded-for", "203.0.113.9")], "203.0.113.9"),
            (vec![("x-forwarded-for", "198.51.100.1, 203.0.113.9, 10.0.0.5")], "203.0.113.9"),
            (
                vec![("x-forwarded-for", "198.51.100.1"), ("x-forwarded-for", "10.1.1.1")],
                "198.51.100.1",
            ),
            (
                vec![("forwarded", "for=192.0.2.60;proto=http;by=203.0.113.43, for=10.0.0.9")],
                "192.0.2.60",
            ),
            (vec![("forwarded", r#"for="[2001:db8:cafe::17]:4711""#)], "2001:db8:cafe::17"),
            // Forwarded wins over X-Forwarded-For.
            (vec![("forwarded", "for=192.0.2.1"), ("x-forwarded-for", "192.0.2.2")], "192.0.2.1"),
            // Every hop trusted: the left-most; an unknown hop: the proxy that saw it.
            (vec![("x-forwarded-for", "10.9.9.9, 10.0.0.5")], "10.9.9.9"),
            (vec![("forwarded", "for=unknown, for=10.0.0.5")], "10.0.0.5"),
            // Unparsable or absent: the peer.
            (vec![("x-forwarded-for", "not an address")], "10.0.0.2"),
            (vec![], "10.0.0.2"),
        ] {
            assert_eq!(trusted.client(peer, &headers(&pairs)), ip(client), "{pairs:?}");
        }
    }

    #[test]
    fn an_untrusted_peer_chooses_nothing() {
        let trusted = TrustedProxies::parse(&["10.0.0.0/8"]).unwrap();
        let spoofed = headers(&[("x-forwarded-for", "192.0.2.1"), ("forwarded", "for=192.0.2.1")]);
        assert_eq!(trusted.client(ip("203.0.113.5"), &spoofed), ip("203.0.113.5"));
        assert_eq!(TrustedProxies::default().client(ip("10.0.0.2"), &spoofed), ip("10.0.0.2"));
        assert_eq!(trusted.client(ip("::ffff:10.0.0.2"), &spoofed), ip("192.0.2.1"), "IPv4-mapped");
    }

    #[test]
    fn entries_are_addresses_or_blocks() {
        assert!(TrustedProxies::parse(&["10.0.0.1", "fd00::/8", " 192.168.0.0/16 "]).is_ok());
        let wrong = TrustedProxies::parse(&["10.0.0.1", "proxy.internal"]).unwrap_err();
        assert!(wrong.contains("proxy.internal"), "{wrong}");
    }
}
