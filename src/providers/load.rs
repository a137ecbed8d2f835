//! Reading provider files: parse with serde-saphyr, then check every field,
//! collecting every problem with its line and column. A bad file never stops
//! the others from loading.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;

use super::definition::ProviderFile;
use super::latency::LatencyProfile;
use super::mode::ProviderMode;
use super::problems::{FileError, Problem, Problems};
use super::provider::ProviderDef;
use crate::model::{AirlineRef, normalize_code};

/// Largest provider file read, in bytes; a larger file is reported, not parsed.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Reads and validates one provider file.
pub fn load_file(path: &Path) -> Result<ProviderDef, FileError> {
    let text = read_file(path, path)?;
    parse_text(path, &text)
}

/// Reads the text of the provider file listed as `path` from `contents` (a
/// link's checked target, or the path itself), refusing one over the size
/// limit.
fn read_file(path: &Path, contents: &Path) -> Result<String, FileError> {
    let fail = |message: String| FileError {
        path: path.to_path_buf(),
        problems: vec![Problem {
            line: 0,
            column: 0,
            message,
        }],
    };
    let meta = std::fs::metadata(contents).map_err(|e| fail(format!("cannot read: {e}")))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(fail(format!(
            "file is {} bytes; provider files are limited to {MAX_FILE_BYTES}",
            meta.len()
        )));
    }
    std::fs::read_to_string(contents).map_err(|e| fail(format!("cannot read: {e}")))
}

fn parse_text(path: &Path, text: &str) -> Result<ProviderDef, FileError> {
    parse_provider(path, text).map_err(|problems| FileError {
        path: path.to_path_buf(),
        problems,
    })
}

/// What identifies a file's content between two reads.
fn fingerprint(text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    // SipHash with fixed keys: the same text gives the same value.
    let mut hasher = std::hash::DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

/// Parses and validates provider YAML. `path` gives the default id (the file
/// stem) and is recorded as the source.
pub fn parse_provider(path: &Path, text: &str) -> Result<ProviderDef, Vec<Problem>> {
    let file: ProviderFile = serde_saphyr::from_str(text)
        .map_err(|e| vec![super::yaml_errors::yaml_problem(&e, text)])?;
    let mut problems = Problems::default();
    let revision = revision(text);
    let def = validate(path, file, &mut problems).map(|def| ProviderDef { revision, ..def });
    match def {
        Some(def) if problems.is_empty() => Ok(def),
        _ => Err(problems.into_sorted()),
    }
}

/// What a file says, as a number stable across processes and builds:
/// the first 8 bytes of the SHA-256 of its values as canonical JSON (keys
/// sorted, no comments or spacing).
fn revision(text: &str) -> u64 {
    use sha2::Digest;
    let canonical = serde_saphyr::from_str::<serde_json::Value>(text)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| text.to_string());
    let digest = sha2::Sha256::digest(canonical.as_bytes());
    u64::from_be_bytes(digest[..8].try_into().unwrap_or([0; 8]))
}

fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn validate(path: &Path, file: ProviderFile, problems: &mut Problems) -> Option<ProviderDef> {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let id = match &file.id {
        Some(id) => {
            if !is_valid_id(&id.value) {
                problems.at(
                    id,
                    format!(
                        "id `{}` must be lower-case letters, digits and dashes",
                        id.value
                    ),
                );
            }
            id.value.clone()
        }
        None => {
            if !is_valid_id(&stem) {
                problems.at_position(
                    1,
                    1,
                    format!("the file name `{stem}` is not a valid id; rename the file or set `id:` (lower-case letters, digits and dashes)"),
                );
            }
            stem
        }
    };
    let name = file.name.value.trim().to_string();
    if name.is_empty() {
        problems.at(&file.name, "name must not be empty");
    }
    let code = normalize_code(&file.airline.value, 2, true).unwrap_or_else(|| {
        problems.at(
            &file.airline,
            format!(
                "`{}` is not a two-character IATA airline code such as GA",
                file.airline.value
            ),
        );
        String::new()
    });
    let timeout = match &file.timeout {
        Some(t) if t.value.get().is_zero() => {
            problems.at(t, "timeout must be more than zero");
            Duration::from_secs(3)
        }
        Some(t) => t.value.get(),
        None => Duration::from_secs(3),
    };
    let concurrency = match &file.concurrency {
        Some(c) if c.value == 0 || c.value > 100_000 => {
            problems.at(
                c,
                format!("concurrency must be from 1 to 100000, got {}", c.value),
            );
            1
        }
        Some(c) => c.value,
        None => 64,
    };
    let latency = match &file.latency {
        Some(spec) => LatencyProfile::from_spec(spec, problems),
        None => Some(LatencyProfile::default()),
    };
    let mode = ProviderMode::from_specs(file.mock.as_ref(), file.upstream.as_ref(), problems);
    Some(ProviderDef {
        id,
        name: name.clone(),
        airline: AirlineRef { code, name },
        enabled: file.enabled.unwrap_or(true),
        timeout,
        concurrency,
        latency: latency?,
        mode: mode?,
        source: path.to_path_buf(),
        revision: 0,
    })
}

