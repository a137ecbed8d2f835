//! API keys (SPEC section 11): off unless `access.keys_file` names a file
//! of key ids and the SHA-256 hashes of their secrets (never the secrets).
//! A client sends its key as `Authorization: Bearer <key>` or `X-Api-Key`;
//! its hash is looked up in a table of the hashes, and a match compared
//! again in constant time. A lookup's timing could only tell something
//! about the SHA-256 of a presented key, which says nothing about any
//! listed key (each is 256 random bits), and it costs the same for 1 key
//! as for 1,000. The file is
//! read again when it changes (checked every second), so a key is added or
//! revoked without a restart; a file that cannot be read leaves the keys
//! in force as they were.
//!
//! ```toml
//! [[keys]]
//! id = "travel-site"
//! sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
//! airlines = ["garuda", "lion"]    # optional: the airlines it may search
//! rate = 5.0                        # optional: its own rate (searches/s)
//! burst = 20                        # optional: its own burst
//! max_in_flight = 200               # optional: its own searches at once
//! ```

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

pub mod rate;

use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Most keys one file may hold: each search compares against every one.
pub const MAX_KEYS: usize = 1_000;

/// How often the keys file is checked for changes.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// How long a changed keys file must stay the same before it is read.
const SETTLE: Duration = Duration::from_millis(100);

/// One key as the file writes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyLine {
    id: String,
    sha256: String,
    airlines: Option<Vec<String>>,
    rate: Option<f64>,
    burst: Option<u32>,
    max_in_flight: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysFile {
    #[serde(default)]
    keys: Vec<KeyLine>,
}

/// A key the server accepts.
#[derive(Clone, Debug, PartialEq)]
pub struct Key {
    /// Its id: logged, never the secret.
    pub id: String,
    hash: [u8; 32],
    /// The airlines it may search; all when `None`.
    pub airlines: Option<BTreeSet<String>>,
    /// Its own rate (searches per second) and burst, over the settings'.
    pub rate: (Option<f64>, Option<u32>),
    /// Its own bound on searches running at once, over the settings'.
    pub max_in_flight: Option<u32>,
}

/// Why a keys file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// It cannot be read.
    #[error("cannot read the keys file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It is not what a keys file holds.
    #[error("the keys file {path} is invalid: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, without any of its values but ids.
        reason: String,
    },
}

/// The keys in force, and the file they come from.
#[derive(Debug)]
pub struct Keys {
    path: PathBuf,
    table: RwLock<Arc<HashMap<[u8; 32], Key>>>,
    /// What the file looked like when last read.
    seen: RwLock<Option<(SystemTime, u64)>>,
}

impl Keys {
    /// Reads the keys file.
    pub fn load(path: &Path) -> Result<Keys, KeysError> {
        let keys = Keys {
            path: path.to_path_buf(),
            table: RwLock::new(Arc::new(HashMap::new())),
            seen: RwLock::new(None),
        };
        keys.reload()?;
        Ok(keys)
    }

    /// The key whose secret is `presented`, if any.
    pub fn check(&self, presented: &str) -> Option<Key> {
        let hash: [u8; 32] = Sha256::digest(presented.trim().as_bytes()).into();
        let table = self.table.read().unwrap_or_else(|e| e.into_inner());
        table
            .get(&hash)
            .filter(|key| bool::from(key.hash.ct_eq(&hash)))
            .cloned()
    }

    /// The number of keys in force.
    pub fn len(&self) -> usize {
        self.table.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no key is in force (every request is refused).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads the file again; on failure the keys in force stay.
    fn reload(&self) -> Result<(), KeysError> {
        let stamp = stamp(&self.path);
        let text = std::fs::read_to_string(&self.path).map_err(|source| KeysError::Read {
            path: self.path.clone(),
            source,
        })?;
        let table = parse(&text).map_err(|reason| KeysError::Invalid {
            path: self.path.clone(),
            reason,
        })?;
        *self.table.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(by_hash(table));
        *self.seen.write().unwrap_or_else(|e| e.into_inner()) = stamp;
        Ok(())
    }

    /// Checks the file every second and reads it again when it changed,
    /// until `shutdown`.
    pub async fn watch(self: Arc<Self>, shutdown: crate::shutdown::Shutdown) {
        let mut tick = tokio::time::interval(CHECK_EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = shutdown.wait() => return,
            }
            let now = stamp(&self.path);
            if now == *self.seen.read().unwrap_or_else(|e| e.into_inner()) {
                continue;
            }
            // A file being written in place is first empty (`>` truncates),
            // then grows: read it once it is not empty and has stopped
            // changing, never as "no keys" half way.
            if now.is_some_and(|(_, len)| len == 0) {
                *self.seen.write().unwrap_or_else(|e| e.into_inner()) = now;
                tracing::warn!(path = %self.path.display(), "the keys file is empty (being written?); the keys in force stay until it holds keys or a comment");
                continue;
            }
            tokio::time::sleep(SETTLE).await;
            if stamp(&self.path) != now {
                continue;
            }
            match self.reload() {
                Ok(()) => {
                    tracing::info!(path = %self.path.display(), keys = self.len(), "keys file read again")
                }
                Err(e) => {
                    // Not read again until it changes once more.
                    *self.seen.write().unwrap_or_else(|e| e.into_inner()) = now;
                    tracing::error!(error = %e, "the keys file changed but cannot be used; the keys in force stay");
                }
            }
        }
    }
}

