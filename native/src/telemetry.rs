//! Native telemetry ports: random ids seeded by the OS, and the JSON-lines sink Lambda uses
//! (one object per line on stdout, as CloudWatch and Lambda's JSON log format expect).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use manifold_core::{Random, RequestRecord, Sink};

/// Ids from SplitMix64 (a counter stepped by the golden ratio, then mixed): the counter
/// starts at a value seeded once by the OS's randomness (std's `RandomState`, SipHash keyed
/// by it), so ids differ between processes and never repeat within one (the mix is a
/// bijection), at a dozen instructions per id — several ids are drawn per request. Not for
/// secrets: one id reveals the state, so later ids of the same process can be predicted.
#[derive(Debug)]
pub struct OsRandom {
    state: AtomicU64,
}

impl Default for OsRandom {
    fn default() -> Self {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(0x6d61_6e69_666f_6c64);
        Self {
            state: AtomicU64::new(hasher.finish()),
        }
    }
}

impl Random for OsRandom {
    fn next_u64(&self) -> u64 {
        const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut z = self
            .state
            .fetch_add(GOLDEN, Ordering::Relaxed)
            .wrapping_add(GOLDEN);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Writes each logged request as one JSON object per line on stdout.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonLines;

impl Sink for JsonLines {
    fn request(&self, record: &Arc<RequestRecord>) {
        if record.log {
            let mut line = Vec::with_capacity(320 + 240 * record.backends.len());
            record.push_json(&mut line);
            line.push(b'\n');
            // One write per line, so concurrent requests never interleave within a line; a
            // closed stdout loses the line, never the request.
            let _ = std::io::stdout().lock().write_all(&line);
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
        // Asked after every request, and usually no sink or one has work: no vector, no
        // second box for those.
        let mut work = self.0.iter().filter_map(|s| s.flush());
        let first = work.next()?;
        let rest: Vec<_> = work.collect();
        if rest.is_empty() {
            return Some(first);
        }
        Some(Box::pin(async move {
            first.await;
            for w in rest {
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
        // Seeded per instance: another one starts elsewhere.
        let other = OsRandom::default();
        assert!((0..1000).all(|_| !ids.contains(&other.next_u64())));
        // SplitMix64's published first output for seed 0.
        let zero = OsRandom {
            state: AtomicU64::new(0),
        };
        assert_eq!(zero.next_u64(), 0xe220_a839_7b1d_cdaf);
    }
}
