//! Quoting what a user wrote in a message without echoing it whole: a value
//! quoted from a file may be huge, or a line of a file that is not ours to
//! show.

/// Characters of quoted text kept in a message at most.
pub const EXCERPT_CHARS: usize = 60;

/// Characters of a whole message kept at most.
pub const MESSAGE_CHARS: usize = 400;

/// `text` cut to [`EXCERPT_CHARS`] characters with an ellipsis, control
/// characters (line breaks, tabs) shown as spaces.
pub fn excerpt(text: &str) -> String {
    cut(text, EXCERPT_CHARS)
}

fn cut(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .take(max)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

/// A message with every part quoted in backticks or double quotes cut to an
/// excerpt, and the whole cut to [`MESSAGE_CHARS`] characters: whatever a
/// parser or a check quoted from a file, a message never carries more than
/// a short piece of it.
pub fn cap_quotes(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(MESSAGE_CHARS + 8));
    let mut rest = message;
    while let Some(start) = rest.find(['`', '"']) {
        let quote = rest[start..].chars().next().unwrap_or('`');
        out.push_str(&rest[..start + 1]);
        let inner = &rest[start + 1..];
        match inner.find(quote) {
            Some(end) => {
                out.push_str(&excerpt(&inner[..end]));
                out.push(quote);
                rest = &inner[end + 1..];
            }
            None => {
                out.push_str(&excerpt(inner));
                rest = "";
            }
        }
    }
    out.push_str(rest);
    cut(&out, MESSAGE_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_kept_and_long_text_is_cut() {
        assert_eq!(excerpt("GA404"), "GA404");
        let long = "x".repeat(500);
        let cut = excerpt(&long);
        assert_eq!(cut.chars().count(), EXCERPT_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(excerpt("a\nb"), "a b");
    }

    #[test]
    fn every_quoted_part_is_capped() {
        let secret =
            "root:$6$averylongsecrethashthatmustneverbeshownwholeinanymessage:20228:0:99999:7:::";
        let message = format!("unknown field `{secret}`, expected one of `a`, `b`");
        let capped = cap_quotes(&message);
        assert!(!capped.contains(secret), "{capped}");
        assert!(capped.starts_with("unknown field `root:$6$"), "{capped}");
        assert!(capped.ends_with("…`, expected one of `a`, `b`"), "{capped}");
        let capped = cap_quotes(&format!("invalid value: string \"{secret}\", expected x"));
        assert!(
            !capped.contains(secret) && capped.ends_with("…\", expected x"),
            "{capped}"
        );
        let capped = cap_quotes(&format!("unclosed `{secret}"));
        assert!(!capped.contains(secret), "{capped}");
        assert!(cap_quotes(&"y".repeat(5000)).chars().count() <= MESSAGE_CHARS + 1);
        assert_eq!(cap_quotes("plain words"), "plain words");
    }
}
