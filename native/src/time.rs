//! Wall clock and timers on the host OS and tokio.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use manifold_core::{BoxFuture, Clock, Sleep};

/// The operating system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the workspace bans it for the core; this is the port
    fn now_millis(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    #[allow(clippy::disallowed_methods)] // as above
    fn now_micros(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
    }
}

/// Timers from the ambient tokio runtime.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleep;

impl Sleep for TokioSleep {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_is_after_2024() {
        assert!(SystemClock.now_millis() > 1_704_067_200_000);
    }

    #[tokio::test(start_paused = true)]
    async fn sleep_waits_for_the_duration() {
        let start = tokio::time::Instant::now();
        TokioSleep.sleep(Duration::from_secs(5)).await;
        assert!(start.elapsed() >= Duration::from_secs(5));
    }
}
