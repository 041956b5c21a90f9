//! Where a request comes from: the client's address and the scheme and host it asked for.
//! Forwarded headers (`X-Forwarded-For`, `-Proto`, `-Host`) count only when the peer that
//! sent them is a trusted proxy; otherwise anyone could pick the address their limits are
//! counted under, or the address the WSDL sends shops to.

use std::net::IpAddr;

/// A request's origin, as the server acts on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The client's address (the per-address limits count it).
    pub client: IpAddr,
    /// `http` or `https`.
    pub scheme: String,
    /// The host (and port) the client asked for.
    pub host: String,
}

/// What arrived with a request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Arrival<'a> {
    /// The `Host` header.
    pub host: Option<&'a str>,
    /// `X-Forwarded-For`.
    pub forwarded_for: Option<&'a str>,
    /// `X-Forwarded-Proto`.
    pub forwarded_proto: Option<&'a str>,
    /// `X-Forwarded-Host`.
    pub forwarded_host: Option<&'a str>,
}

/// The network a client address stands for, where it is more than the address: an IPv6
/// address by its /64 (one subscriber's share, more addresses than any limit could count).
/// `None` for anything else (IPv4, IPv4-mapped IPv6, text that is no address).
pub fn network_of(address: &str) -> Option<String> {
    match address.parse::<std::net::Ipv6Addr>() {
        Ok(v6) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            Some(format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3]))
        }
        _ => None,
    }
}

/// The origin of a request from `peer`: from the forwarded headers when `peer` is one of
/// `trusted`, from the connection and `Host` otherwise. Behind several trusted proxies the
/// client is the right-most address of `X-Forwarded-For` that is not a trusted proxy.
pub fn origin(peer: IpAddr, arrival: &Arrival<'_>, trusted: &[IpAddr]) -> Origin {
    let peer = peer.to_canonical();
    let trusted: Vec<IpAddr> = trusted.iter().map(IpAddr::to_canonical).collect();
    let trusted = trusted.as_slice();
    let direct = Origin { client: peer, scheme: "http".to_owned(), host: host_or_default(arrival.host) };
    if !trusted.contains(&peer) {
        return direct;
    }
    let client = arrival.forwarded_for.map_or(peer, |list| client_in(list, peer, trusted));
    let scheme = match arrival.forwarded_proto.map(str::trim) {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        Some(_) | None => "http",
    };
    let host = arrival.forwarded_host.map(|h| h.split(',').next().unwrap_or(h).trim());
    Origin {
        client,
        scheme: scheme.to_owned(),
        host: host.filter(|h| valid_host(h)).map_or(direct.host, str::to_owned),
    }
}

/// Walks `X-Forwarded-For` from the right, past the trusted proxies: the first other entry
/// is the client. An entry that is no address (`unknown`, a port, a socket path) ends the
/// walk at the proxy that wrote it, so nothing left of it is believed.
fn client_in(list: &str, peer: IpAddr, trusted: &[IpAddr]) -> IpAddr {
    let mut last_trusted = peer;
    for entry in list.rsplit(',').map(str::trim).filter(|e| !e.is_empty()) {
        match entry.parse::<IpAddr>().map(|a| a.to_canonical()) {
            Ok(address) if trusted.contains(&address) => last_trusted = address,
            Ok(address) => return address,
            Err(_) => return last_trusted,
        }
    }
    last_trusted
}

fn host_or_default(host: Option<&str>) -> String {
    host.map(str::trim).filter(|h| valid_host(h)).unwrap_or("localhost").to_owned()
}

/// A host name or address with an optional port: nothing a link could be bent with.
fn valid_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

#[cfg(test)]
mod tests {

    #[test]
    fn an_ipv6_address_stands_for_its_slash_64_and_others_for_themselves() {
        assert_eq!(network_of("2001:db8:1:2:aaaa::1").as_deref(), Some("2001:db8:1:2::/64"));
        assert_eq!(network_of("2001:db8:1:2:bbbb::9"), network_of("2001:db8:1:2::5"));
        assert_eq!(network_of("192.0.2.7"), None);
        assert_eq!(network_of("::ffff:192.0.2.7"), None);
        assert_eq!(network_of("unknown"), None);
    }

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    fn forwarded<'a>(xff: &'a str, host: &'a str) -> Arrival<'a> {
        Arrival {
            host: Some("internal:8080"),
            forwarded_for: Some(xff),
            forwarded_proto: Some("https"),
            forwarded_host: Some(host),
        }
    }

    #[test]
    fn forwarded_headers_from_an_untrusted_peer_are_ignored() {
        let o = origin(ip("203.0.113.9"), &forwarded("10.0.0.1", "evil.example"), &[ip("127.0.0.1")]);
        assert_eq!(
            o,
            Origin { client: ip("203.0.113.9"), scheme: "http".into(), host: "internal:8080".into() }
        );
    }

    #[test]
    fn a_trusted_proxy_names_the_client_scheme_and_host() {
        let o =
            origin(ip("127.0.0.1"), &forwarded("198.51.100.7", "licenses.example.com"), &[ip("127.0.0.1")]);
        assert_eq!(
            o,
            Origin {
                client: ip("198.51.100.7"),
                scheme: "https".into(),
                host: "licenses.example.com".into()
            }
        );
    }

    #[test]
    fn behind_two_proxies_the_client_is_the_right_most_untrusted_address() {
        let trusted = [ip("127.0.0.1"), ip("10.0.0.2")];
        let o = origin(ip("127.0.0.1"), &forwarded("6.6.6.6, 198.51.100.7, 10.0.0.2", "a.example"), &trusted);
        assert_eq!(o.client, ip("198.51.100.7"), "a spoofed left-most entry is not believed");
    }

    #[test]
    fn an_entry_that_is_no_address_stops_the_walk_and_mapped_addresses_match() {
        let trusted = [ip("127.0.0.1")];
        let o = origin(ip("::ffff:127.0.0.1"), &forwarded("6.6.6.6, unknown", "a.example"), &trusted);
        assert_eq!(o.client, ip("127.0.0.1"), "the spoofed entry left of 'unknown' is not believed");
        let o = origin(ip("::ffff:127.0.0.1"), &forwarded("198.51.100.7", "a.example"), &trusted);
        assert_eq!(o.client, ip("198.51.100.7"), "an IPv4-mapped peer is the trusted proxy");
    }

    #[test]
    fn a_host_that_could_bend_a_link_is_not_used() {
        let o = origin(ip("127.0.0.1"), &forwarded("198.51.100.7", "a.example/evil?"), &[ip("127.0.0.1")]);
        assert_eq!(o.host, "internal:8080");
    }
}
