//! `manifold check`: every error and warning of a config, with line:column, as text for people
//! or as JSON for tools. Exit code 0 valid, 1 invalid, 2 unreadable.

use std::path::Path;

use manifold_core::config::load::LoadError;
use manifold_core::config::runtime_env::Placeholder;
use manifold_core::{Config, Diagnostic};
use serde_json::{json, Value};

/// The outcome of checking one file, ready to render.
#[derive(Debug)]
pub struct Report<'a> {
    /// The file as named on the command line.
    pub file: &'a Path,
    /// The loaded config, or why it could not be loaded.
    pub result: Result<&'a Config, &'a LoadError>,
    /// The run-time `${env:NAME}` placeholders that were not set and stood in.
    pub standing_in: &'a [Placeholder],
}

impl Report<'_> {
    /// The exit code: 0 valid, 1 invalid, 2 unreadable.
    pub fn exit_code(&self) -> u8 {
        match self.result {
            Ok(_) => 0,
            Err(e) => exit_code(e),
        }
    }

    /// Human-readable output: one `error:`/`warning:` line per problem (`FILE:LINE:COL: path
    /// (endpoint, backend): message`), a `note:` per run-time placeholder that stood in, then
    /// a summary line.
    pub fn text(&self) -> String {
        let file = self.file.display();
        let mut out = String::new();
        let (errors, warnings): (Vec<String>, &[Diagnostic]) = match self.result {
            Ok(config) => (Vec::new(), &config.warnings),
            Err(e @ LoadError::Unreadable { .. }) => return format!("error: {e}\n"),
            Err(e) => (e.errors(), e.warnings()),
        };
        for e in &errors {
            out.push_str(&format!("error: {file}:{e}\n"));
        }
        for w in warnings {
            out.push_str(&format!("warning: {file}:{w}\n"));
        }
        for n in self.notes() {
            out.push_str(&format!("note: {file}:{n}\n"));
        }
        for p in self.standing_in {
            out.push_str(&format!(
                "note: {file}:{}:{}: `${{env:{}}}` is not set here: checked with a stand-in, read when the gateway starts\n",
                p.line, p.column, p.name
            ));
        }
        let counts = format!(
            "{} error{}, {} warning{}",
            errors.len(),
            plural(errors.len()),
            warnings.len(),
            plural(warnings.len())
        );
        match self.result {
            Ok(config) => out.push_str(&format!(
                "{file}: valid ({} endpoint{}, {counts})\n",
                config.endpoints.len(),
                plural(config.endpoints.len())
            )),
            Err(_) => out.push_str(&format!("{file}: invalid ({counts})\n")),
        }
        out
    }

    /// Facts about where the config applies (`line:column: path: text`), e.g. that `tls` is
    /// served by `manifold run` only.
    pub fn notes(&self) -> Vec<String> {
        let Ok(config) = self.result else {
            return Vec::new();
        };
        let mut notes = Vec::new();
        if let Some(tls) = &config.tls {
            let at = tls.keys.first().map(|k| &k.certificate.at);
            let (line, column) = at.map_or((1, 1), |a| (a.line, a.column));
            notes.push(format!("{line}:{column}: tls: `manifold run` serves HTTPS only (h2 and HTTP/1.1 by ALPN); on Lambda and Workers the platform terminates TLS, so `tls` has no effect there"));
        }
        let streamed: Vec<String> = config
            .endpoints
            .iter()
            .filter(|e| e.streams())
            .map(|e| format!("{} {}", e.method, e.endpoint))
            .collect();
        if !streamed.is_empty() {
            notes.push(format!("1:1: endpoints: {} stream the backend's body as it arrives with `manifold run` and on Workers (timeout: to the first byte and per idle gap); on Lambda the answer is buffered whole (at most 16 MiB from the backend, 6 MB to API Gateway): see docs/streaming.md", streamed.join(", ")));
        }
        notes
    }

    /// Machine-readable output: `{"file", "valid", "errors": [...], "warnings": [...],
    /// "standing_in": [...]}`, each problem with `path`, `context`, `message`, `line` and
    /// `column`, each unset run-time placeholder with `name`, `line` and `column`.
    pub fn json(&self) -> Value {
        let file = self.file.display().to_string();
        let (errors, warnings): (Vec<Value>, Vec<Value>) = match self.result {
            Ok(config) => (Vec::new(), config.warnings.iter().map(diagnostic).collect()),
            Err(e @ LoadError::Unreadable { .. }) => (
                vec![
                    json!({ "path": "", "context": null, "message": e.to_string(),
                              "line": 0, "column": 0 }),
                ],
                Vec::new(),
            ),
            Err(LoadError::Env(env)) => (
                env.iter()
                    .map(|e| {
                        json!({ "path": "", "context": null, "message": e.message,
                                "line": e.line, "column": e.column })
                    })
                    .collect(),
                Vec::new(),
            ),
            Err(LoadError::Invalid(e)) => (
                e.errors.iter().map(diagnostic).collect(),
                e.warnings.iter().map(diagnostic).collect(),
            ),
        };
        json!({
            "file": file,
            "valid": self.result.is_ok(),
            "errors": errors,
            "warnings": warnings,
            "notes": self.notes(),
            "standing_in": self.standing_in.iter().map(|p| {
                json!({ "name": p.name, "line": p.line, "column": p.column })
            }).collect::<Vec<_>>(),
        })
    }
}

