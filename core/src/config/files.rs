//! Files a config names: the server's TLS keys and CAs (`tls`), the backend client's CAs and
//! certificates (`client_tls`), JWK sets (`jwk_local_path`) and GraphQL operations
//! (`backend/graphql`'s `query_path`).
//!
//! The core does no I/O, so a front end reads them: [`referenced`] lists them in a config text,
//! the front end reads each one, and [`embed`] appends what it read to the root object as
//! Manifold's `embedded_files` key (and why a file could not be read as
//! `embedded_file_errors`), the way the `MANIFOLD_*` overrides are appended: the rest of the
//! text and every line:column in it stay as written. Decoding then takes a file's text from
//! there, and a missing or unreadable file is an error located at the key that names it.
//!
//! Natively (`manifold run`/`check`) every file is read at start. A serverless build reads the
//! ones its platform uses (no server `tls`: the platform terminates TLS) and embeds them in the
//! artifact, so the function needs no file system.

use std::collections::BTreeMap;

use serde_json::Value;

use super::env::push_json_escaped;

/// What a file is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// Root `tls`: the server's certificates, keys and client CAs.
    ServerTls,
    /// Root `client_tls`: CAs and client certificates for calls to backends.
    ClientTls,
    /// `jwk_local_path` of `auth/validator` or `auth/signer`.
    Jwk,
    /// `query_path` of `backend/graphql`.
    GraphQl,
}

/// Every kind: what the native server reads at start.
pub const NATIVE: &[FileKind] = &[
    FileKind::ServerTls,
    FileKind::ClientTls,
    FileKind::Jwk,
    FileKind::GraphQl,
];

/// What a serverless platform reads (its front door terminates TLS: no server files).
pub const SERVERLESS: &[FileKind] = &[FileKind::ClientTls, FileKind::Jwk, FileKind::GraphQl];

/// One file named by a config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRef {
    /// The path as written (relative paths are the front end's to resolve).
    pub path: String,
    /// What it is for.
    pub kind: FileKind,
}

/// The files as read, by path.
#[derive(Debug, Clone, Default)]
pub(crate) struct Files {
    contents: BTreeMap<String, String>,
    errors: BTreeMap<String, String>,
}

impl Files {
    /// From the root's `embedded_files` and `embedded_file_errors`.
    pub(crate) fn new(
        contents: BTreeMap<String, String>,
        errors: BTreeMap<String, String>,
    ) -> Self {
        Self { contents, errors }
    }

    /// Whether the front end read `path` (or tried to): serverless builds do not read the
    /// server's TLS files, which their platform does not use.
    pub(crate) fn was_read(&self, path: &str) -> bool {
        self.contents.contains_key(path) || self.errors.contains_key(path)
    }

    /// The text of `path`, or the message for the key that names it.
    pub(crate) fn get(&self, path: &str) -> Result<String, String> {
        if let Some(text) = self.contents.get(path) {
            return Ok(text.clone());
        }
        Err(match self.errors.get(path) {
            Some(why) => format!("cannot read `{path}`: {why}"),
            None => format!("`{path}` was not read: files named by the config are read by `manifold run`/`check` at start and embedded by the Lambda and Workers builds"),
        })
    }
}

/// Every file `text` names (each path once, in order of appearance); none when it is not a
/// JSON object. Server TLS files are left out when `tls` is `null` or `disabled`.
pub fn referenced(text: &str) -> Vec<FileRef> {
    let Ok(root) = serde_json::from_str::<Value>(text) else {
        return Vec::new();
    };
    let mut out: Vec<FileRef> = Vec::new();
    let mut add = |path: Option<&Value>, kind: FileKind| {
        if let Some(path) = path.and_then(Value::as_str) {
            if !out.iter().any(|f| f.path == path && f.kind == kind) {
                out.push(FileRef {
                    path: path.to_owned(),
                    kind,
                });
            }
        }
    };
    let list = |v: Option<&Value>| v.and_then(Value::as_array).cloned().unwrap_or_default();
    if let Some(tls) = root.get("tls").filter(|t| t.is_object()) {
        if tls.get("disabled").and_then(Value::as_bool) != Some(true) {
            add(tls.get("public_key"), FileKind::ServerTls);
            add(tls.get("private_key"), FileKind::ServerTls);
            for pair in list(tls.get("keys")) {
                add(pair.get("public_key"), FileKind::ServerTls);
                add(pair.get("private_key"), FileKind::ServerTls);
            }
            for ca in list(tls.get("ca_certs")) {
                add(Some(&ca), FileKind::ServerTls);
            }
        }
    }
    if let Some(client) = root.get("client_tls") {
        for ca in list(client.get("ca_certs")) {
            add(Some(&ca), FileKind::ClientTls);
        }
        for pair in list(client.get("client_certs")) {
            add(pair.get("certificate"), FileKind::ClientTls);
            add(pair.get("private_key"), FileKind::ClientTls);
        }
    }
    for endpoint in list(root.get("endpoints")) {
        for ns in ["auth/validator", "auth/signer"] {
            let jwk = endpoint.get("extra_config").and_then(|e| e.get(ns));
            add(jwk.and_then(|j| j.get("jwk_local_path")), FileKind::Jwk);
        }
        for backend in list(endpoint.get("backend")) {
            let graphql = backend
                .get("extra_config")
                .and_then(|e| e.get("backend/graphql"));
            add(graphql.and_then(|g| g.get("query_path")), FileKind::GraphQl);
        }
    }
    out
}

