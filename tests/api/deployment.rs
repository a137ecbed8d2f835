//! The deployment files refer to what the repository holds: every source
//! the Dockerfile copies and every directory docker-compose mounts exists,
//! and the image build copies every member of the Cargo workspace and every
//! file the binary compiles in (without one, `cargo build --locked` in the
//! image fails). The files are read when
//! the test runs, so moving a folder breaks the test, not the image.

use std::path::{Component, Path, PathBuf};

use serde_json::Value;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A path as written in a deployment file, without `./` and trailing `/`.
fn normalized(path: &str) -> PathBuf {
    Path::new(path)
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

/// The sources of every `COPY` and `ADD` of the Dockerfile that read the
/// build context (`--from=stage` copies read an image, not the context).
fn dockerfile_sources(dockerfile: &str) -> Vec<String> {
    let joined = dockerfile.replace("\\\n", " ");
    let mut sources = Vec::new();
    for line in joined.lines().map(str::trim) {
        let mut words = line.split_whitespace();
        let Some(instruction) = words.next() else {
            continue;
        };
        if !["COPY", "ADD"].contains(&instruction.to_ascii_uppercase().as_str()) {
            continue;
        }
        let rest: Vec<&str> = words.collect();
        if rest.iter().any(|w| w.starts_with("--from=")) {
            continue;
        }
        let args: Vec<String> = if rest.first().is_some_and(|w| w.starts_with('[')) {
            serde_json::from_str(&rest.join(" "))
                .unwrap_or_else(|e| panic!("bad JSON form in `{line}`: {e}"))
        } else {
            rest.iter()
                .filter(|w| !w.starts_with("--"))
                .map(|w| (*w).to_owned())
                .collect()
        };
        assert!(args.len() >= 2, "`{line}` names no source and destination");
        sources.extend(args[..args.len() - 1].iter().cloned());
    }
    sources
}

/// The host paths of the compose file's bind mounts (`./host:/container`,
/// or the long form with `type: bind`), and its build contexts.
fn compose_host_paths(compose: &Value) -> Vec<String> {
    let mut paths = Vec::new();
    for service in compose["services"].as_object().expect("services").values() {
        for volume in service["volumes"].as_array().into_iter().flatten() {
            match volume {
                Value::String(short) => {
                    let host = short.split(':').next().unwrap_or_default();
                    if host.starts_with('.') || host.starts_with('/') {
                        paths.push(host.to_owned());
                    }
                }
                long if long["type"] == "bind" => {
                    paths.push(long["source"].as_str().expect("bind source").to_owned());
                }
                _ => {}
            }
        }
        match &service["build"] {
            Value::String(context) => paths.push(context.clone()),
            Value::Object(build) => {
                let context = build.get("context").and_then(Value::as_str).unwrap_or(".");
                paths.push(context.to_owned());
                if let Some(file) = build.get("dockerfile").and_then(Value::as_str) {
                    paths.push(format!("{context}/{file}"));
                }
            }
            _ => {}
        }
    }
    paths
}

/// The root Cargo.toml's workspace members, globs (`crates/*`) expanded.
fn workspace_members() -> Vec<PathBuf> {
    use figment::providers::{Format, Toml};
    let members: Vec<String> = figment::Figment::from(Toml::file(repo("Cargo.toml")))
        .extract_inner("workspace.members")
        .expect("the root Cargo.toml lists its workspace members");
    let mut paths = Vec::new();
    for member in members {
        match member.strip_suffix("/*") {
            Some(parent) => {
                for entry in std::fs::read_dir(repo(parent)).expect("member folder") {
                    let path = entry.expect("entry").path();
                    if path.join("Cargo.toml").is_file() {
                        let relative = path.strip_prefix(repo("")).expect("in the repository");
                        paths.push(relative.to_path_buf());
                    }
                }
            }
            None => paths.push(normalized(&member)),
        }
    }
    paths
}

#[test]
fn every_source_the_dockerfile_copies_exists() {
    let dockerfile = std::fs::read_to_string(repo("Dockerfile")).expect("Dockerfile");
    let sources = dockerfile_sources(&dockerfile);
    assert!(sources.len() >= 3, "{sources:?}");
    for source in &sources {
        assert!(
            repo("").join(normalized(source)).exists(),
            "the Dockerfile copies `{source}`, which the repository does not have"
        );
    }
}

#[test]
fn every_host_path_the_compose_file_mounts_exists() {
    let text = std::fs::read_to_string(repo("docker-compose.yml")).expect("compose file");
    let compose: Value = serde_saphyr::from_str(&text).expect("compose YAML");
    let paths = compose_host_paths(&compose);
    assert!(
        paths.iter().any(|p| p != "."),
        "no bind mount found: {paths:?}"
    );
    for path in &paths {
        assert!(
            repo("").join(normalized(path)).exists(),
            "docker-compose.yml mounts or builds `{path}`, which the repository does not have"
        );
    }
}

/// The files the service's code compiles in (`include_str!` and
/// `include_bytes!` outside its tests), relative to the repository.
fn embedded_files() -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![repo("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            for part in code.split("include_").skip(1) {
                let Some(rest) = part
                    .strip_prefix("str!(\"")
                    .or_else(|| part.strip_prefix("bytes!(\""))
                else {
                    continue;
                };
                let Some(end) = rest.find('"') else { continue };
                let file = path.parent().unwrap().join(&rest[..end]);
                let file = std::fs::canonicalize(&file).unwrap_or_else(|e| {
                    panic!("{} embeds {}: {e}", path.display(), file.display())
                });
                let root = std::fs::canonicalize(repo("")).unwrap();
                found.push(file.strip_prefix(&root).unwrap().to_path_buf());
            }
        }
    }
    found
}

