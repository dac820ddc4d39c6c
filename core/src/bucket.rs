//! Token buckets, refilled lazily from a clock reading: the arithmetic shared by the router
//! rate limit (a guard) and the backend rate limit (a proxy layer). Pure: the caller passes the
//! time in and keeps the bucket wherever it likes.

use std::time::Duration;

/// A rate: tokens per millisecond and the bucket size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rate {
    per_ms: f64,
    capacity: f64,
}

/// A token bucket, refilled lazily from the clock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bucket {
    tokens: f64,
    at_ms: u64,
}

// === impl Rate ===

impl Rate {
    /// `max_rate` per `every`, burst `capacity` (0: `max_rate`, at least 1).
    pub(crate) fn new(max_rate: f64, capacity: u64, every: Option<Duration>) -> Option<Self> {
        if max_rate <= 0.0 {
            return None;
        }
        let every_ms = every.map_or(1000.0, |e| e.as_secs_f64() * 1000.0).max(1.0);
        #[allow(clippy::cast_precision_loss)]
        let capacity = if capacity == 0 {
            max_rate.floor().max(1.0)
        } else {
            capacity as f64
        };
        Some(Self {
            per_ms: max_rate / every_ms,
            capacity,
        })
    }
}

// === impl Bucket ===

impl Bucket {
    /// A full bucket.
    pub(crate) fn full(rate: Rate, now_ms: u64) -> Self {
        Self {
            tokens: rate.capacity,
            at_ms: now_ms,
        }
    }

    /// Take one token if there is one.
    pub(crate) fn take(&mut self, rate: Rate, now_ms: u64) -> bool {
        #[allow(clippy::cast_precision_loss)]
        let elapsed = now_ms.saturating_sub(self.at_ms) as f64;
        self.tokens = (self.tokens + elapsed * rate.per_ms).min(rate.capacity);
        self.at_ms = self.at_ms.max(now_ms);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refills_with_time() {
        let rate = Rate::new(2.0, 0, Some(Duration::from_secs(1))).unwrap();
        let mut b = Bucket::full(rate, 0);
        assert!(b.take(rate, 0));
        assert!(b.take(rate, 0));
        assert!(!b.take(rate, 0));
        assert!(!b.take(rate, 499));
        assert!(b.take(rate, 500));
        assert!(b.take(rate, 10_000));
        assert!(b.take(rate, 10_000));
        assert!(!b.take(rate, 10_000));
    }
}
