//! The documented transcripts match the running server. Every block of
//! README.md and docs/*.md between `<!-- transcript:NAME -->` and
//! `<!-- /transcript -->` (written by `scripts/transcripts.py`) shows a
//! command and what it printed; this runs each command against a server on
//! the sample `providers.d/` and compares what cannot change from run to
//! run: status codes, shown headers, the field names of every JSON body
//! (recursively), messages, lists of names (airlines, airports), the SSE
//! event kinds and which airlines answer, the number of provider files
//! loaded, and the `--help` text (of a block of several commands, the
//! first). Ids, times, prices and seats are not
//! compared. It also checks that the `/api/providers` reference in
//! docs/api.md lists exactly the fields the server returns.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use crate::helpers::{TestApp, date_in, sample_files};

/// One documented command and what the documentation says it printed.
struct Transcript {
    name: String,
    file: String,
    command: String,
    output: String,
}

fn repo(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// README.md and every docs/*.md, in that order.
fn documents() -> Vec<(String, String)> {
    let mut names: Vec<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".md"))
            .map(|n| format!("docs/{n}"))
            .collect();
    names.sort();
    names.insert(0, "README.md".to_string());
    names
        .into_iter()
        .map(|n| (repo(&n), n))
        .map(|(t, n)| (n, t))
        .collect()
}

fn transcripts() -> Vec<Transcript> {
    let mut found = Vec::new();
    for (file, text) in documents() {
        let mut rest = text.as_str();
        while let Some(start) = rest.find("<!-- transcript:") {
            rest = &rest[start + "<!-- transcript:".len()..];
            let (name, after) = rest.split_once(" -->\n").expect("marker ends");
            let (block, after) = after
                .split_once("<!-- /transcript -->")
                .unwrap_or_else(|| panic!("{file}: transcript {name} is not closed"));
            rest = after;
            let body = block
                .strip_prefix("```console\n")
                .and_then(|b| b.strip_suffix("```\n"))
                .unwrap_or_else(|| {
                    panic!("{file}: transcript {name} is empty: run scripts/transcripts.py")
                });
            let (command, output) = body.split_once('\n').unwrap_or((body, ""));
            // A block of several commands: what the first one printed (the
            // later ones pipe through other tools or need other processes).
            let output = output.split("\n$ ").next().unwrap();
            found.push(Transcript {
                name: name.to_string(),
                file: file.clone(),
                command: command
                    .strip_prefix("$ ")
                    .unwrap_or_else(|| panic!("{file}: {name} shows no command"))
                    .to_string(),
                output: output.trim_end_matches('\n').to_string(),
            });
        }
    }
    found
}

/// Splits a command line into words as the shell does for the forms the
/// transcripts use: single quotes, and `$DATE`/`$SID` outside them.
fn words(line: &str, vars: &BTreeMap<&str, String>) -> Vec<String> {
    let expand = |s: &str| {
        vars.iter()
            .fold(s.to_string(), |s, (k, v)| s.replace(&format!("${k}"), v))
    };
    let mut words = Vec::new();
    let mut word = String::new();
    let mut plain = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                word.push_str(&expand(&std::mem::take(&mut plain)));
                word.extend(chars.by_ref().take_while(|&c| c != '\''));
                in_word = true;
            }
            ' ' => {
                if in_word || !plain.is_empty() {
                    word.push_str(&expand(&std::mem::take(&mut plain)));
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => plain.push(c),
        }
    }
    if in_word || !plain.is_empty() {
        word.push_str(&expand(&plain));
        words.push(word);
    }
    words
}

/// A curl command of the transcripts.
#[derive(Default)]
struct Curl {
    method: Option<String>,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
    /// `-i`: the output starts with the status line and headers.
    head: bool,
    /// `-w '\nHTTP %{http_code}\n'`: the output ends with the status.
    status_line: bool,
    /// `-N`: an SSE stream.
    stream: bool,
}

fn curl(words: &[String]) -> Curl {
    assert_eq!(words[0], "curl", "{words:?}");
    let mut curl = Curl::default();
    let mut args = words[1..].iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-X" => curl.method = args.next().cloned(),
            "-H" => {
                let (k, v) = args.next().unwrap().split_once(": ").unwrap();
                curl.headers.push((k.to_string(), v.to_string()));
            }
            "-d" => curl.body = args.next().cloned(),
            "-w" => {
                assert_eq!(args.next().unwrap(), "\\nHTTP %{http_code}\\n");
                curl.status_line = true;
            }
            flags if flags.starts_with('-') => {
                curl.head |= flags.contains('i');
                curl.stream |= flags.contains('N');
            }
            url => {
                curl.path = url
                    .strip_prefix("localhost:3000")
                    .unwrap_or_else(|| panic!("`{url}` is not on localhost:3000"))
                    .to_string()
            }
        }
    }
    curl
}