/// When a file was last changed and its length, to notice a change.
fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Whether `id` is a key id: 1 to 64 lower-case letters, digits and dashes.
pub fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The keys a file's text holds, or what is wrong with it (ids are
/// named; hashes are not quoted).
fn parse(text: &str) -> Result<Vec<Key>, String> {
    let file: KeysFile = toml::from_str(text).map_err(|e| {
        let at = e
            .span()
            .map(|s| {
                let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
                format!(" at line {line}")
            })
            .unwrap_or_default();
        format!("it is not a TOML list of [[keys]] with id, sha256 and airlines{at}")
    })?;
    if file.keys.len() > MAX_KEYS {
        return Err(format!(
            "it holds {} keys; at most {MAX_KEYS}",
            file.keys.len()
        ));
    }
    let mut ids = BTreeSet::new();
    let mut hashes = BTreeSet::new();
    let mut keys = Vec::with_capacity(file.keys.len());
    for (n, line) in file.keys.into_iter().enumerate() {
        let which = format!("key {} (`{}`)", n + 1, crate::text::excerpt(&line.id));
        if !valid_id(&line.id) {
            return Err(format!(
                "{which}: the id must be 1 to 64 lower-case letters, digits and dashes"
            ));
        }
        if !ids.insert(line.id.clone()) {
            return Err(format!("{which}: the id is used twice"));
        }
        let hash = decode_hex(&line.sha256).ok_or_else(|| {
            format!("{which}: sha256 must be 64 hexadecimal digits (the hash, never the key)")
        })?;
        if !hashes.insert(hash) {
            return Err(format!("{which}: the same key (sha256) is listed twice"));
        }
        if let Some(rate) = line.rate.filter(|r| !(r.is_finite() && *r > 0.0)) {
            return Err(format!(
                "{which}: rate must be searches per second above zero, got {rate}"
            ));
        }
        if line.burst == Some(0) {
            return Err(format!("{which}: burst must be at least 1"));
        }
        if line.max_in_flight == Some(0) {
            return Err(format!("{which}: max_in_flight must be at least 1"));
        }
        keys.push(Key {
            id: line.id,
            hash,
            airlines: line.airlines.map(|a| a.into_iter().collect()),
            rate: (line.rate, line.burst),
            max_in_flight: line.max_in_flight,
        });
    }
    Ok(keys)
}

/// The keys by their hash.
fn by_hash(keys: Vec<Key>) -> HashMap<[u8; 32], Key> {
    keys.into_iter().map(|k| (k.hash, k)).collect()
}

fn decode_hex(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in text.as_bytes().chunks(2).enumerate() {
        let pair = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}

/// A new key for `id`: the secret (shown once) and the lines to add to the
/// keys file.
pub fn new_key(id: &str) -> (String, String) {
    let secret: [u8; 32] = rand::random();
    let key = format!(
        "ask_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
    );
    let hash = Sha256::digest(key.as_bytes());
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    let lines = format!("[[keys]]\nid = \"{id}\"\nsha256 = \"{hex}\"\n");
    (key, lines)
}

/// The key a request presents: `X-Api-Key`, else `Authorization: Bearer`.
pub fn presented(headers: &axum::http::HeaderMap) -> Option<&str> {
    if let Some(key) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(key);
    }
    let auth = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, key) = auth.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(key.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_key_is_accepted_by_its_own_line_and_no_other() {
        let (key, lines) = new_key("travel-site");
        let (other, _) = new_key("travel-site");
        let table = parse(&lines).expect("the printed lines are a keys file");
        let keys = Keys {
            path: PathBuf::new(),
            table: RwLock::new(Arc::new(by_hash(table))),
            seen: RwLock::new(None),
        };
        assert_eq!(keys.check(&key).map(|k| k.id), Some("travel-site".into()));
        assert_eq!(keys.check(&other), None);
        assert_eq!(keys.check(""), None);
        assert!(
            !lines.contains(&key),
            "the secret is not in the file's lines"
        );
    }

    #[test]
    fn bad_files_say_what_is_wrong_without_quoting_hashes() {
        let hash = "ab".repeat(32);
        for (text, says) in [
            ("[[keys]]\nid = \"a\"\n", "not a TOML list"),
            (
                &*format!("[[keys]]\nid = \"A b\"\nsha256 = \"{hash}\"\n"),
                "lower-case",
            ),
            (
                &*format!(
                    "[[keys]]\nid = \"a\"\nsha256 = \"{hash}\"\n[[keys]]\nid = \"a\"\nsha256 = \"{hash}\"\n"
                ),
                "used twice",
            ),
            (
                &*format!(
                    "[[keys]]\nid = \"a\"\nsha256 = \"{hash}\"\n[[keys]]\nid = \"b\"\nsha256 = \"{hash}\"\n"
                ),
                "listed twice",
            ),
            (
                "[[keys]]\nid = \"a\"\nsha256 = \"s3cr3t-key\"\n",
                "64 hexadecimal",
            ),
            ("[[keys]]\nid = \"a\"\nsecret = \"x\"\n", "line 3"),
        ] {
            let e = parse(text).expect_err(text);
            assert!(e.contains(says), "{text}: {e}");
            assert!(!e.contains("s3cr3t") && !e.contains(&hash), "{e}");
        }
        assert_eq!(parse("").expect("an empty file is no keys"), Vec::new());
    }
}
