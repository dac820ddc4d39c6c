//! The state port on Redis, natively and on Lambda: one [`RedisStore`] per
//! `redis.connection_pools[]` entry, a few multiplexed connections (each pipelines any number
//! of concurrent commands), every command bounded by the pool's timeouts.
//!
//! * A bucket take is ONE server-side step: [`TAKE`], a Lua script run by `EVALSHA` (loaded
//!   on first use), the same arithmetic as `manifold_core`'s in-memory buckets. No
//!   read-modify-write from the gateway, so instances never both get the last token.
//! * Unreachable Redis: the first failure marks the pool down and is reported once (a
//!   [`PoolEvent::Down`]); while down every command fails at once (the features' failure
//!   policy applies, no request waits for a timeout) and one background probe reconnects,
//!   retrying with a growing pause (250 ms to 2 s). Its success is reported once too
//!   ([`PoolEvent::Up`]) and the connections are made afresh.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use manifold_core::config::extra::Redis;
use manifold_core::config::{ConfigErrors, Diagnostic};
use manifold_core::platform::{PoolSpec, Rate, Store, StoreError, Stores, Taken};
use manifold_core::BoxFuture;
use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, Client, ClientTlsConfig, ConnectionAddr, ConnectionInfo,
    IntoConnectionInfo, RedisConnectionInfo, RedisError, Script, TlsCertificates,
};
use tokio::time::Instant;

/// The token-bucket take, atomically on the server. KEYS[1]: the bucket (a hash of tokens `t`
/// and last-take time `at`); ARGV: tokens per ms, capacity, now (Unix ms). Mirrors
/// `manifold_core`'s `Bucket::take`: refill by the time elapsed (never backwards), take one
/// token if there is one, keep the hash only as long as it takes to fill up again.
pub const TAKE: &str = r"
local per_ms = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 't', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = cap
  at = now
end
tokens = math.min(cap, tokens + math.max(0, now - at) * per_ms)
if now > at then at = now end
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
local left = string.format('%.17g', tokens)
redis.call('HSET', KEYS[1], 't', left, 'at', string.format('%d', at))
redis.call('PEXPIRE', KEYS[1], math.ceil((cap - tokens) / per_ms) + 1000)
return {allowed, left}
";

/// First pause before probing a pool that went down; doubled up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_millis(250);
/// Longest pause between probes of a pool that is down.
const MAX_RETRY: Duration = Duration::from_secs(2);

/// Something worth one log line about a pool: it went down, or came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolEvent {
    /// The pool stopped answering; the features' failure policy applies until it is back.
    Down {
        /// The pool's name.
        pool: String,
        /// What failed first.
        reason: String,
    },
    /// The pool answers again.
    Up {
        /// The pool's name.
        pool: String,
        /// How long it was down.
        after: Duration,
    },
}

/// Where pool events go (a log line each; never per request).
pub type Report = Arc<dyn Fn(&PoolEvent) + Send + Sync>;

/// The native [`Stores`]: each pool as a [`RedisStore`], opened by [`RedisStores::for_config`]
/// when the process starts, or on first use.
#[derive(Clone)]
pub struct RedisStores {
    report: Report,
    /// Pools opened up front, by name.
    opened: BTreeMap<String, RedisStore>,
}

/// One Redis pool as a [`Store`].
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    client: Client,
    connect: AsyncConnectionConfig,
    connect_timeout: Duration,
    command_timeout: Duration,
    client_name: Option<String>,
    script: Script,
    /// Each slot: a connection and the generation it was made in.
    slots: Vec<tokio::sync::Mutex<Option<(u64, MultiplexedConnection)>>>,
    next: AtomicUsize,
    /// Bumped when the pool goes down: connections of older generations are not reused.
    generation: AtomicU64,
    health: Mutex<Health>,
    report: Report,
}

#[derive(Debug, Clone, Copy)]
enum Health {
    Up,
    Down {
        since: Instant,
        retry_at: Instant,
        pause: Duration,
        probing: bool,
    },
}

// === impl PoolEvent ===

impl fmt::Display for PoolEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Down { pool, reason } => write!(
                f,
                "redis pool `{pool}` unreachable ({reason}): until it answers, its rate limits refuse requests with 503, or let them through unlimited where `on_failure_allow` is true; retrying in the background"
            ),
            Self::Up { pool, after } => write!(
                f,
                "redis pool `{pool}` answers again after {:.1} s",
                after.as_secs_f64()
            ),
        }
    }
}

// === impl RedisStores ===

