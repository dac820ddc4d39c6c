//! Token buckets, refilled lazily from a clock reading: the arithmetic shared by the router
//! rate limit (a guard), the backend rate limit (a proxy layer) and every state store that
//! keeps buckets (the in-memory one here, Redis's Lua script natively, which mirrors it line
//! for line). Pure: the caller passes the time in and keeps the bucket wherever it likes.

use std::time::Duration;

/// A rate: tokens per millisecond and the bucket size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    per_ms: f64,
    capacity: f64,
}

/// What one take from a bucket found: whether it got a token, and what is left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    /// A token was taken: the request may go on.
    pub allowed: bool,
    /// Whole tokens left after this take.
    pub remaining: u64,
    /// Milliseconds until the bucket is full again.
    pub reset_ms: u64,
    /// Milliseconds until the next whole token (0 when one is left now).
    pub retry_ms: u64,
}

/// A token bucket, refilled lazily from the clock. Stores outside the process (a Durable
/// Object) keep it as its two numbers, [`Bucket::tokens`] and [`Bucket::at_ms`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    tokens: f64,
    at_ms: u64,
}

// === impl Rate ===

impl Rate {
    /// `max_rate` per `every`, burst `capacity` (0: `max_rate`, at least 1).
    pub fn new(max_rate: f64, capacity: u64, every: Option<Duration>) -> Option<Self> {
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

    /// A rate from its two numbers ([`Rate::per_ms`], [`Rate::capacity`]), as a store outside
    /// the process receives them; `None` unless both are positive and finite (a capacity
    /// below 1 is 1, as [`Rate::new`] makes it).
    pub fn from_parts(per_ms: f64, capacity: f64) -> Option<Self> {
        let ok = |v: f64| v.is_finite() && v > 0.0;
        (ok(per_ms) && ok(capacity)).then(|| Self {
            per_ms,
            capacity: capacity.max(1.0),
        })
    }

    /// Tokens added per millisecond.
    pub fn per_ms(&self) -> f64 {
        self.per_ms
    }

    /// The bucket size: the most requests accepted at once.
    pub fn capacity(&self) -> f64 {
        self.capacity
    }

    /// Milliseconds a bucket holding `tokens` needs to hold `target`.
    fn ms_until(&self, tokens: f64, target: f64) -> u64 {
        let ms = ((target - tokens) / self.per_ms).ceil();
        // Saturating float-to-int: a negative wait is 0, an absurd one u64::MAX.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        if ms > 0.0 {
            ms as u64
        } else {
            0
        }
    }
}

// === impl Taken ===

impl Taken {
    /// The outcome of a take that left `tokens` (fractional) in a bucket of `rate`.
    pub fn new(allowed: bool, tokens: f64, rate: Rate) -> Self {
        // Floor of a finite non-negative count; the cast saturates anything else.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let remaining = tokens.max(0.0).floor() as u64;
        Self {
            allowed,
            remaining,
            reset_ms: rate.ms_until(tokens, rate.capacity),
            retry_ms: rate.ms_until(tokens, 1.0),
        }
    }
}

// === impl Bucket ===

impl Bucket {
    /// A full bucket.
    pub fn full(rate: Rate, now_ms: u64) -> Self {
        Self {
            tokens: rate.capacity,
            at_ms: now_ms,
        }
    }

    /// A bucket as kept: `tokens` (fractional) at the time `at_ms`.
    pub fn from_state(tokens: f64, at_ms: u64) -> Self {
        Self { tokens, at_ms }
    }

    /// Tokens (fractional) at [`Bucket::at_ms`].
    pub fn tokens(&self) -> f64 {
        self.tokens
    }

    /// The time of the latest take (Unix ms).
    pub fn at_ms(&self) -> u64 {
        self.at_ms
    }

    /// Take one token if there is one. Time never runs backwards for a bucket: a reading
    /// older than the last one adds nothing.
    pub fn take(&mut self, rate: Rate, now_ms: u64) -> Taken {
        #[allow(clippy::cast_precision_loss)]
        let elapsed = now_ms.saturating_sub(self.at_ms) as f64;
        self.tokens = (self.tokens + elapsed * rate.per_ms).min(rate.capacity);
        self.at_ms = self.at_ms.max(now_ms);
        let allowed = self.tokens >= 1.0;
        if allowed {
            self.tokens -= 1.0;
        }
        Taken::new(allowed, self.tokens, rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refills_with_time() {
        let rate = Rate::new(2.0, 0, Some(Duration::from_secs(1))).unwrap();
        let mut b = Bucket::full(rate, 0);
        assert!(b.take(rate, 0).allowed);
        assert!(b.take(rate, 0).allowed);
        assert!(!b.take(rate, 0).allowed);
        assert!(!b.take(rate, 499).allowed);
        assert!(b.take(rate, 500).allowed);
        assert!(b.take(rate, 10_000).allowed);
        assert!(b.take(rate, 10_000).allowed);
        assert!(!b.take(rate, 10_000).allowed);
    }

    #[test]
    fn a_bucket_kept_as_its_numbers_continues_where_it_was() {
        // What a store outside the process does: rebuild the rate from its two numbers and
        // the bucket from its state before every take; the counts are those of one bucket.
        let rate = Rate::new(3.0, 0, Some(Duration::from_secs(60))).unwrap();
        let mut whole = Bucket::full(rate, 0);
        let mut kept: Option<(f64, u64)> = None;
        for now in [0, 0, 0, 0, 19_999, 20_000, 20_001] {
            let remote = Rate::from_parts(rate.per_ms(), rate.capacity()).unwrap();
            assert_eq!(remote, rate);
            let mut b = kept.map_or(Bucket::full(remote, now), |(t, at)| {
                Bucket::from_state(t, at)
            });
            assert_eq!(b.take(remote, now), whole.take(rate, now), "at {now}");
            kept = Some((b.tokens(), b.at_ms()));
        }
        assert_eq!(kept, Some((whole.tokens(), whole.at_ms())));
        assert_eq!(Rate::from_parts(0.0, 1.0), None);
        assert_eq!(Rate::from_parts(1.0, f64::NAN), None);
        assert_eq!(Rate::from_parts(-1.0, 1.0), None);
        assert_eq!(Rate::from_parts(0.5, 0.25).map(|r| r.capacity()), Some(1.0));
    }

    #[test]
    fn a_take_reports_what_is_left_and_when() {
        // 10 per hour: one token every 360 s.
        let rate = Rate::new(10.0, 0, Some(Duration::from_secs(3600))).unwrap();
        let mut b = Bucket::full(rate, 0);
        let first = b.take(rate, 0);
        assert_eq!(
            first,
            Taken {
                allowed: true,
                remaining: 9,
                reset_ms: 360_000,
                retry_ms: 0
            }
        );
        for _ in 0..9 {
            b.take(rate, 0);
        }
        let refused = b.take(rate, 60_000);
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 0);
        assert_eq!(refused.retry_ms, 300_000);
        assert_eq!(refused.reset_ms, 3_600_000 - 60_000);
    }
}
