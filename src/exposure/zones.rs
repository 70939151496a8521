//! Named CIDR sets from the configuration: the `zone` label of a sender.
//!
//! Label values are bounded by the configuration: a zone name is checked
//! once here (label-safe characters, bounded length and count), and an
//! address outside every zone is `unknown`.

use std::net::IpAddr;

/// Most zones a configuration may name (each is a label value).
pub const MAX_ZONES: usize = 64;
/// Longest zone name.
pub const MAX_ZONE_NAME: usize = 64;
/// The zone of an address that no configured zone contains.
pub const UNKNOWN: &str = "unknown";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZoneError {
    #[error("zone {zone:?}: bad CIDR {cidr:?} (want ADDRESS/PREFIX, e.g. 10.0.0.0/8 or fd00::/8)")]
    BadCidr { zone: String, cidr: String },
    #[error("bad zone name {0:?} (1-64 characters of A-Z a-z 0-9 _ -)")]
    BadName(String),
    #[error("zone {0:?} is defined twice")]
    Duplicate(String),
    #[error("too many zones (at most {MAX_ZONES})")]
    TooMany,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Net {
    /// Address as a 128-bit number (IPv4 in the low 32 bits), masked.
    addr: u128,
    prefix: u8,
    v4: bool,
}

impl Net {
    fn parse(s: &str) -> Option<Net> {
        let (a, p) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let ip: IpAddr = a.parse().ok()?;
        let (addr, max, v4) = match ip {
            IpAddr::V4(v) => (u128::from(u32::from(v)), 32u8, true),
            IpAddr::V6(v) => (u128::from(v), 128u8, false),
        };
        let prefix = match p {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok()?,
            Some(_) => return None,
            None => max,
        };
        if prefix > max {
            return None;
        }
        // Host bits are ignored (10.1.2.3/8 is 10.0.0.0/8), as ip(8) does.
        Some(Net {
            addr: addr & mask(prefix, max),
            prefix,
            v4,
        })
    }

    fn contains(&self, addr: u128, v4: bool) -> bool {
        let max = if v4 { 32 } else { 128 };
        self.v4 == v4 && addr & mask(self.prefix, max) == self.addr
    }
}

fn mask(prefix: u8, max: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        let all = if max == 32 {
            u128::from(u32::MAX)
        } else {
            u128::MAX
        };
        all & !((1u128 << (max - prefix)) - 1) & all
    }
}

/// Zones in configuration order; the first zone holding an address wins.
#[derive(Debug, Clone, Default)]
pub struct Zones {
    zones: Vec<(String, Vec<Net>)>,
}

impl Zones {
    /// Build from `(name, [cidr, ...])` pairs. A bare address is a /32 or
    /// /128. Errors name the zone and the bad CIDR.
    pub fn new(spec: Vec<(String, Vec<String>)>) -> Result<Zones, ZoneError> {
        if spec.len() > MAX_ZONES {
            return Err(ZoneError::TooMany);
        }
        let mut zones: Vec<(String, Vec<Net>)> = Vec::with_capacity(spec.len());
        for (name, cidrs) in spec {
            let ok = !name.is_empty()
                && name.len() <= MAX_ZONE_NAME
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !ok {
                return Err(ZoneError::BadName(name));
            }
            if zones.iter().any(|(n, _)| *n == name) {
                return Err(ZoneError::Duplicate(name));
            }
            let mut nets = Vec::with_capacity(cidrs.len());
            for c in cidrs {
                match Net::parse(&c) {
                    Some(n) => nets.push(n),
                    None => {
                        return Err(ZoneError::BadCidr {
                            zone: name,
                            cidr: c,
                        })
                    }
                }
            }
            zones.push((name, nets));
        }
        Ok(Zones { zones })
    }

    /// The name of the first zone containing `ip`, else `unknown`.
    /// IPv4-mapped IPv6 addresses are looked up as IPv4.
    pub fn zone_of(&self, ip: IpAddr) -> &str {
        let (addr, v4) = match ip {
            IpAddr::V4(v) => (u128::from(u32::from(v)), true),
            IpAddr::V6(v) => match v.to_ipv4_mapped() {
                Some(v4) => (u128::from(u32::from(v4)), true),
                None => (u128::from(v), false),
            },
        };
        self.zones
            .iter()
            .find(|(_, nets)| nets.iter().any(|n| n.contains(addr, v4)))
            .map_or(UNKNOWN, |(name, _)| name.as_str())
    }

    /// Every zone name, in order (then `unknown`): all label values.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.zones
            .iter()
            .map(|(n, _)| n.as_str())
            .chain(std::iter::once(UNKNOWN))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zones() -> Zones {
        Zones::new(vec![
            (
                "lan".into(),
                vec!["192.168.0.0/16".into(), "fd00::/8".into()],
            ),
            (
                "dmz".into(),
                vec!["10.1.2.3/24".into(), "10.0.0.0/8".into()],
            ),
            ("all4".into(), vec!["0.0.0.0/0".into()]),
        ])
        .unwrap()
    }

    #[test]
    fn first_match_wins() {
        let z = zones();
        let of = |s: &str| z.zone_of(s.parse().unwrap()).to_string();
        assert_eq!(of("192.168.5.5"), "lan");
        assert_eq!(of("::ffff:192.168.5.5"), "lan");
        assert_eq!(of("fd12::1"), "lan");
        assert_eq!(of("10.1.2.200"), "dmz");
        assert_eq!(of("10.200.0.1"), "dmz");
        assert_eq!(of("8.8.8.8"), "all4");
        assert_eq!(of("2001:db8::1"), "unknown");
        assert_eq!(
            Zones::default().zone_of("10.0.0.1".parse().unwrap()),
            "unknown"
        );
        assert_eq!(
            z.names().collect::<Vec<_>>(),
            ["lan", "dmz", "all4", "unknown"]
        );
        let host = Zones::new(vec![(
            "h".into(),
            vec!["2001:db8::1".into(), "1.2.3.4/32".into()],
        )])
        .unwrap();
        assert_eq!(host.zone_of("2001:db8::1".parse().unwrap()), "h");
        assert_eq!(host.zone_of("2001:db8::2".parse().unwrap()), "unknown");
        assert_eq!(host.zone_of("1.2.3.4".parse().unwrap()), "h");
    }

    #[test]
    fn errors_name_the_culprit() {
        for bad in [
            "10.0.0.0/33",
            "10.0.0/8",
            "fd00::/129",
            "x",
            "10.0.0.0/",
            "10.0.0.0/+8",
        ] {
            let e = Zones::new(vec![("lan".into(), vec![bad.into()])]).unwrap_err();
            assert_eq!(
                e,
                ZoneError::BadCidr {
                    zone: "lan".into(),
                    cidr: bad.into()
                }
            );
            assert!(e.to_string().contains(bad));
        }
        assert!(matches!(
            Zones::new(vec![("a b".into(), vec![])]),
            Err(ZoneError::BadName(_))
        ));
        assert!(matches!(
            Zones::new(vec![("a".into(), vec![]), ("a".into(), vec![])]),
            Err(ZoneError::Duplicate(_))
        ));
        let many = (0..=MAX_ZONES).map(|i| (format!("z{i}"), vec![])).collect();
        assert_eq!(Zones::new(many).unwrap_err(), ZoneError::TooMany);
    }
}