/// `text` with `files` (path, its text or why it could not be read) appended to the root
/// object; `text` unchanged when there are none or it is not an object.
pub fn embed(text: &str, files: &[(String, Result<String, String>)]) -> String {
    if files.is_empty() {
        return text.to_owned();
    }
    let body = text.trim_end();
    let (Some(head), true) = (body.strip_suffix('}'), body.trim_start().starts_with('{')) else {
        return text.to_owned();
    };
    let object = |ok: bool| {
        let members: Vec<String> = files
            .iter()
            .filter_map(|(path, read)| {
                let value = match read {
                    Ok(text) if ok => text,
                    Err(why) if !ok => why,
                    _ => return None,
                };
                let mut member = String::from("\"");
                push_json_escaped(&mut member, path);
                member.push_str("\": \"");
                push_json_escaped(&mut member, value);
                member.push('"');
                Some(member)
            })
            .collect();
        format!("{{{}}}", members.join(", "))
    };
    let empty_root = head
        .trim_start()
        .strip_prefix('{')
        .is_some_and(|r| r.trim().is_empty());
    let separator = if empty_root { "" } else { ", " };
    format!(
        "{head}{separator}\"embedded_files\": {}, \"embedded_file_errors\": {}}}\n",
        object(true),
        object(false)
    )
}

/// Read every file of the given kinds that `text` names with `read` and embed them.
pub fn read_and_embed(
    text: &str,
    kinds: &[FileKind],
    read: impl Fn(&str) -> Result<String, String>,
) -> String {
    let files: Vec<(String, Result<String, String>)> = referenced(text)
        .into_iter()
        .filter(|f| kinds.contains(&f.kind))
        .map(|f| {
            let read = read(&f.path);
            (f.path, read)
        })
        .collect();
    embed(text, &files)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const TEXT: &str = r#"{
  "version": 3,
  "tls": {"keys": [{"public_key": "c.pem", "private_key": "k.pem"}], "ca_certs": ["ca.pem"]},
  "client_tls": {"ca_certs": ["bca.pem"], "client_certs": [{"certificate": "cc.pem", "private_key": "ck.pem"}]},
  "endpoints": [{"endpoint": "/a", "extra_config": {"auth/validator": {"jwk_local_path": "jwk.json"}}}]
}"#;

    #[test]
    fn every_named_file_is_listed_with_its_kind() {
        let refs: Vec<(String, FileKind)> = referenced(TEXT)
            .into_iter()
            .map(|f| (f.path, f.kind))
            .collect();
        let expected = [
            ("c.pem", FileKind::ServerTls),
            ("k.pem", FileKind::ServerTls),
            ("ca.pem", FileKind::ServerTls),
            ("bca.pem", FileKind::ClientTls),
            ("cc.pem", FileKind::ClientTls),
            ("ck.pem", FileKind::ClientTls),
            ("jwk.json", FileKind::Jwk),
        ];
        let expected: Vec<(String, FileKind)> = expected
            .iter()
            .map(|(p, k)| ((*p).to_owned(), *k))
            .collect();
        assert_eq!(refs, expected);
    }

    #[test]
    fn graphql_query_paths_are_listed_for_every_platform() {
        let text = r#"{"endpoints": [{"endpoint": "/a", "backend": [
            {"url_pattern": "/g", "extra_config": {"backend/graphql": {"type": "query", "query_path": "q.graphql"}}},
            {"url_pattern": "/h"}]}]}"#;
        let refs = referenced(text);
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].path, "q.graphql");
        assert_eq!(refs[0].kind, FileKind::GraphQl);
        assert!(NATIVE.contains(&FileKind::GraphQl) && SERVERLESS.contains(&FileKind::GraphQl));
    }

    #[test]
    fn disabled_server_tls_names_no_file() {
        let text = r#"{"tls": {"disabled": true, "public_key": "c.pem", "private_key": "k.pem"}}"#;
        assert!(referenced(text).is_empty());
    }

    #[test]
    fn embedding_keeps_positions_and_reports_unreadable_files() {
        let out = read_and_embed(TEXT, &[FileKind::Jwk, FileKind::ClientTls], |p| {
            if p == "jwk.json" {
                Ok("{\"keys\": []}".into())
            } else {
                Err("no such file".into())
            }
        });
        assert!(out.starts_with(TEXT.trim_end().strip_suffix('}').unwrap()));
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["embedded_files"]["jwk.json"], "{\"keys\": []}");
        assert_eq!(v["embedded_file_errors"]["cc.pem"], "no such file");
        assert!(
            v["embedded_files"].get("c.pem").is_none(),
            "server files not asked for"
        );
        let files = Files::new(BTreeMap::new(), BTreeMap::new());
        assert!(files.get("x").unwrap_err().contains("was not read"));
    }
}
