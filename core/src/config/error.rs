//! Located configuration diagnostics: every error says where it is (JSON path, line:column,
//! endpoint and backend) and all of them are reported at once.

use std::fmt;

use crate::json::{locate, PathSeg};

/// One configuration problem (or warning) with its location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// JSON path of the offending key, e.g. `endpoints[3].backend[0].url_pattern`.
    pub path: String,
    /// The endpoint (and backend) it belongs to, e.g. `GET /users/{id}, backend 0`.
    pub context: Option<String>,
    /// What is wrong.
    pub message: String,
    /// 1-based line of the key in the config text.
    pub line: usize,
    /// 1-based column of the key in the config text.
    pub column: usize,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.line, self.column)?;
        if self.path.is_empty() {
            f.write_str("(root)")?;
        } else {
            f.write_str(&self.path)?;
        }
        if let Some(ctx) = &self.context {
            write!(f, " ({ctx})")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every error and warning found in one config, reported together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigErrors {
    /// Problems that make the config unusable.
    pub errors: Vec<Diagnostic>,
    /// Things that are ignored or suspicious but not fatal.
    pub warnings: Vec<Diagnostic>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration ({} error(s))", self.errors.len())?;
        for e in &self.errors {
            write!(f, "\n  error: {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// A JSON path under construction. Public only for the configs compiled in (`config::bake`),
/// whose pool references keep where they were written.
#[doc(hidden)]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Path(Vec<PathSeg>);

impl Path {
    /// The path of these steps.
    #[doc(hidden)]
    pub fn of(steps: Vec<PathSeg>) -> Path {
        Path(steps)
    }

    /// Its steps.
    pub(crate) fn steps(&self) -> &[PathSeg] {
        &self.0
    }

    pub(crate) fn key(&self, k: &str) -> Path {
        let mut p = self.clone();
        p.0.push(PathSeg::Key(k.to_owned()));
        p
    }

    pub(crate) fn index(&self, i: usize) -> Path {
        let mut p = self.clone();
        p.0.push(PathSeg::Index(i));
        p
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                PathSeg::Key(k) if i == 0 => f.write_str(k)?,
                PathSeg::Key(k) => write!(f, ".{k}")?,
                PathSeg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// Collects diagnostics against one config text.
#[derive(Debug)]
pub(crate) struct Diags<'t> {
    text: &'t str,
    pub(crate) out: ConfigErrors,
    /// Namespaces that would restrict access or traffic and that Manifold does not enforce,
    /// with where they are: errors, unless the root's `ignore_unenforced` lists them
    /// (decided once the whole file is read, see `config::root`).
    pub(crate) unenforced: Vec<(String, Diagnostic)>,
    /// The files the config names (TLS keys, `jwk_local_path`), as the front end read them.
    pub(crate) files: super::files::Files,
}

impl<'t> Diags<'t> {
    pub(crate) fn new(text: &'t str) -> Self {
        Self {
            text,
            out: ConfigErrors::default(),
            unenforced: Vec::new(),
            files: super::files::Files::default(),
        }
    }

    pub(crate) fn make(&self, path: &Path, context: Option<&str>, message: String) -> Diagnostic {
        let offset = locate(self.text.as_bytes(), &path.0);
        let (line, column) = line_col(self.text, offset);
        Diagnostic {
            path: path.to_string(),
            context: context.map(str::to_owned),
            message,
            line,
            column,
        }
    }

    /// Line and column of `path` in the config text, for problems only found later (a pool
    /// the platform cannot open is reported when the gateway starts).
    pub(crate) fn position(&self, path: &Path) -> (usize, usize) {
        line_col(self.text, locate(self.text.as_bytes(), &path.0))
    }

    pub(crate) fn error(&mut self, path: &Path, context: Option<&str>, message: impl Into<String>) {
        let d = self.make(path, context, message.into());
        self.out.errors.push(d);
    }

    pub(crate) fn warn(&mut self, path: &Path, context: Option<&str>, message: impl Into<String>) {
        // Without `located-config` (the Worker's run-time decode) no warning is kept: build.rs
        // printed them, with the feature, from the same keys; nothing reads them at run time.
        if !super::track::LOCATED {
            return;
        }
        let d = self.make(path, context, message.into());
        self.out.warnings.push(d);
    }

    /// A namespace Manifold cannot enforce: an error unless the config opts out of it.
    pub(crate) fn unenforced(
        &mut self,
        namespace: &str,
        path: &Path,
        context: Option<&str>,
        message: impl Into<String>,
    ) {
        let d = self.make(path, context, message.into());
        self.unenforced.push((namespace.to_owned(), d));
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}
