#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::Duration;

use futures_executor::block_on;

use super::*;
use crate::platform::{
    BackendRequest, BackendResponse, BoxFuture, ClientError, HttpClient, ResolveError, Sleep,
    SrvAnswer,
};

fn srv(priority: u16, weight: u16, port: u16, target: &str) -> SrvRecord {
    SrvRecord {
        priority,
        weight,
        port,
        target: target.to_owned(),
    }
}

/// How many of `calls` consecutive picks each host gets.
fn counts(t: &Targets, calls: u64) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for n in 0..calls {
        *out.entry(t.pick(n).unwrap().to_owned()).or_insert(0) += 1;
    }
    out
}

#[test]
fn weights_are_exact_over_every_round() {
    let t = Targets::new(
        "http",
        &[srv(10, 3, 8001, "a.local."), srv(10, 1, 8002, "b.local.")],
    );
    let want = BTreeMap::from([
        ("http://a.local:8001".to_owned(), 30),
        ("http://b.local:8002".to_owned(), 10),
    ]);
    assert_eq!(counts(&t, 40), want);
    // Any window of one round (4 calls), not only from the start.
    for start in 0..8 {
        let b = (start..start + 4)
            .filter(|n| t.pick(*n) == Some("http://b.local:8002"))
            .count();
        assert_eq!(b, 1, "window from {start}");
    }
}

#[test]
fn calls_are_interleaved_not_in_runs() {
    let t = Targets::new("https", &[srv(1, 50, 1, "a"), srv(1, 50, 2, "b")]);
    let first: Vec<&str> = (0..4).map(|n| t.pick(n).unwrap()).collect();
    assert_eq!(
        first,
        ["https://a:1", "https://b:2", "https://a:1", "https://b:2"]
    );
    let big = Targets::new("http", &[srv(1, 60000, 1, "a"), srv(1, 5535, 2, "b")]);
    let c = counts(&big, 65535);
    assert_eq!(c["http://a:1"], 60000);
    assert_eq!(c["http://b:2"], 5535);
    // The lighter target is reached early, not after 60000 calls to the heavy one.
    assert!((0..40).any(|n| big.pick(n) == Some("http://b:2")));
}

#[test]
fn only_the_lowest_priority_is_used_and_the_answer_order_does_not_matter() {
    let records = [
        srv(20, 100, 9000, "backup."),
        srv(10, 1, 8001, "a."),
        srv(10, 2, 8002, "b."),
    ];
    let t = Targets::new("http", &records);
    let mut reversed = records.to_vec();
    reversed.reverse();
    assert_eq!(t, Targets::new("http", &reversed));
    let c = counts(&t, 30);
    assert_eq!(c.get("http://backup:9000"), None);
    assert_eq!((c["http://a:8001"], c["http://b:8002"]), (10, 20));
}

#[test]
fn zero_weights_get_nothing_unless_all_are_zero() {
    let t = Targets::new("http", &[srv(1, 0, 1, "a"), srv(1, 5, 2, "b")]);
    assert_eq!(counts(&t, 10).keys().collect::<Vec<_>>(), ["http://b:2"]);
    let t = Targets::new("http", &[srv(1, 0, 1, "a"), srv(1, 0, 2, "b")]);
    let c = counts(&t, 10);
    assert_eq!((c["http://a:1"], c["http://b:2"]), (5, 5));
}

#[test]
fn a_dot_target_means_no_service() {
    let t = Targets::new("http", &[srv(1, 1, 0, ".")]);
    assert_eq!(t.pick(0), None);
    let t = Targets::new("http", &[srv(1, 1, 0, "."), srv(2, 1, 80, "later.")]);
    assert_eq!(t.pick(0), Some("http://later:80"));
}

#[test]
fn strides_are_coprime_with_the_total() {
    for total in 1..200 {
        let s = stride(total);
        assert_eq!(gcd(s, total.max(1)), 1, "total {total}: stride {s}");
    }
}

/// A resolver that gives scripted outcomes in order (the last one repeats) and counts calls;
/// also the clock (set by the test) and the other ports.
struct World {
    answers: Mutex<VecDeque<Result<SrvAnswer, ResolveError>>>,
    lookups: AtomicU64,
    now: AtomicU64,
    /// Lookups never answer.
    hang: AtomicBool,
    /// Timers fire at once.
    instant_timers: AtomicBool,
    /// Work handed to `defer`, not yet run.
    deferred: Mutex<Vec<BoxFuture<'static, ()>>>,
}

