//! The one config decoder. [`Cx`] is the place a value is decoded at (diagnostics, JSON path,
//! endpoint/backend context) and [`Cx::decode`] turns a JSON object into its serde struct with
//! the same key rules everywhere, at the root, in an endpoint, in a backend and inside every
//! `extra_config` namespace:
//!
//! * a key the struct does not know is a warning (it has no effect);
//! * a near-miss of a key it does know (`url_patern`, `max_rat`) is an error, because ignoring
//!   it would silently change what the gateway does;
//! * keys KrakenD knows but Manifold does not use are a "no effect" warning;
//! * `@`-prefixed keys are KrakenD comments and are skipped.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::{Diags, Path};
use super::track::{self, Ignored};

/// Where a value appears: the root, an endpoint or a backend (and so which namespaces apply).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Root,
    Endpoint,
    Backend,
}

/// The place a config value is decoded at. Every diagnostic goes through it, so each one
/// carries the JSON path (hence line:column) and the endpoint/backend it belongs to.
#[derive(Debug)]
pub(crate) struct Cx<'a, 't> {
    diags: &'a mut Diags<'t>,
    path: Path,
    /// `GET /users/{id}` or `GET /users/{id}, backend 0`; none at the root.
    context: Option<&'a str>,
    level: Level,
}

/// The error count at one moment, to ask later whether anything failed since.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mark(usize);

// === impl Cx ===

impl<'a, 't> Cx<'a, 't> {
    /// The root of the config.
    pub(crate) fn root(diags: &'a mut Diags<'t>) -> Self {
        Self {
            diags,
            path: Path::default(),
            context: None,
            level: Level::Root,
        }
    }

    /// The value under `key` (the context stays).
    pub(crate) fn at(&mut self, key: &str) -> Cx<'_, 't> {
        let path = self.path.key(key);
        self.reborrow(path)
    }

    /// The item at index `i` of the list here (the context stays).
    pub(crate) fn item(&mut self, i: usize) -> Cx<'_, 't> {
        let path = self.path.index(i);
        self.reborrow(path)
    }

    /// Any other place of the same config, e.g. a root key that a backend inherits.
    pub(crate) fn at_path(&mut self, path: Path) -> Cx<'_, 't> {
        self.reborrow(path)
    }

    /// This place, under `key`.
    pub(crate) fn key(mut self, key: &str) -> Self {
        self.path = self.path.key(key);
        self
    }

    /// This place, at index `i`.
    pub(crate) fn index(mut self, i: usize) -> Self {
        self.path = self.path.index(i);
        self
    }

    /// This place as part of an endpoint or backend, named `context` in every message.
    pub(crate) fn within<'c>(&'c mut self, context: &'c str, level: Level) -> Cx<'c, 't> {
        Cx {
            diags: &mut *self.diags,
            path: self.path.clone(),
            context: Some(context),
            level,
        }
    }

    fn reborrow(&mut self, path: Path) -> Cx<'_, 't> {
        Cx {
            diags: &mut *self.diags,
            path,
            context: self.context,
            level: self.level,
        }
    }

    /// The JSON path of this place.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Root, endpoint or backend.
    pub(crate) fn level(&self) -> Level {
        self.level
    }

    /// The diagnostics sink with this place's path and context, for decoders written against
    /// them directly.
    pub(crate) fn parts(&mut self) -> (&mut Diags<'t>, &Path, Option<&str>) {
        (&mut *self.diags, &self.path, self.context)
    }

    /// Where this place is, as a diagnostic without a message (for a check made later, by a
    /// front end, against this key: a TLS key file that rustls refuses).
    pub(crate) fn place(&self) -> super::Diagnostic {
        self.diags.make(&self.path, self.context, String::new())
    }

    /// The text of a file the config names, as the front end read it (see `config::files`);
    /// a file that was not read or could not be read is an error here, and `None`.
    pub(crate) fn file(&mut self, path: &str) -> Option<String> {
        match self.diags.files.get(path) {
            Ok(text) => Some(text),
            Err(why) => {
                self.error(why);
                None
            }
        }
    }

    /// Whether the front end read (or tried to read) the file `path` ([`Self::file`]).
    pub(crate) fn file_was_read(&self, path: &str) -> bool {
        self.diags.files.was_read(path)
    }

    /// Report an error here.
    pub(crate) fn error(&mut self, message: impl Into<String>) {
        self.diags.error(&self.path, self.context, message);
    }

    /// Report a warning here.
    pub(crate) fn warn(&mut self, message: impl Into<String>) {
        self.diags.warn(&self.path, self.context, message);
    }

    /// Report a namespace here that would restrict access or traffic but is not enforced.
    pub(crate) fn unenforced(&mut self, namespace: &str, message: impl Into<String>) {
        self.diags
            .unenforced(namespace, &self.path, self.context, message);
    }

    /// Remember how many errors there are now.
    pub(crate) fn mark(&self) -> Mark {
        Mark(self.diags.out.errors.len())
    }

    /// Whether any error was reported since `mark`.
    pub(crate) fn failed_since(&self, mark: Mark) -> bool {
        self.diags.out.errors.len() > mark.0
    }

    /// Decode the value here into `T` with the key rules of this module; `no_effect` lists the
    /// keys KrakenD knows at this level that Manifold accepts without using. A type error is a
    /// located error and gives `None`.
    pub(crate) fn decode<T: DeserializeOwned>(
        &mut self,
        value: &Value,
        no_effect: &[&str],
    ) -> Option<T> {
        let (result, findings) = track::decode::<T>(value, &self.path);
        // Without `located-config` nothing is noted: the loop and its messages are not linked.
        for ignored in findings.ignored.into_iter().filter(|_| track::LOCATED) {
            self.unknown_key(ignored, no_effect);
        }
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                let at = (findings.failed_at)
                    .filter(|_| track::LOCATED)
                    .unwrap_or_else(|| self.path.clone());
                self.at_path(at).error(e.to_string());
                None
            }
        }
    }

    /// Like [`Cx::decode`], for Manifold's own namespaces: any key the struct does not know
    /// is an error (a Manifold config has no KrakenD keys to tolerate).
    pub(crate) fn decode_strict<T: DeserializeOwned>(&mut self, value: &Value) -> Option<T> {
        let (result, findings) = track::decode::<T>(value, &self.path);
        let ignored = findings.ignored.into_iter().filter(|_| track::LOCATED);
        for Ignored { path, key, known } in ignored {
            if key.starts_with('@') {
                continue;
            }
            let hint = near_miss(&key, known)
                .map(|near| format!(" (did you mean `{near}`?)"))
                .unwrap_or_default();
            let expected = known.join("`, `");
            self.at_path(path).error(format!(
                "unknown key `{key}`{hint}; known keys: `{expected}`"
            ));
        }
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                let at = (findings.failed_at)
                    .filter(|_| track::LOCATED)
                    .unwrap_or_else(|| self.path.clone());
                self.at_path(at).error(e.to_string());
                None
            }
        }
    }

    /// The rule for one key that nothing read.
    fn unknown_key(&mut self, ignored: Ignored, no_effect: &[&str]) {
        let Ignored { path, key, known } = ignored;
        if key.starts_with('@') {
            return;
        }
        let mut at = self.at_path(path);
        if no_effect.contains(&key.as_str()) {
            at.warn(format!(
                "`{key}` is accepted for KrakenD compatibility but has no effect in Manifold"
            ));
        } else if let Some(near) = near_miss(&key, known) {
            at.error(format!("unknown key `{key}` (did you mean `{near}`?)"));
        } else {
            at.warn(format!("unknown key `{key}`; it has no effect"));
        }
    }
}