impl RedisStores {
    /// Stores that send their outages and recoveries to `report`.
    pub fn new(report: Report) -> Self {
        Self {
            report,
            opened: BTreeMap::new(),
        }
    }

    /// Stores with every pool of the config's `redis` namespace opened now (TLS files read),
    /// so a pool that cannot be used stops the process before anything is served, with an
    /// error at the pool's entry (line:column), instead of failing every request.
    pub fn for_config(redis: &Redis, report: Report) -> Result<Self, ConfigErrors> {
        let mut out = Self::new(report);
        let mut errors = Vec::new();
        for pool in &redis.pools {
            match RedisStore::open(&pool.spec, out.report.clone()) {
                Ok(store) => {
                    out.opened.insert(pool.spec.name.clone(), store);
                }
                Err(e) => errors.push(Diagnostic {
                    path: pool.path.clone(),
                    context: Some(format!("redis pool `{}`", pool.spec.name)),
                    message: format!("cannot open the pool: {e}"),
                    line: pool.line,
                    column: pool.column,
                }),
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(ConfigErrors {
                errors,
                warnings: Vec::new(),
            })
        }
    }

    /// Stores that report on stderr (the Lambda log, or a terminal).
    pub fn to_stderr() -> Self {
        // stderr is the one log channel every native adapter has.
        #[allow(clippy::print_stderr)]
        Self::new(Arc::new(|event: &PoolEvent| eprintln!("manifold: {event}")))
    }
}

impl fmt::Debug for RedisStores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStores").finish_non_exhaustive()
    }
}

impl Stores for RedisStores {
    fn open(&self, pool: &PoolSpec) -> Result<Arc<dyn Store>, StoreError> {
        if let Some(store) = self.opened.get(&pool.name) {
            return Ok(Arc::new(store.clone()));
        }
        Ok(Arc::new(RedisStore::open(pool, self.report.clone())?))
    }
}

// === impl RedisStore ===

impl RedisStore {
    /// The store of `pool`. Reads the TLS files now; connects on first use.
    pub fn open(pool: &PoolSpec, report: Report) -> Result<Self, StoreError> {
        let client = client(pool)?;
        let connect = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(pool.connect_timeout))
            .set_response_timeout(Some(pool.command_timeout));
        let slots = (0..pool.connections.max(1))
            .map(|_| tokio::sync::Mutex::new(None))
            .collect();
        Ok(Self {
            inner: Arc::new(Inner {
                name: pool.name.clone(),
                client,
                connect,
                connect_timeout: pool.connect_timeout,
                command_timeout: pool.command_timeout,
                client_name: pool.client_name.clone(),
                script: Script::new(TAKE),
                slots,
                next: AtomicUsize::new(0),
                generation: AtomicU64::new(0),
                health: Mutex::new(Health::Up),
                report,
            }),
        })
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("pool", &self.inner.name)
            .finish_non_exhaustive()
    }
}

impl Store for RedisStore {
    fn take(&self, key: &str, rate: Rate, now_ms: u64) -> BoxFuture<'_, Result<Taken, StoreError>> {
        let mut invocation = self.inner.script.key(key);
        invocation
            .arg(rate.per_ms().to_string())
            .arg(rate.capacity().to_string())
            .arg(now_ms);
        Box::pin(async move {
            let mut conn = self.inner.connection().await?;
            let call = invocation.invoke_async::<(i64, String)>(&mut conn);
            let (allowed, left) = self.inner.finish(call).await?;
            let tokens: f64 = left
                .parse()
                .map_err(|_| StoreError::new(format!("unexpected bucket state `{left}`")))?;
            Ok(Taken::new(allowed == 1, tokens, rate))
        })
    }

    fn get(&self, key: &str) -> BoxFuture<'_, Result<Option<Bytes>, StoreError>> {
        let cmd = redis::cmd("GET").arg(key).clone();
        Box::pin(async move {
            let mut conn = self.inner.connection().await?;
            let value: Option<Vec<u8>> = self.inner.finish(cmd.query_async(&mut conn)).await?;
            Ok(value.map(Bytes::from))
        })
    }

    fn put(&self, key: &str, value: Bytes, ttl: Duration) -> BoxFuture<'_, Result<(), StoreError>> {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let cmd = redis::cmd("SET")
            .arg(key)
            .arg(value.as_ref())
            .arg("PX")
            .arg(ttl_ms)
            .clone();
        Box::pin(async move {
            if ttl_ms == 0 {
                return Ok(());
            }
            let mut conn = self.inner.connection().await?;
            self.inner.finish(cmd.query_async::<()>(&mut conn)).await
        })
    }
}