impl World {
    fn new(answers: Vec<Result<SrvAnswer, ResolveError>>) -> Arc<Self> {
        Arc::new(Self {
            answers: Mutex::new(answers.into()),
            lookups: AtomicU64::new(0),
            now: AtomicU64::new(1_000_000),
            hang: AtomicBool::new(false),
            instant_timers: AtomicBool::new(false),
            deferred: Mutex::new(Vec::new()),
        })
    }

    fn at(&self, ms: u64) {
        self.now.store(1_000_000 + ms, Ordering::SeqCst);
    }

    fn lookups(&self) -> u64 {
        self.lookups.load(Ordering::SeqCst)
    }

    fn discovery(self: &Arc<Self>) -> Discovery {
        let platform =
            Platform::new(self.clone(), self.clone(), self.clone()).with_resolver(self.clone());
        let cfg = Arc::new(DnsDiscovery {
            name: "_api._tcp.example".to_owned(),
            scheme: "http".to_owned(),
            at: crate::config::Diagnostic {
                path: "sd".to_owned(),
                context: None,
                message: String::new(),
                line: 1,
                column: 1,
            },
        });
        Discovery::new(cfg, &platform)
    }
}

impl SrvResolver for World {
    fn lookup_srv(&self, name: &str) -> BoxFuture<'static, Result<SrvAnswer, ResolveError>> {
        assert_eq!(name, "_api._tcp.example");
        self.lookups.fetch_add(1, Ordering::SeqCst);
        if self.hang.load(Ordering::SeqCst) {
            return Box::pin(std::future::pending());
        }
        let mut q = self.answers.lock().unwrap();
        let next = if q.len() > 1 {
            q.pop_front().unwrap()
        } else {
            q.front().cloned().unwrap()
        };
        Box::pin(async move { next })
    }
}

impl Clock for World {
    fn now_millis(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }
}

impl Sleep for World {
    fn sleep(&self, _: Duration) -> BoxFuture<'static, ()> {
        if self.instant_timers.load(Ordering::SeqCst) {
            Box::pin(std::future::ready(()))
        } else {
            Box::pin(std::future::pending())
        }
    }
}

impl Defer for World {
    fn defer(&self, work: BoxFuture<'static, ()>) {
        self.deferred.lock().unwrap().push(work);
    }
}

impl HttpClient for World {
    fn send(
        &self,
        _: BackendRequest,
        _: usize,
    ) -> BoxFuture<'static, Result<BackendResponse, ClientError>> {
        unreachable!("discovery makes no HTTP calls")
    }
}

fn answer(ttl_s: u64, targets: &[(&str, u16)]) -> Result<SrvAnswer, ResolveError> {
    Ok(SrvAnswer {
        records: targets.iter().map(|(t, p)| srv(1, 1, *p, t)).collect(),
        ttl: Duration::from_secs(ttl_s),
    })
}

fn down() -> Result<SrvAnswer, ResolveError> {
    Err(ResolveError {
        message: "connection refused".to_owned(),
    })
}

#[test]
fn an_answer_is_kept_for_its_ttl_then_looked_up_again() {
    let world = World::new(vec![answer(5, &[("a", 1)]), answer(5, &[("b", 2)])]);
    let d = world.discovery();
    assert_eq!(block_on(d.host(None)).unwrap(), "http://a:1");
    world.at(4_999);
    assert_eq!(block_on(d.host(None)).unwrap(), "http://a:1");
    assert_eq!(world.lookups(), 1);
    world.at(5_000);
    assert_eq!(block_on(d.host(None)).unwrap(), "http://b:2");
    assert_eq!(world.lookups(), 2);
}

#[test]
fn a_zero_ttl_is_kept_one_second() {
    let world = World::new(vec![answer(0, &[("a", 1)]), answer(0, &[("b", 2)])]);
    let d = world.discovery();
    assert_eq!(block_on(d.host(None)).unwrap(), "http://a:1");
    world.at(MIN_TTL_MS - 1);
    assert_eq!(block_on(d.host(None)).unwrap(), "http://a:1");
    world.at(MIN_TTL_MS);
    assert_eq!(block_on(d.host(None)).unwrap(), "http://b:2");
}

#[test]
fn a_failing_server_keeps_the_last_answer_for_a_bounded_time() {
    let world = World::new(vec![answer(10, &[("a", 1)]), down()]);
    let d = world.discovery();
    assert_eq!(block_on(d.host(None)).unwrap(), "http://a:1");
    // Expired: the lookup fails, the kept answer serves.
    world.at(10_000);
    assert_eq!(block_on(d.host(None)).unwrap(), "http://a:1");
    assert_eq!(world.lookups(), 2);
    // No new lookup before RETRY_MS.
    world.at(10_000 + RETRY_MS - 1);
    assert_eq!(block_on(d.host(None)).unwrap(), "http://a:1");
    assert_eq!(world.lookups(), 2);
    world.at(10_000 + RETRY_MS);
    assert_eq!(block_on(d.host(None)).unwrap(), "http://a:1");
    assert_eq!(world.lookups(), 3);
    // Past TTL + KEEP_STALE_MS: not any more.
    world.at(10_000 + KEEP_STALE_MS);
    let e = block_on(d.host(None)).unwrap_err();
    assert!(
        e.contains("_api._tcp.example") && e.contains("connection refused"),
        "{e}"
    );
}

