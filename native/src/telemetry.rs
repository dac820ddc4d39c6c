//! Native telemetry ports: random ids seeded by the OS, and the JSON-lines sink Lambda uses
//! (one object per line on stdout, as CloudWatch and Lambda's JSON log format expect).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use manifold_core::{Random, RequestRecord, Sink};

/// Ids from SipHash keyed by the OS's randomness (std's `RandomState`) over a counter: unique
/// per process and unpredictable enough for trace ids, without a `rand` dependency. Not for
/// secrets.
#[derive(Debug, Default)]
pub struct OsRandom {
    keys: RandomState,
    counter: AtomicU64,
}

impl Random for OsRandom {
    fn next_u64(&self) -> u64 {
        let mut hasher = self.keys.build_hasher();
        hasher.write_u64(self.counter.fetch_add(1, Ordering::Relaxed));
        hasher.finish()
    }
}

/// Writes each logged request as one JSON object per line on stdout.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonLines;

impl Sink for JsonLines {
    fn request(&self, record: &Arc<RequestRecord>) {
        if record.log {
            let mut line = record.to_json();
            line.push('\n');
            // One write per line, so concurrent requests never interleave within a line; a
            // closed stdout loses the line, never the request.
            let _ = std::io::stdout().lock().write_all(line.as_bytes());
        }
    }
}

/// Several sinks, each given every record (the access log and an exporter).
#[derive(Clone, Default)]
pub struct Tee(pub Vec<Arc<dyn Sink>>);

impl std::fmt::Debug for Tee {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tee({} sinks)", self.0.len())
    }
}

impl Sink for Tee {
    fn begin(&self) {
        for sink in &self.0 {
            sink.begin();
        }
    }

    fn request(&self, record: &Arc<RequestRecord>) {
        for sink in &self.0 {
            sink.request(record);
        }
    }

    fn straggler(
        &self,
        trace: &manifold_core::platform::TraceIds,
        call: &manifold_core::platform::BackendCall,
    ) {
        for sink in &self.0 {
            sink.straggler(trace, call);
        }
    }

    fn flush(&self) -> Option<manifold_core::BoxFuture<'static, ()>> {
        let work: Vec<_> = self.0.iter().filter_map(|s| s.flush()).collect();
        if work.is_empty() {
            return None;
        }
        Some(Box::pin(async move {
            for w in work {
                w.await;
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_random_ids_differ() {
        let random = OsRandom::default();
        let ids: std::collections::HashSet<u64> = (0..1000).map(|_| random.next_u64()).collect();
        assert_eq!(ids.len(), 1000);
    }
}