/// Keys whose values are the same on every run, so they are compared.
const STABLE: &[&str] = &[
    "success",
    "message",
    "type",
    "mode",
    "enabled",
    "source",
    "name",
    "bus",
    "bus_backend",
    "ready",
    "providers_loaded",
    "providers_enabled",
    "field",
    "code",
    "cabin",
    "currency",
];

/// Objects whose keys are data: `sellers` maps itineraries to counts.
const KEYED_BY_DATA: [&str; 1] = [".sellers"];

/// Checks that `shown` has the shape of `actual`: the same keys in every
/// object, the same lists of names, the same stable values; arrays shown
/// shorter (abbreviated) are compared element by element.
fn same_shape(shown: &Value, actual: &Value, at: &str) -> Result<(), String> {
    // Objects keyed by data, not by field names: their keys are whatever
    // the search found (which airlines answered in time, say).
    if KEYED_BY_DATA.iter().any(|k| at.ends_with(k)) {
        return match (shown, actual) {
            (Value::Object(_), Value::Object(_)) => Ok(()),
            _ => Err(format!("{at}: shows {shown}, the server {actual}")),
        };
    }
    match (shown, actual) {
        (Value::Object(s), Value::Object(a)) => {
            let sk: BTreeSet<_> = s.keys().collect();
            let ak: BTreeSet<_> = a.keys().collect();
            if sk != ak {
                return Err(format!("{at}: shows fields {sk:?}, the server {ak:?}"));
            }
            for (k, v) in s {
                let here = format!("{at}.{k}");
                // An offer's fields are data (which airline is cheapest
                // moves with the travel date), even those named like
                // stable ones (`code`, `name`).
                let stable = STABLE.contains(&k.as_str()) && !at.contains(".offers[");
                if stable && !v.is_object() && !v.is_array() && v != &a[k] {
                    return Err(format!("{here}: shows {v}, the server {}", a[k]));
                }
                same_shape(v, &a[k], &here)?;
            }
            Ok(())
        }
        (Value::Array(s), Value::Array(a)) => {
            if !s.is_empty() && s.iter().all(Value::is_string) && s != a {
                return Err(format!("{at}: shows {shown}, the server {actual}"));
            }
            if s.len() > a.len() {
                return Err(format!(
                    "{at}: shows {} items, the server {}",
                    s.len(),
                    a.len()
                ));
            }
            for (i, (s, a)) in s.iter().zip(a).enumerate() {
                same_shape(s, a, &format!("{at}[{i}]"))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// One SSE event: id, kind, whether `retry:` came with it, and its data
/// (`None` when the documentation cut it short).
struct Event {
    id: String,
    kind: String,
    retry: bool,
    data: Option<Value>,
}

fn events(text: &str) -> Vec<Event> {
    text.split("\n\n")
        .filter(|e| e.contains("event: "))
        .map(|e| {
            let field = |name: &str| {
                e.lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(str::to_string)
            };
            let data = field("data: ").unwrap();
            Event {
                id: field("id: ").unwrap(),
                kind: field("event: ").unwrap(),
                retry: field("retry: ").is_some(),
                data: (!data.ends_with('…'))
                    .then(|| serde_json::from_str(&data).expect("data is JSON")),
            }
        })
        .collect()
}

/// The airlines that have a `provider` event.
fn answering(events: &[Event]) -> BTreeSet<String> {
    events
        .iter()
        .filter(|e| e.kind == "provider")
        .map(|e| {
            let data = e.data.as_ref().expect("provider events are shown whole");
            data["provider"].as_str().unwrap().to_string()
        })
        .collect()
}

fn compare_stream(t: &Transcript, actual: &str, resumed: bool) {
    let (shown, actual) = (events(&t.output), events(actual));
    let label = format!("{} ({})", t.name, t.file);
    assert!(!shown.is_empty(), "{label}: no events shown");
    assert_eq!(shown[0].id, actual[0].id, "{label}: first event id");
    assert!(
        shown[0].retry && actual[0].retry,
        "{label}: retry on the first event"
    );
    assert_eq!(shown.last().unwrap().kind, "complete", "{label}");
    let kinds = |e: &[Event]| e.iter().map(|e| e.kind.clone()).collect::<BTreeSet<_>>();
    if !resumed {
        assert_eq!(kinds(&shown), kinds(&actual), "{label}: event kinds");
        assert_eq!(
            answering(&shown),
            answering(&actual),
            "{label}: the airlines that answer; run scripts/transcripts.py"
        );
    }
    for event in &shown {
        let Some(data) = &event.data else { continue };
        let like = actual
            .iter()
            .find(|a| a.kind == event.kind && a.data.is_some())
            .unwrap_or_else(|| panic!("{label}: no `{}` event like {data}", event.kind));
        same_shape(data, like.data.as_ref().unwrap(), &event.kind)
            .unwrap_or_else(|e| panic!("{label}: {e}; run scripts/transcripts.py"));
    }
}

async fn check(app: &TestApp, t: &Transcript, vars: &mut BTreeMap<&str, String>) {
    let label = format!("{} ({})", t.name, t.file);
    let words = words(&t.command, vars);
    if words[0] == "airstream" {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_airstream"))
            .args(&words[1..])
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(
            t.output,
            text.trim_end(),
            "{label}; run scripts/transcripts.py"
        );
        return;
    }
    if words[0] == "cargo" {
        // The start-up log: how many provider files were loaded.
        let loaded = t.output.split("loaded=").nth(1).expect("loaded=");
        let loaded: usize = loaded.split(' ').next().unwrap().parse().unwrap();
        let (_, list) = app.get("/api/providers").await;
        let files = list["data"].as_array().unwrap();
        assert_eq!(loaded, files.len(), "{label}; run scripts/transcripts.py");
        return;
    }
    let curl = curl(&words);
    let method = curl
        .method
        .clone()
        .unwrap_or(if curl.body.is_some() { "POST" } else { "GET" }.to_string());
    // The simulated airline fails now and then on purpose: ask again.
    let mut response = None;
    for _ in 0..10 {
        let mut request = app
            .client
            .request(method.parse().unwrap(), app.url(&curl.path));
        for (k, v) in &curl.headers {
            request = request.header(k, v);
        }
        if let Some(body) = &curl.body {
            request = request.body(body.clone());
        }
        let answer = request.send().await.expect("request");
        let retry = answer.status() == 503 && curl.path.starts_with("/sim/");
        response = Some(answer);
        if !retry {
            break;
        }
    }
    let response = response.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();

    let mut shown = t.output.as_str();
    if curl.head {
        let (head, body) = shown.split_once("\n\n").expect("head, then body");
        let mut lines = head.lines();
        let code: u16 = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(code, status, "{label}: status");
        for line in lines {
            let (name, _) = line.split_once(": ").unwrap();
            assert!(headers.contains_key(name), "{label}: no `{name}` header");
        }
        shown = body;
    } else if curl.status_line {
        let (body, code) = shown.rsplit_once("\nHTTP ").expect("status line");
        assert_eq!(code.parse::<u16>().unwrap(), status, "{label}: status");
        shown = body;
    } else {
        assert!((200..300).contains(&status), "{label}: status {status}");
    }

    if curl.stream {
        compare_stream(
            t,
            &text,
            curl.headers.iter().any(|(k, _)| k == "Last-Event-ID"),
        );
        return;
    }
    let shown: Value = serde_json::from_str(shown)
        .unwrap_or_else(|e| panic!("{label}: the output shown is not JSON: {e}"));
    let actual: Value = serde_json::from_str(&text).unwrap();
    same_shape(&shown, &actual, "body")
        .unwrap_or_else(|e| panic!("{label}: {e}; run scripts/transcripts.py"));
    let var = match t.name.as_str() {
        "post-search" => Some("SID"),
        "family-search" => Some("FID"),
        _ => None,
    };
    if let (Some(id), Some(var)) = (actual["data"]["search_id"].as_str(), var) {
        // The search the later commands name: wait until it is finished.
        vars.insert(var, id.to_string());
        app.stream(id, "", None).await;
    }
}

#[tokio::test]
async fn transcripts_match_the_running_server() {
    let transcripts = transcripts();
    let names: BTreeSet<_> = transcripts.iter().map(|t| t.name.as_str()).collect();
    for expected in ["post-search", "stream", "snapshot", "providers", "readyz"] {
        assert!(names.contains(expected), "no transcript `{expected}`");
    }
    let files = sample_files();
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, y)| (n.as_str(), y.as_str()))
        .collect();
    // The transcripts show the quick start: the embedded bus.
    let app = TestApp::with_providers(&files, |s| s.redis_url = None).await;
    let mut vars = BTreeMap::from([("DATE", date_in(14))]);
    for t in &transcripts {
        check(&app, t, &mut vars).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn the_providers_reference_lists_exactly_the_fields_returned() {
    let api = repo("docs/api.md");
    let section = api
        .split("### GET /api/providers\n")
        .nth(1)
        .expect("docs/api.md has a GET /api/providers section");
    let section = section.split("\n### ").next().unwrap();
    let documented: BTreeSet<String> = section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .flat_map(|l| {
            let cell = l.split('|').nth(1).unwrap();
            cell.split(',')
                .map(|f| f.trim().trim_matches('`').to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    let app = TestApp::with_samples().await;
    let (_, list) = app.get("/api/providers").await;
    let returned: BTreeSet<String> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p.as_object().unwrap().keys().cloned())
        .collect();
    // `served_by` appears only on an api process on Redis.
    let redis_only = BTreeSet::from(["served_by".to_string()]);
    let missing: Vec<_> = returned.difference(&documented).collect();
    let extra: Vec<_> = documented
        .difference(&returned)
        .filter(|f| !redis_only.contains(*f))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "docs/api.md, GET /api/providers: not documented {missing:?}, not returned {extra:?}"
    );
    app.stop().await;
}