#[test]
fn without_a_kept_answer_a_failure_fails_the_call() {
    let world = World::new(vec![down(), answer(10, &[("a", 1)])]);
    let d = world.discovery();
    let e = block_on(d.host(None)).unwrap_err();
    assert!(e.contains("lookup of `_api._tcp.example` failed"), "{e}");
    // The next call asks again (nothing to serve meanwhile).
    assert_eq!(block_on(d.host(None)).unwrap(), "http://a:1");
    assert_eq!(world.lookups(), 2);
}

#[test]
fn no_records_fail_at_once_until_the_negative_ttl_passes() {
    let world = World::new(vec![
        answer(10, &[("a", 1)]),
        answer(3, &[]),
        answer(10, &[("b", 2)]),
    ]);
    let d = world.discovery();
    assert_eq!(block_on(d.host(None)).unwrap(), "http://a:1");
    world.at(10_000);
    let e = block_on(d.host(None)).unwrap_err();
    assert!(e.contains("has no SRV records"), "{e}");
    world.at(12_999);
    assert!(block_on(d.host(None)).is_err());
    assert_eq!(world.lookups(), 2);
    world.at(13_000);
    assert_eq!(block_on(d.host(None)).unwrap(), "http://b:2");
}

#[test]
fn a_platform_without_a_resolver_fails_each_call() {
    let world = World::new(vec![answer(10, &[("a", 1)])]);
    let mut d = world.discovery();
    d.resolver = None;
    let e = block_on(d.host(None)).unwrap_err();
    assert!(e.contains("cannot resolve DNS SRV"), "{e}");
    assert_eq!(world.lookups(), 0);
}

#[test]
fn with_after_response_work_a_refresh_never_makes_a_call_wait() {
    let world = World::new(vec![answer(5, &[("a", 1)]), answer(5, &[("b", 2)])]);
    let d = world.discovery();
    let defer: Arc<dyn Defer> = world.clone();
    assert_eq!(block_on(d.host(Some(&defer))).unwrap(), "http://a:1");
    assert!(
        world.deferred.lock().unwrap().is_empty(),
        "a first lookup is waited for"
    );
    world.at(5_000);
    // Expired: served from the older answer, the lookup handed to `defer`.
    assert_eq!(block_on(d.host(Some(&defer))).unwrap(), "http://a:1");
    assert_eq!(world.deferred.lock().unwrap().len(), 1);
    // Meanwhile nobody starts a second lookup.
    assert_eq!(block_on(d.host(Some(&defer))).unwrap(), "http://a:1");
    assert_eq!(world.deferred.lock().unwrap().len(), 1);
    let work = world.deferred.lock().unwrap().pop().unwrap();
    block_on(work);
    assert_eq!(block_on(d.host(Some(&defer))).unwrap(), "http://b:2");
    assert_eq!(world.lookups(), 2);
}

#[test]
fn without_it_a_hanging_refresh_is_waited_for_briefly_then_the_older_answer_serves() {
    let world = World::new(vec![answer(5, &[("a", 1)])]);
    let d = world.discovery();
    assert_eq!(block_on(d.host(None)).unwrap(), "http://a:1");
    world.at(5_000);
    world.hang.store(true, Ordering::SeqCst);
    world.instant_timers.store(true, Ordering::SeqCst);
    assert_eq!(block_on(d.host(None)).unwrap(), "http://a:1");
    assert_eq!(world.lookups(), 2);
    // The cancelled lookup counts as failed: no new one before RETRY_MS.
    world.at(5_000 + RETRY_MS - 1);
    assert_eq!(block_on(d.host(None)).unwrap(), "http://a:1");
    assert_eq!(world.lookups(), 2);
}

#[test]
fn a_first_lookup_without_an_answer_fails_after_the_lookup_timeout() {
    let world = World::new(vec![answer(5, &[("a", 1)])]);
    world.hang.store(true, Ordering::SeqCst);
    world.instant_timers.store(true, Ordering::SeqCst);
    let d = world.discovery();
    let e = block_on(d.host(None)).unwrap_err();
    assert!(
        e.contains(&format!("no answer within {LOOKUP_TIMEOUT_MS} ms")),
        "{e}"
    );
}
