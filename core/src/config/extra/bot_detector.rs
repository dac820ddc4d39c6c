//! The `security/bot-detector` namespace (root or endpoint): User-Agent rules.

use serde::Deserialize;

use super::Namespace;
use crate::config::decode::Cx;

/// Options of the `security/bot-detector` namespace.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct BotDetector {
    /// User-Agents always let through (exact match), checked first.
    pub allow: Vec<String>,
    /// User-Agents rejected (exact match), checked second.
    pub deny: Vec<String>,
    /// Regular expressions (RE2-like syntax via regex-lite: no Unicode classes) that reject a
    /// matching User-Agent, checked last.
    pub patterns: Vec<Pattern>,
    /// Treat a missing or empty User-Agent as a bot.
    pub empty_user_agent_is_bot: bool,
    /// Accepted for compatibility: Manifold's checks need no result cache.
    pub cache_size: u64,
}

/// A compiled `patterns` entry (compiled once, when the config is loaded).
#[derive(Debug, Clone)]
pub struct Pattern(pub regex_lite::Regex);

// === impl BotDetector ===

impl Namespace for BotDetector {
    type Raw = Self;

    fn plan(raw: Self, _cx: &mut Cx<'_, '_>) -> Option<Self> {
        Some(raw)
    }
}

// === impl Pattern ===

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        regex_lite::Regex::new(&text)
            .map(Pattern)
            .map_err(|e| serde::de::Error::custom(format!("invalid pattern {text:?}: {e}")))
    }
}
