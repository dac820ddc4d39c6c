//! A backend's `sd` and `sd_scheme` (KrakenD's service discovery): `static` (the default, the
//! `host` list as written) or `dns`, where the first host is a DNS SRV name whose records
//! are the backend's targets (docs/service-discovery.md).

use super::decode::Cx;
use super::error::Path;
use super::Diagnostic;

/// `"sd": "dns"`: the backend's targets are the SRV records of `name`, called over `scheme`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsDiscovery {
    /// The SRV name, e.g. `_api._tcp.example.service.consul` (no trailing dot needed).
    pub name: String,
    /// `sd_scheme`: `http` (default) or `https`.
    pub scheme: String,
    /// Where `sd` is written, for the checks a front end makes later (Workers refuse it).
    pub at: Diagnostic,
}

impl DnsDiscovery {
    /// `scheme://name`: what the backend's `host` holds, and what a failed lookup's log line
    /// names.
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme, self.name)
    }
}

/// The backend's service discovery: `None` for `static` (or an error, reported on `cx`).
/// `hosts` is the backend's own `host` list, `root_hosts` the root's (inherited when the
/// backend has none).
pub(crate) fn decode(
    cx: &mut Cx<'_, '_>,
    sd: Option<&str>,
    sd_scheme: Option<&str>,
    hosts: &[String],
    root_hosts: &[String],
) -> Option<DnsDiscovery> {
    match sd {
        None | Some("static") => {
            if sd_scheme.is_some() {
                cx.at("sd_scheme")
                    .warn("`sd_scheme` has no effect without `\"sd\": \"dns\"`");
            }
            return None;
        }
        Some("dns") => {}
        Some("dns-shared") => cx.at("sd").warn(
            "`dns-shared` is KrakenD Enterprise's; Manifold resolves it as `dns` (each backend keeps its own answer)",
        ),
        Some(other) => {
            cx.at("sd").error(format!(
                "unknown service discovery `{other}`: use `static` (the `host` list) or `dns` (DNS SRV)"
            ));
            return None;
        }
    }
    let scheme = match sd_scheme.map(str::to_ascii_lowercase).as_deref() {
        None => "http".to_owned(),
        Some(s @ ("http" | "https")) => s.to_owned(),
        Some(_) => {
            cx.at("sd_scheme").error(format!(
                "`sd_scheme` `{}`: use `http` or `https`",
                sd_scheme.unwrap_or_default()
            ));
            return None;
        }
    };
    let inherited = hosts.is_empty();
    let list = if inherited { root_hosts } else { hosts };
    let at_host = |cx: &Cx<'_, '_>, i: usize| -> Path {
        if inherited {
            Path::default().key("host").index(i)
        } else {
            cx.path().key("host").index(i)
        }
    };
    let Some(name) = list.first() else {
        cx.at("host").error(
            "no host: with `\"sd\": \"dns\"` the first `host` is the DNS SRV name to resolve",
        );
        return None;
    };
    let first = at_host(cx, 0);
    if let Err(why) = check_name(name) {
        cx.at_path(first).error(why);
        return None;
    }
    if list.len() > 1 {
        let second = at_host(cx, 1);
        cx.at_path(second).warn(
            "with `\"sd\": \"dns\"` only the first host is resolved (as KrakenD); the others are ignored",
        );
    }
    Some(DnsDiscovery {
        name: name.trim_end_matches('.').to_owned(),
        scheme,
        at: cx.at("sd").place(),
    })
}

/// An SRV name: DNS labels only (letters, digits, `-`, `_`), no scheme, port or path.
fn check_name(name: &str) -> Result<(), String> {
    if name.contains("://") {
        return Err(format!(
            "host `{name}`: with `\"sd\": \"dns\"` the host is a DNS SRV name without a scheme (e.g. `_api._tcp.example.service.consul`; the scheme is `sd_scheme`)"
        ));
    }
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    let valid = !trimmed.is_empty()
        && trimmed.len() <= 253
        && trimmed.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if valid {
        Ok(())
    } else {
        Err(format!(
            "host `{name}`: not a DNS name (with `\"sd\": \"dns\"` the host is the SRV name to resolve, e.g. `_api._tcp.example.service.consul`, without port or path)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::check_name;

    #[test]
    fn srv_names_are_dns_names_without_scheme_port_or_path() {
        assert!(check_name("_api._tcp.example.service.consul").is_ok());
        assert!(check_name("api-catalog.service.consul.srv.").is_ok());
        assert!(check_name("http://_api._tcp.x")
            .unwrap_err()
            .contains("sd_scheme"));
        assert!(check_name("_api._tcp.x:8080").is_err());
        assert!(check_name("_api._tcp.x/path").is_err());
        assert!(check_name("a..b").is_err());
        assert!(check_name("").is_err());
    }
}
