//! `security/bot-detector`: User-Agent rules, allow → deny → patterns; a bot gets 403 with an
//! empty body (krakend-botdetector).

use std::collections::HashSet;
use std::ops::ControlFlow;

use bytes::Bytes;
use http::request::Parts;
use http::{Response, StatusCode};

use crate::config::extra::BotDetector;

/// A compiled detector.
#[derive(Debug)]
pub(crate) struct Detector {
    allow: HashSet<String>,
    deny: HashSet<String>,
    patterns: Vec<regex_lite::Regex>,
    empty_is_bot: bool,
}

// === impl Detector ===

impl Detector {
    pub(crate) fn new(cfg: &BotDetector) -> Self {
        Self {
            allow: cfg.allow.iter().cloned().collect(),
            deny: cfg.deny.iter().cloned().collect(),
            patterns: cfg.patterns.iter().map(|p| p.0.clone()).collect(),
            empty_is_bot: cfg.empty_user_agent_is_bot,
        }
    }

    /// Whether this User-Agent is a bot.
    fn is_bot(&self, ua: &str) -> bool {
        if self.allow.contains(ua) {
            return false;
        }
        if ua.is_empty() && self.empty_is_bot {
            return true;
        }
        self.deny.contains(ua) || self.patterns.iter().any(|p| p.is_match(ua))
    }

    /// Checkpoint: 403 for a bot.
    pub(crate) fn check(&self, parts: &Parts) -> ControlFlow<Response<Bytes>> {
        // A non-UTF-8 User-Agent cannot match a literal; patterns see it lossily decoded.
        let ua = parts
            .headers
            .get(http::header::USER_AGENT)
            .map(|v| String::from_utf8_lossy(v.as_bytes()))
            .unwrap_or_default();
        if self.is_bot(&ua) {
            return ControlFlow::Break(crate::http_util::empty(StatusCode::FORBIDDEN));
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_wins_then_deny_then_patterns() {
        let cfg: BotDetector = serde_json::from_str(
            r#"{"allow":["good","Pingdom.com_bot_version_1.1"],"deny":["a"],"patterns":["(Pingdom.com_bot_version_).*"]}"#,
        )
        .unwrap();
        let d = Detector::new(&cfg);
        assert!(!d.is_bot("good"));
        assert!(!d.is_bot("Pingdom.com_bot_version_1.1"));
        assert!(d.is_bot("Pingdom.com_bot_version_1.14"));
        assert!(d.is_bot("a"));
        assert!(!d.is_bot("ab"));
        assert!(!d.is_bot(""));
    }
}