/// The process exit code `check` and `run` use for a config that did not load: 2 when the file
/// could not be read, 1 otherwise.
pub fn exit_code(error: &LoadError) -> u8 {
    match error {
        LoadError::Unreadable { .. } => 2,
        LoadError::Env(_) | LoadError::Invalid(_) => 1,
    }
}

fn diagnostic(d: &Diagnostic) -> Value {
    json!({
        "path": d.path,
        "context": d.context,
        "message": d.message,
        "line": d.line,
        "column": d.column,
    })
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use manifold_core::config::load::load as load_text;

    const TYPO: &str = r#"{
  "version": 3,
  "endpoints": [
    { "endpoint": "/a", "backend": [ { "host": ["http://h"], "url_patern": "/x" } ] },
    { "endpoint": "/b", "backend": [] }
  ]
}"#;

    #[test]
    fn text_lists_every_problem_with_position() {
        let result = load_text(TYPO, |_| None);
        let report = Report {
            file: Path::new("gw.json"),
            result: result.as_ref(),
            standing_in: &[],
        };
        let text = report.text();
        assert_eq!(report.exit_code(), 1);
        assert!(
            text.contains("error: gw.json:4:62: endpoints[0].backend[0].url_patern"),
            "{text}"
        );
        assert!(text.contains("error: gw.json:5:25: endpoints[1].backend (GET /b): an endpoint needs at least one backend"), "{text}");
        assert!(
            text.ends_with("gw.json: invalid (3 errors, 0 warnings)\n"),
            "{text}"
        );
    }

    #[test]
    fn json_has_positions_and_validity() {
        let result = load_text(TYPO, |_| None);
        let report = Report {
            file: Path::new("gw.json"),
            result: result.as_ref(),
            standing_in: &[],
        };
        let v = report.json();
        assert_eq!(v["valid"], false);
        assert_eq!(v["errors"][0]["line"], 4);
        assert_eq!(v["errors"][0]["path"], "endpoints[0].backend[0].url_patern");
    }

    #[test]
    fn undefined_variables_are_errors_with_position() {
        let result = load_text("{\n \"version\": 3, \"host\": [\"${NOPE}\"]}", |_| None);
        let report = Report {
            file: Path::new("gw.json"),
            result: result.as_ref(),
            standing_in: &[],
        };
        assert_eq!(report.exit_code(), 1);
        assert!(report
            .text()
            .contains("error: gw.json:2:26: environment variable `NOPE`"));
    }

    #[test]
    fn valid_config_reports_warnings() {
        let result = load_text(r#"{"version": 3, "endpoints": [], "colour": 1}"#, |_| None);
        let report = Report {
            file: Path::new("gw.json"),
            result: result.as_ref(),
            standing_in: &[],
        };
        assert_eq!(report.exit_code(), 0);
        let text = report.text();
        assert!(text.contains("warning: gw.json:1:"), "{text}");
        assert!(
            text.ends_with("gw.json: valid (0 endpoints, 0 errors, 2 warnings)\n"),
            "{text}"
        );
    }
}
