//! The service-discovery port natively (the CLI and Lambda): DNS SRV lookups with
//! hickory-resolver on tokio. The name server is the system's (`/etc/resolv.conf`) unless
//! [`DNS_SERVER_VAR`] names one (`127.0.0.1:5353`: tests, a local Consul agent). Answers are
//! not cached here: the core keeps each one for its TTL (`proxy::discovery`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::rr::RData;
use hickory_resolver::TokioResolver;
use manifold_core::{BoxFuture, ResolveError, SrvAnswer, SrvRecord, SrvResolver};
use tokio::sync::OnceCell;

/// The environment variable naming the DNS server to ask, as `IP:port`.
pub const DNS_SERVER_VAR: &str = "MANIFOLD_DNS_SERVER";

/// How long one query waits for the server; the core's endpoint timeout bounds the call too.
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// SRV lookups through hickory-resolver, built on first use (a process that never resolves
/// never reads `/etc/resolv.conf`).
#[derive(Clone)]
pub struct DnsSrv(Arc<Inner>);

struct Inner {
    /// `IP:port` of the server to ask; `None`: the system's configuration.
    server: Option<String>,
    resolver: OnceCell<Result<TokioResolver, String>>,
}

impl std::fmt::Debug for DnsSrv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsSrv")
            .field("server", &self.0.server)
            .finish_non_exhaustive()
    }
}

impl DnsSrv {
    /// The server named by [`DNS_SERVER_VAR`], else the system's.
    pub fn from_env() -> Self {
        Self::new(std::env::var(DNS_SERVER_VAR).ok().filter(|v| !v.is_empty()))
    }

    /// `server` (`IP:port`), else the system's configuration.
    pub fn new(server: Option<String>) -> Self {
        Self(Arc::new(Inner {
            server,
            resolver: OnceCell::new(),
        }))
    }
}

impl Inner {
    async fn resolver(&self) -> Result<&TokioResolver, String> {
        self.resolver
            .get_or_init(|| async { build(self.server.as_deref()) })
            .await
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// A resolver asking `server`, or the system's name servers.
fn build(server: Option<&str>) -> Result<TokioResolver, String> {
    let mut builder = match server {
        Some(s) => {
            let addr: SocketAddr = s.parse().map_err(|_| {
                format!("{DNS_SERVER_VAR}=`{s}` is not an IP:port (e.g. 127.0.0.1:53)")
            })?;
            let at_port = |mut c: ConnectionConfig| {
                c.port = addr.port();
                c
            };
            let server = NameServerConfig::new(
                addr.ip(),
                true,
                vec![
                    at_port(ConnectionConfig::udp()),
                    at_port(ConnectionConfig::tcp()),
                ],
            );
            TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(vec![server]),
                TokioRuntimeProvider::default(),
            )
        }
        None => TokioResolver::builder_tokio()
            .map_err(|e| format!("the system's DNS configuration (/etc/resolv.conf): {e}"))?,
    };
    let options = builder.options_mut();
    options.cache_size = 0;
    options.timeout = QUERY_TIMEOUT;
    options.attempts = 1;
    builder
        .build()
        .map_err(|e| format!("cannot start the DNS resolver: {e}"))
}

impl SrvResolver for DnsSrv {
    fn lookup_srv(&self, name: &str) -> BoxFuture<'static, Result<SrvAnswer, ResolveError>> {
        let inner = self.0.clone();
        let name = name.to_owned();
        Box::pin(async move {
            let resolver = inner
                .resolver()
                .await
                .map_err(|message| ResolveError { message })?;
            match resolver.srv_lookup(name.as_str()).await {
                Ok(lookup) => {
                    let mut ttl = u32::MAX;
                    let mut records = Vec::new();
                    for record in lookup.answers() {
                        if let RData::SRV(srv) = &record.data {
                            ttl = ttl.min(record.ttl);
                            records.push(SrvRecord {
                                priority: srv.priority,
                                weight: srv.weight,
                                port: srv.port,
                                target: srv.target.to_ascii(),
                            });
                        }
                    }
                    let ttl = if records.is_empty() { 0 } else { ttl };
                    Ok(SrvAnswer {
                        records,
                        ttl: Duration::from_secs(u64::from(ttl)),
                    })
                }
                // No such name, or no SRV records at it: an answer with nothing to call.
                Err(NetError::Dns(DnsError::NoRecordsFound(none))) => Ok(SrvAnswer {
                    records: Vec::new(),
                    ttl: Duration::from_secs(u64::from(none.negative_ttl.unwrap_or(0))),
                }),
                Err(e) => Err(ResolveError {
                    message: match &inner.server {
                        Some(server) => format!("{e} (asking {server})"),
                        None => e.to_string(),
                    },
                }),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[tokio::test]
    async fn a_bad_server_address_is_each_lookups_error_naming_the_variable() {
        let dns = DnsSrv::new(Some("localhost:53".to_owned()));
        let e = dns.lookup_srv("_api._tcp.example").await.unwrap_err();
        assert!(
            e.message.contains("MANIFOLD_DNS_SERVER=`localhost:53`"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn an_unreachable_server_is_an_error_not_an_empty_answer() {
        // A UDP port nobody answers on: the query times out or is refused.
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        drop(socket);
        let dns = DnsSrv::new(Some(addr.to_string()));
        let e = dns.lookup_srv("_api._tcp.example").await.unwrap_err();
        assert!(e.message.contains(&addr.to_string()), "{e}");
    }
}