// === impl Inner ===

impl Inner {
    /// A connection to use now: an error at once while the pool is down (starting a probe
    /// when one is due), else a slot's connection, made on first use.
    async fn connection(self: &Arc<Self>) -> Result<MultiplexedConnection, StoreError> {
        self.usable()?;
        let slot = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let mut guard = self.slots[slot].lock().await;
        let generation = self.generation.load(Ordering::Acquire);
        if let Some((made, conn)) = guard.as_ref() {
            if *made == generation {
                return Ok(conn.clone());
            }
        }
        // The pool may have gone down while this request waited for the slot.
        self.usable()?;
        match self.connect().await {
            Ok(conn) => {
                *guard = Some((generation, conn.clone()));
                Ok(conn)
            }
            Err(e) => Err(self.failed(&e)),
        }
    }

    /// `Ok` while the pool is up; while it is down, an error (and a probe when one is due).
    fn usable(self: &Arc<Self>) -> Result<(), StoreError> {
        let mut health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        let Health::Down {
            since,
            retry_at,
            pause,
            probing,
        } = *health
        else {
            return Ok(());
        };
        if !probing && Instant::now() >= retry_at {
            *health = Health::Down {
                since,
                retry_at,
                pause,
                probing: true,
            };
            let inner = Arc::clone(self);
            tokio::spawn(async move { inner.probe().await });
        }
        Err(self.down_error())
    }

    fn down_error(&self) -> StoreError {
        StoreError::new(format!("redis pool `{}` is down", self.name))
    }

    /// A new connection, named when the pool says so.
    async fn connect(&self) -> Result<MultiplexedConnection, RedisError> {
        let mut conn = self
            .client
            .get_multiplexed_async_connection_with_config(&self.connect)
            .await?;
        if let Some(name) = &self.client_name {
            redis::cmd("CLIENT")
                .arg("SETNAME")
                .arg(name)
                .query_async::<()>(&mut conn)
                .await?;
        }
        Ok(conn)
    }

    /// Await one command within the command timeout; a connection failure or a timeout marks
    /// the pool down (an error Redis answered, such as a script error, does not).
    async fn finish<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, RedisError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.command_timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) if is_outage(&e) => Err(self.failed(&e)),
            Ok(Err(e)) => Err(StoreError::new(format!("redis pool `{}`: {e}", self.name))),
            Err(_) => Err(self.failed(&format!(
                "no answer within {} ms",
                self.command_timeout.as_millis()
            ))),
        }
    }

    /// Mark the pool down (reported once per outage) and say why this command failed.
    fn failed(&self, reason: &dyn fmt::Display) -> StoreError {
        let mut health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        if let Health::Up = *health {
            let now = Instant::now();
            *health = Health::Down {
                since: now,
                retry_at: now + FIRST_RETRY,
                pause: FIRST_RETRY,
                probing: false,
            };
            self.generation.fetch_add(1, Ordering::AcqRel);
            drop(health);
            (self.report)(&PoolEvent::Down {
                pool: self.name.clone(),
                reason: reason.to_string(),
            });
        }
        StoreError::new(format!("redis pool `{}`: {reason}", self.name))
    }

    /// One reconnection attempt in the background: up again, or the next probe later.
    async fn probe(self: Arc<Self>) {
        let answered = async {
            let mut conn = self.connect().await?;
            redis::cmd("PING").query_async::<()>(&mut conn).await
        };
        let ok = matches!(
            tokio::time::timeout(self.command_timeout + self.connect_timeout, answered).await,
            Ok(Ok(()))
        );
        let mut health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        let Health::Down { since, pause, .. } = *health else {
            return;
        };
        if ok {
            *health = Health::Up;
            drop(health);
            (self.report)(&PoolEvent::Up {
                pool: self.name.clone(),
                after: since.elapsed(),
            });
        } else {
            let pause = (pause * 2).min(MAX_RETRY);
            *health = Health::Down {
                since,
                retry_at: Instant::now() + pause,
                pause,
                probing: false,
            };
        }
    }
}

/// A failure of the connection rather than of the command.
fn is_outage(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.is_unrecoverable_error()
}