pub use super::files::is_provider_file;

/// `other` as seen from `path`: its file name when both are in the same
/// directory, else its whole path.
fn sibling_name<'a>(other: &'a Path, path: &Path) -> &'a Path {
    match (other.parent(), other.file_name()) {
        (Some(dir), Some(name)) if path.parent() == Some(dir) => Path::new(name),
        _ => other,
    }
}

/// The outcome of loading one file.
#[derive(Clone, Debug)]
pub struct FileStatus {
    /// The file.
    pub path: PathBuf,
    /// The provider id it defines (or would define: its stem when unreadable).
    pub id: String,
    /// When the definition in force was read.
    pub loaded_at: Timestamp,
    /// The error, when the file was rejected.
    pub error: Option<FileError>,
    /// The file was rejected but its last good definition still serves.
    pub serving_previous: bool,
    /// The content last read, when it could be read: a reload that finds
    /// the same content keeps the definition without parsing it again.
    pub fingerprint: Option<u64>,
}

/// Every provider file of a directory, loaded: the good definitions by id,
/// and a status per file.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    /// Valid definitions by id.
    pub providers: BTreeMap<String, Arc<ProviderDef>>,
    /// One entry per file seen, sorted by path.
    pub files: Vec<FileStatus>,
}

impl Catalog {
    /// Loads every provider file in `paths` (files or directories). Files are
    /// read in path order, so with duplicate ids the first file wins and the
    /// later one is rejected naming it.
    pub fn load(paths: &[PathBuf]) -> Result<Catalog, FileError> {
        Self::reload(paths, None)
    }

    /// Loads like [`Catalog::load`], keeping what `previous` had where it
    /// still holds: a definition that did not change is the same `Arc`
    /// (so its runtime state, such as an upstream's circuit breaker,
    /// carries on), and a file that became invalid keeps serving its last
    /// good definition, its error reported alongside.
    pub fn reload(paths: &[PathBuf], previous: Option<&Catalog>) -> Result<Catalog, FileError> {
        let files = super::files::list(paths)?;
        let mut catalog = Catalog::default();
        for listed in files {
            let path = listed.path.clone();
            let mut loaded_at = Timestamp::now();
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            // This file's status before, and what it defined if it was good.
            let was = previous.and_then(|p| Some((p, p.files.iter().find(|f| f.path == path)?)));
            let before = was.and_then(|(p, file)| {
                let def = p.providers.get(&file.id).filter(|d| d.source == path)?;
                Some((def.clone(), file.loaded_at))
            });
            let mut serving_previous = false;
            let read = listed.source().and_then(|source| read_file(&path, source));
            let fingerprint = read.as_deref().ok().map(fingerprint);
            // The same content as a good definition in force: nothing to do
            // (its HTTP client and runtime state carry on).
            if let (Some(fp), Some((old, at)), Some((_, file))) = (fingerprint, &before, was)
                && file.fingerprint == Some(fp)
                && file.error.is_none()
                && !catalog.providers.contains_key(&old.id)
            {
                catalog.providers.insert(old.id.clone(), old.clone());
                catalog.files.push(FileStatus {
                    path,
                    id: old.id.clone(),
                    loaded_at: *at,
                    error: None,
                    serving_previous: false,
                    fingerprint,
                });
                continue;
            }
            let (id, error) = match read.and_then(|text| parse_text(&path, &text)) {
                Ok(def) => match catalog.providers.get(&def.id) {
                    Some(first) => (
                        def.id.clone(),
                        Some(FileError {
                            path: path.clone(),
                            problems: vec![Problem {
                                line: 1,
                                column: 1,
                                message: format!(
                                    "provider id `{}` is already defined by {}",
                                    def.id,
                                    sibling_name(&first.source, &path).display()
                                ),
                            }],
                        }),
                    ),
                    None => {
                        let id = def.id.clone();
                        let def = match before {
                            Some((old, at)) if *old == def => {
                                loaded_at = at;
                                old
                            }
                            _ => Arc::new(def),
                        };
                        catalog.providers.insert(id.clone(), def);
                        (id, None)
                    }
                },
                Err(e) => match before {
                    Some((old, at)) if !catalog.providers.contains_key(&old.id) => {
                        serving_previous = true;
                        loaded_at = at;
                        let id = old.id.clone();
                        catalog.providers.insert(id.clone(), old);
                        (id, Some(e))
                    }
                    _ => (stem, Some(e)),
                },
            };
            catalog.files.push(FileStatus {
                path,
                id,
                loaded_at,
                error,
                serving_previous,
                fingerprint,
            });
        }
        Ok(catalog)
    }