/// The known key `key` is most likely a misspelling of, if any.
pub(crate) fn near_miss<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    // Without `located-config` (the Worker's run-time decode) there is no near miss to find:
    // keys come only from the text, and build.rs refused any near miss in it with the feature.
    // The constant drops the comparison's code from such a build.
    if !track::LOCATED {
        return None;
    }
    known.iter().copied().find(|k| is_typo(key, k))
}

/// A likely misspelling: same letters ignoring case and separators, or edit distance ≤ 2.
fn is_typo(key: &str, known: &str) -> bool {
    let norm = |s: &str| {
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .collect::<String>()
            .to_lowercase()
    };
    norm(key) == norm(known) || (known.len() > 4 && edit_distance(key, known) <= 2)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(0) + usize::from(ca != *cb);
            let del = prev.get(j + 1).copied().unwrap_or(0) + 1;
            let ins = cur.get(j).copied().unwrap_or(0) + 1;
            cur.push(sub.min(del).min(ins));
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[test]
    fn typo_detection() {
        assert!(is_typo("url_patern", "url_pattern"));
        assert!(is_typo("isCollection", "is_collection"));
        assert!(is_typo("max_rat", "max_rate"));
        assert!(!is_typo("name", "host"));
        assert!(!is_typo("sd", "host"));
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(default)]
    #[allow(dead_code)]
    struct Options {
        max_rate: f64,
        every: Option<String>,
    }

    #[cfg(feature = "located-config")]
    fn decode(text: &str) -> (Option<Options>, Diags<'_>) {
        let mut diags = Diags::new(text);
        let value: Value = serde_json::from_str(text).unwrap();
        let mut cx = Cx::root(&mut diags);
        let out = cx.at("ns").decode(&value["ns"], &["no_op"]);
        (out, diags)
    }

    // Location notes exist only with `located-config`.
    #[cfg(feature = "located-config")]
    #[test]
    fn one_rule_for_every_key() {
        let text = "{\"ns\": {\n  \"max_rat\": 1,\n  \"colour\": 2,\n  \"no_op\": 3,\n  \"@comment\": 4\n}}";
        let (out, diags) = decode(text);
        assert!(out.is_some());
        let errors: Vec<String> = diags.out.errors.iter().map(ToString::to_string).collect();
        let warnings: Vec<String> = diags.out.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(
            errors,
            ["2:3: ns.max_rat: unknown key `max_rat` (did you mean `max_rate`?)"]
        );
        assert_eq!(
            warnings,
            [
                "3:3: ns.colour: unknown key `colour`; it has no effect",
                "4:3: ns.no_op: `no_op` is accepted for KrakenD compatibility but has no effect in Manifold",
            ]
        );
    }

    // Location notes exist only with `located-config`.
    #[cfg(feature = "located-config")]
    #[test]
    fn a_type_error_is_located_at_its_key() {
        let (out, diags) = decode("{\"ns\": {\"every\": 5}}");
        assert!(out.is_none());
        let errors: Vec<String> = diags.out.errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            errors,
            ["1:9: ns.every: invalid type: integer `5`, expected a string"]
        );
    }
}