/// The client for `pool`: address, database, credentials and TLS (files read now).
fn client(pool: &PoolSpec) -> Result<Client, StoreError> {
    let err = |what: String| StoreError::new(what);
    let (host, port) = pool
        .address
        .rsplit_once(':')
        .and_then(|(h, p)| {
            Some((
                h.trim_start_matches('[').trim_end_matches(']'),
                p.parse().ok()?,
            ))
        })
        .ok_or_else(|| err(format!("`{}` is not `host:port`", pool.address)))?;
    let addr = match &pool.tls {
        None => ConnectionAddr::Tcp(host.to_owned(), port),
        Some(tls) => ConnectionAddr::TcpTls {
            host: host.to_owned(),
            port,
            insecure: tls.insecure,
            tls_params: None,
        },
    };
    let mut redis = RedisConnectionInfo::default().set_db(pool.db);
    if let Some(user) = &pool.username {
        redis = redis.set_username(user);
    }
    if let Some(password) = &pool.password {
        redis = redis.set_password(password);
    }
    let info: ConnectionInfo = addr
        .into_connection_info()
        .map_err(|e| err(e.to_string()))?
        .set_redis_settings(redis);
    let Some(tls) = pool
        .tls
        .as_ref()
        .filter(|t| !t.ca_certs.is_empty() || t.client_cert.is_some())
    else {
        return Client::open(info).map_err(|e| err(e.to_string()));
    };
    let read =
        |path: &str| std::fs::read(path).map_err(|e| err(format!("cannot read `{path}`: {e}")));
    let mut roots = Vec::new();
    for path in &tls.ca_certs {
        roots.extend(read(path)?);
        roots.push(b'\n');
    }
    let client_tls = match &tls.client_cert {
        Some((cert, key)) => Some(ClientTlsConfig {
            client_cert: read(cert)?,
            client_key: read(key)?,
        }),
        None => None,
    };
    let certificates = TlsCertificates {
        client_tls,
        root_cert: (!roots.is_empty()).then_some(roots),
    };
    Client::build_with_tls(info, certificates).map_err(|e| err(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorder() -> (Report, Arc<Mutex<Vec<PoolEvent>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let report: Report = Arc::new(move |e: &PoolEvent| sink.lock().unwrap().push(e.clone()));
        (report, seen)
    }

    #[tokio::test]
    async fn an_unreachable_pool_fails_fast_and_reports_once() {
        // Port 1 on loopback: nothing listens, the connection is refused at once.
        let mut spec = PoolSpec::new("counters", "127.0.0.1:1");
        spec.connect_timeout = Duration::from_millis(200);
        let (report, seen) = recorder();
        let store = RedisStore::open(&spec, report).unwrap();
        let rate = Rate::new(10.0, 0, None).unwrap();
        let started = Instant::now();
        for _ in 0..50 {
            assert!(store.take("k", rate, 0).await.is_err());
            assert!(store.get("k").await.is_err());
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        let events = seen.lock().unwrap().clone();
        assert_eq!(events.len(), 1, "{events:?}");
        assert!(matches!(&events[0], PoolEvent::Down { pool, .. } if pool == "counters"));
    }

    #[test]
    fn unreadable_tls_files_are_an_error_when_opening() {
        let mut spec = PoolSpec::new("secure", "127.0.0.1:6380");
        spec.tls = Some(manifold_core::platform::PoolTls::new(
            false,
            vec!["/nonexistent/ca.pem".into()],
            None,
        ));
        let (report, _) = recorder();
        let e = RedisStore::open(&spec, report).unwrap_err();
        assert!(e.message.contains("/nonexistent/ca.pem"), "{e}");
    }

    #[test]
    fn a_pool_that_cannot_be_opened_is_a_located_config_error() {
        let text = r#"{"version": 3, "endpoints": [], "extra_config": {"redis": {
  "connection_pools": [
    {"name": "plain", "address": "127.0.0.1:6379"},
    {"name": "secure", "address": "127.0.0.1:6380", "tls": {"ca_certs": ["/nonexistent/ca.pem"]}}
  ]}}}"#;
        let config = manifold_core::config::parse(text).unwrap();
        let (report, _) = recorder();
        let errors = RedisStores::for_config(&config.redis, report.clone())
            .err()
            .unwrap();
        let shown: Vec<String> = errors.errors.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 1, "{shown:?}");
        assert!(
            shown[0].starts_with("4:5: extra_config.redis.connection_pools[1] (redis pool `secure`): cannot open the pool: cannot read `/nonexistent/ca.pem`"),
            "{shown:?}"
        );
        let one = manifold_core::config::parse(
            &text.replace(", \"tls\": {\"ca_certs\": [\"/nonexistent/ca.pem\"]}", ""),
        )
        .unwrap();
        assert!(RedisStores::for_config(&one.redis, report).is_ok());
    }
}