#[test]
fn the_image_build_copies_every_file_the_binary_embeds() {
    let dockerfile = std::fs::read_to_string(repo("Dockerfile")).expect("Dockerfile");
    let copied: Vec<PathBuf> = dockerfile_sources(&dockerfile)
        .iter()
        .map(|s| normalized(s))
        .collect();
    let embedded = embedded_files();
    assert!(
        embedded.iter().any(|f| f.starts_with("data")),
        "the airport table is embedded: {embedded:?}"
    );
    for file in embedded {
        assert!(
            copied.iter().any(|c| file.starts_with(c)),
            "the binary embeds `{}`, which the Dockerfile does not copy: copies {copied:?}",
            file.display()
        );
    }
}

#[test]
fn the_image_build_copies_every_workspace_member() {
    let dockerfile = std::fs::read_to_string(repo("Dockerfile")).expect("Dockerfile");
    let copied: Vec<PathBuf> = dockerfile_sources(&dockerfile)
        .iter()
        .map(|s| normalized(s))
        .collect();
    let members = workspace_members();
    assert!(members.len() >= 2, "{members:?}");
    for member in members {
        // A member builds from its manifest and its sources.
        for needed in [member.join("Cargo.toml"), member.join("src")] {
            assert!(
                copied.iter().any(|c| needed.starts_with(c)),
                "the Dockerfile does not copy `{}` (workspace member `{}`): copies {copied:?}",
                needed.display(),
                member.display()
            );
        }
    }
}

/// The files of the targets the root manifest declares (`[[bench]]`,
/// `[[bin]]`): cargo reads every one of them to load the manifest, so a
/// build that lacks one fails even for another target.
fn declared_targets() -> Vec<PathBuf> {
    let manifest: toml::Value =
        toml::from_str(&std::fs::read_to_string(repo("Cargo.toml")).unwrap())
            .expect("the root Cargo.toml parses");
    let mut paths = Vec::new();
    for (kind, folder) in [
        ("bench", "benches"),
        ("bin", "src/bin"),
        ("example", "examples"),
        ("test", "tests"),
    ] {
        for target in manifest
            .get(kind)
            .and_then(|t| t.as_array())
            .into_iter()
            .flatten()
        {
            let path = match (target.get("path"), target.get("name")) {
                (Some(path), _) => path.as_str().unwrap().to_string(),
                (None, Some(name)) => format!("{folder}/{}.rs", name.as_str().unwrap()),
                _ => continue,
            };
            paths.push(normalized(&path));
        }
    }
    paths
}

#[test]
fn the_image_build_copies_every_target_the_manifest_declares() {
    let dockerfile = std::fs::read_to_string(repo("Dockerfile")).expect("Dockerfile");
    let copied: Vec<PathBuf> = dockerfile_sources(&dockerfile)
        .iter()
        .map(|s| normalized(s))
        .collect();
    let targets = declared_targets();
    assert!(
        targets.iter().any(|t| t.starts_with("benches")),
        "{targets:?}"
    );
    for target in targets {
        assert!(
            repo("").join(&target).is_file(),
            "`{}` is declared but missing",
            target.display()
        );
        assert!(
            copied.iter().any(|c| target.starts_with(c)),
            "the Dockerfile does not copy `{}`, which Cargo.toml declares: copies {copied:?}",
            target.display()
        );
    }
}

#[test]
fn the_parsers_read_what_the_files_say() {
    let sources = dockerfile_sources(
        "FROM x AS b\nCOPY --chown=1:1 a.toml \\\n  b.lock ./\nCOPY [\"src\", \"./src\"]\n\
         COPY --from=b /bin/x /x\nadd crates /c\n",
    );
    assert_eq!(sources, ["a.toml", "b.lock", "src", "crates"]);
    let compose: Value = serde_saphyr::from_str(
        "services:\n  a:\n    build: .\n    volumes:\n      - ./deploy/x.yml:/x:ro\n      - data:/data\n      - type: bind\n        source: ./y\n        target: /y\n",
    )
    .expect("YAML");
    assert_eq!(compose_host_paths(&compose), ["./deploy/x.yml", "./y", "."]);
    assert_eq!(
        normalized("./crates/loadtest/"),
        PathBuf::from("crates/loadtest")
    );
}
