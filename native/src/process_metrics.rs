//! `exporters.prometheus[].process_metrics`: the gateway process's own series, under the names
//! of Prometheus' standard process collector (the ones KrakenD's Go exporter writes), read from
//! Linux's `/proc` when `/metrics` is scraped. Where `/proc` is not there, a series that cannot
//! be read is left out rather than made up.

use std::fmt::Write as _;

/// The clock ticks per second of `/proc`'s CPU times: `USER_HZ`, fixed at 100 by Linux's ABI.
const USER_HZ: f64 = 100.0;

/// The process series as Prometheus text, each with its `# HELP` and `# TYPE` lines.
pub(crate) fn prometheus_text() -> String {
    let mut out = String::new();
    let stat = std::fs::read_to_string("/proc/self/stat").ok();
    // The fields after the command name, which is in parentheses and may hold spaces: field
    // 3 of proc(5) is the first here.
    let fields: Vec<&str> = stat
        .as_deref()
        .and_then(|s| s.rsplit_once(')'))
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    if let (Some(utime), Some(stime)) = (field(14), field(15)) {
        let seconds = (utime + stime) as f64 / USER_HZ;
        series(
            &mut out,
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
            "counter",
            seconds,
        );
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = |key: &str| {
        status.lines().find_map(|l| {
            let value = l.strip_prefix(key)?.trim().strip_suffix("kB")?;
            value.trim().parse::<u64>().ok()
        })
    };
    if let Some(rss) = kib("VmRSS:") {
        series(
            &mut out,
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            "gauge",
            (rss * 1024) as f64,
        );
    }
    if let Some(size) = kib("VmSize:") {
        series(
            &mut out,
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            "gauge",
            (size * 1024) as f64,
        );
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        // The directory's own descriptor, open while it is read, is one of them.
        let open = fds.count().saturating_sub(1);
        series(
            &mut out,
            "process_open_fds",
            "Number of open file descriptors.",
            "gauge",
            open as f64,
        );
    }
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let max_fds = limits.lines().find_map(|l| {
        let soft = l
            .strip_prefix("Max open files")?
            .split_whitespace()
            .next()?;
        soft.parse::<u64>().ok()
    });
    if let Some(max) = max_fds {
        series(
            &mut out,
            "process_max_fds",
            "Maximum number of open file descriptors.",
            "gauge",
            max as f64,
        );
    }
    let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("btime ")?.trim().parse::<u64>().ok())
    });
    if let (Some(boot), Some(start)) = (boot, field(22)) {
        let seconds = boot as f64 + start as f64 / USER_HZ;
        series(
            &mut out,
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            "gauge",
            seconds,
        );
    }
    out
}

/// One unlabelled series with its help and type.
fn series(out: &mut String, name: &str, help: &str, kind: &str, value: f64) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    let _ = writeln!(out, "{name} {value}");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of `name` in `text`.
    fn value(text: &str, name: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn the_process_series_describe_this_process() {
        // (Other tests of this process open and close descriptors meanwhile: no exact count.)
        let file = std::fs::File::open("/proc/self/status").unwrap();
        let text = prometheus_text();
        drop(file);
        assert!(value(&text, "process_open_fds").unwrap() >= 1.0, "{text}");
        assert!(value(&text, "process_resident_memory_bytes").unwrap() > 0.0);
        assert!(
            value(&text, "process_virtual_memory_bytes").unwrap()
                >= value(&text, "process_resident_memory_bytes").unwrap()
        );
        assert!(
            value(&text, "process_max_fds").unwrap() >= value(&text, "process_open_fds").unwrap()
        );
        assert!(value(&text, "process_cpu_seconds_total").unwrap() >= 0.0);
        let now = manifold_core::platform::Clock::now_micros(&crate::SystemClock) as f64 / 1e6;
        let start = value(&text, "process_start_time_seconds").unwrap();
        // This test process started before now, and not days ago.
        assert!(
            start <= now + 1.0 && start > now - 86_400.0,
            "{start} {now}"
        );
        for kind in ["counter", "gauge"] {
            assert!(text.contains(&format!(" {kind}\n")));
        }
    }
}
