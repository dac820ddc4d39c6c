//! Wall clock and timers on the host OS and tokio.

use std::time::Duration;

use rustix::time::{clock_gettime, ClockId, Timespec};

use manifold_core::{BoxFuture, Clock, Sleep};

/// The operating system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> u64 {
        self.now_micros() / 1000
    }

    fn now_micros(&self) -> u64 {
        // `SystemTime::now().duration_since(UNIX_EPOCH)` reads the same clock, then spends
        // more than the read on `Duration` arithmetic (a logged request reads it four times).
        epoch_micros(clock_gettime(ClockId::Realtime))
    }
}

/// Microseconds since the Unix epoch of a `CLOCK_REALTIME` reading; 0 before the epoch.
fn epoch_micros(t: Timespec) -> u64 {
    let secs = u64::try_from(t.tv_sec).unwrap_or(0);
    let micros = u64::try_from(t.tv_nsec).unwrap_or(0) / 1000;
    secs.saturating_mul(1_000_000).saturating_add(micros)
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
    #[allow(clippy::disallowed_methods)] // std's reading is what ours must agree with
    fn clock_agrees_with_system_time() {
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros());
        let ours = u128::from(SystemClock.now_micros());
        let after = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros());
        assert!(before <= ours && ours <= after, "{before} {ours} {after}");
        assert!(SystemClock.now_millis() > 1_704_067_200_000);
    }

    #[test]
    fn epoch_micros_of_readings() {
        let t = |tv_sec, tv_nsec| Timespec { tv_sec, tv_nsec };
        assert_eq!(
            epoch_micros(t(1_795_651_200, 123_456_789)),
            1_795_651_200_123_456
        );
        assert_eq!(epoch_micros(t(0, 999)), 0);
        assert_eq!(epoch_micros(t(-1, 0)), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn sleep_waits_for_the_duration() {
        let start = tokio::time::Instant::now();
        TokioSleep.sleep(Duration::from_secs(5)).await;
        assert!(start.elapsed() >= Duration::from_secs(5));
    }
}