    /// The load errors, one per rejected file.
    pub fn errors(&self) -> impl Iterator<Item = &FileError> {
        self.files.iter().filter_map(|f| f.error.as_ref())
    }

    /// Enabled providers, by id.
    pub fn enabled(&self) -> impl Iterator<Item = &Arc<ProviderDef>> {
        self.providers.values().filter(|p| p.enabled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOCK: &str = "mock:\n  currency: IDR\n  routes:\n    - from: CGK\n      to: DPS\n      flights:\n        - { number: GA1, depart: \"07:00\", duration: 1h, fares: { economy: 1 } }\n";

    fn parse(name: &str, text: &str) -> Result<ProviderDef, Vec<Problem>> {
        parse_provider(Path::new(name), text)
    }

    #[test]
    fn the_id_defaults_to_the_file_stem() {
        let def = parse(
            "providers.d/sky-air.yaml",
            &format!("name: Sky\nairline: SK\n{MOCK}"),
        )
        .unwrap();
        assert_eq!(def.id, "sky-air");
        assert_eq!(def.timeout, Duration::from_secs(3));
        assert_eq!(def.concurrency, 64);
        assert!(def.enabled);
        let bad = parse("Sky Air.yaml", &format!("name: Sky\nairline: SK\n{MOCK}")).unwrap_err();
        assert!(bad[0].message.contains("not a valid id"), "{bad:?}");
    }

    #[test]
    fn an_unknown_key_is_named_at_its_position() {
        let problems = parse(
            "x.yaml",
            &format!("name: X\nairline: XX\ntimout: 3s\n{MOCK}"),
        )
        .unwrap_err();
        assert_eq!((problems[0].line, problems[0].column), (3, 1));
        assert!(
            problems[0].message.contains("unknown field `timout`"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_wrong_type_is_reported_in_plain_words() {
        let problems = parse(
            "x.yaml",
            &format!("name: X\nairline: XX\nconcurrency: lots\n{MOCK}"),
        )
        .unwrap_err();
        assert_eq!(problems[0].line, 3);
        assert!(problems[0].message.contains("whole number"), "{problems:?}");
        let problems = parse(
            "x.yaml",
            &format!("name: X\nairline: XX\ntimeout: 3\n{MOCK}"),
        )
        .unwrap_err();
        assert!(problems[0].message.contains("no unit"), "{problems:?}");
    }

    #[test]
    fn exactly_one_mode_is_required() {
        let neither = parse("x.yaml", "name: X\nairline: XX\n").unwrap_err();
        assert!(
            neither[0]
                .message
                .contains("needs a `mock` fare table or an `upstream` API")
        );
        let upstream = "upstream:\n  url: http://x\n  response:\n    offers: body.offers\n    map: { flight_number: item.f, depart_at: item.d, arrive_at: item.a, price: item.p, currency: item.c }\n";
        let both = parse("x.yaml", &format!("name: X\nairline: XX\n{upstream}{MOCK}")).unwrap_err();
        assert!(
            both.iter()
                .any(|p| p.message.contains("not both") && p.line == 4),
            "{both:?}"
        );
        let def = parse("x.yaml", &format!("name: X\nairline: XX\n{upstream}")).unwrap();
        assert_eq!(def.mode.name(), "http");
    }

    #[test]
    fn problems_are_sorted_and_printed_with_the_path() {
        let err = load_file(Path::new("/nonexistent/x.yaml")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("/nonexistent/x.yaml: cannot read"),
            "{err}"
        );
        let problems = parse(
            "x.yaml",
            &format!("name: \"\"\nairline: TOOLONG\nconcurrency: 0\n{MOCK}"),
        )
        .unwrap_err();
        let lines: Vec<u64> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [1, 2, 3]);
        let shown = FileError {
            path: "x.yaml".into(),
            problems,
        }
        .to_string();
        assert!(shown.lines().all(|l| l.starts_with("x.yaml:")), "{shown}");
        assert!(
            shown.contains("x.yaml:2:10: `TOOLONG` is not a two-character IATA airline code"),
            "{shown}"
        );
    }

    /// An upstream file with every field of `upstream:` written.
    const UPSTREAM: &str = r#"name: Sky
airline: SK
timeout: 2s
upstream:
  env: [CARGO_PKG_NAME]
  settings: { channel: web }
  method: POST
  url: "http://sky.test/search?from={{ leg.from }}"
  headers:
    X-Channel: "{{ settings.channel }}"
  body: '{"pax": {{ search.passengers }}}'
  connect_timeout: 500ms
  attempt_timeout: 1s
  retries: { attempts: 2, backoff: 100ms }
  breaker: { failures: 5, cooldown: 10s }
  response:
    offers: body.offers
    map: { flight_number: item.f, depart_at: item.d, price: item.p, currency: item.c }
"#;

    #[test]
    fn definitions_differ_when_any_one_written_value_does() {
        let base = parse("sky.yaml", UPSTREAM).expect("valid");
        // The same values elsewhere in the file (a comment, other spacing):
        // the same definition.
        let moved = format!(
            "# Sky's API\n{}",
            UPSTREAM.replace(
                "{ attempts: 2, backoff: 100ms }",
                "{attempts: 2,  backoff: 100ms}"
            )
        );
        assert_eq!(parse("sky.yaml", &moved).expect("valid"), base);
        for (from, to) in [
            ("timeout: 2s", "timeout: 3s"),
            (
                "env: [CARGO_PKG_NAME]",
                "env: [CARGO_PKG_NAME, CARGO_PKG_VERSION]",
            ),
            ("channel: web", "channel: app"),
            ("method: POST", "method: PUT"),
            ("search?from", "search?origin"),
            ("X-Channel:", "X-Sales-Channel:"),
            (
                r#""{{ settings.channel }}""#,
                r#""web-{{ settings.channel }}""#,
            ),
            (
                "{{ search.passengers }}}",
                "{{ search.passengers }}, \"v\": 2}",
            ),
            ("connect_timeout: 500ms", "connect_timeout: 600ms"),
            ("attempt_timeout: 1s", "attempt_timeout: 2s"),
            ("attempts: 2", "attempts: 3"),
            ("backoff: 100ms", "backoff: 200ms"),
            ("failures: 5", "failures: 6"),
            ("cooldown: 10s", "cooldown: 20s"),
            ("offers: body.offers", "offers: body.data"),
            ("price: item.p", "price: item.total"),
        ] {
            let changed = UPSTREAM.replacen(from, to, 1);
            assert_ne!(changed, UPSTREAM, "{from}");
            let def = parse("sky.yaml", &changed).unwrap_or_else(|e| panic!("{to}: {e:?}"));
            assert_ne!(def, base, "changing `{from}` to `{to}`");
        }
    }
}
