//! `redis_url`: one Redis, or the nodes of a Redis Cluster separated by
//! commas; what forms it may take, and how it is shown without passwords.

/// Why `url` is no `redis_url`, if it is not.
pub fn problem(url: &str) -> Option<String> {
    let nodes: Vec<&str> = url.split(',').map(str::trim).collect();
    let each = |schemes: &[&str]| {
        nodes
            .iter()
            .all(|n| schemes.iter().any(|s| n.starts_with(s)))
    };
    let one = nodes.len() == 1 && each(&["redis://", "rediss://", "unix://"]);
    (!one && !each(&["redis://", "rediss://"])).then(|| {
        format!(
            "`redis_url` must be one URL starting with redis://, rediss:// or unix://, or the nodes of a Redis Cluster as such URLs separated by commas, got `{}`",
            redact(url)
        )
    })
}

/// A Redis URL (or comma-separated list of them) fit for logs: any
/// password replaced by `***`.
pub fn redact(url: &str) -> String {
    url.split(',')
        .map(|one| match (one.find("://"), one.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                let userinfo = &one[scheme + 3..at];
                let user = userinfo.split(':').next().unwrap_or("");
                format!("{}{}:***{}", &one[..scheme + 3], user, &one[at..])
            }
            _ => one.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_from_redis_urls() {
        assert_eq!(
            redact("redis://:secret@host:6379"),
            "redis://:***@host:6379"
        );
        assert_eq!(redact("redis://user:pw@host/0"), "redis://user:***@host/0");
        assert_eq!(redact("redis://host:6379"), "redis://host:6379");
        assert_eq!(
            redact("redis://:a@h1:7000, redis://:b@h2:7001"),
            "redis://:***@h1:7000, redis://:***@h2:7001"
        );
    }

    #[test]
    fn one_url_or_cluster_nodes_and_nothing_else() {
        assert_eq!(problem("redis://h:6379"), None);
        assert_eq!(problem("unix:///run/redis.sock"), None);
        assert_eq!(problem("redis://h1:7000,redis://h2:7001"), None);
        let bad = problem("redis://h1:7000,unix:///s").unwrap();
        assert!(bad.contains("separated by commas"), "{bad}");
        let bad = problem("http://user:pw@h").unwrap();
        assert!(
            bad.contains("http://user:***@h") && !bad.contains("pw"),
            "{bad}"
        );
    }
}
