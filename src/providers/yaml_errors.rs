//! serde-saphyr's parse errors in plain words, at the line to edit.
//!
//! Most YAML mistakes in a provider file are indentation: a key one space
//! short, or too far in. The parser then reports what it saw, which is
//! often elsewhere and in its own terms (`missing field` on the line above,
//! `mapping values are not allowed in this context`, a number that swallowed
//! the next line). Each translation here looks at the text around the
//! reported position to find the line that is out of place, and says so.

use super::problems::Problem;

/// A parse error as a problem: serde-saphyr's position and message (without
/// its snippet), translated where we recognise the cause.
pub fn yaml_problem(error: &serde_saphyr::Error, text: &str) -> Problem {
    let (line, column) = error
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((0, 0));
    let raw = error.without_snippet().to_string();
    let message = match raw.rsplit_once(" at line ") {
        Some((head, _)) => head.to_string(),
        None => raw,
    };
    let lines = Lines::new(text);
    translate(&lines, line as usize, column as usize, &message)
        .unwrap_or_else(|| Problem::new(line, column, plain_words(&message)))
}

fn translate(lines: &Lines, line: usize, column: usize, message: &str) -> Option<Problem> {
    if message == "mapping values are not allowed in this context" {
        return Some(mapping_value(lines, line, column));
    }
    if let Some(field) = quoted_after(message, "missing field `") {
        return Some(missing_field(lines, line, column, field));
    }
    if let Some(problem) = swallowed_line(lines, line, column) {
        return Some(problem);
    }
    if let Some(field) = quoted_after(message, "unknown field `") {
        let expected = message.split_once(", expected ").map(|(_, e)| e);
        return Some(unknown_field(lines, line, column, field, expected));
    }
    if let Some(rest) = message.strip_prefix("duplicate mapping key: ") {
        let key = rest.split(',').next().unwrap_or(rest).trim();
        return Some(Problem::new(
            line as u64,
            column as u64,
            format!("`{key}` is set twice in this mapping: keep one"),
        ));
    }
    let plain = if message.starts_with("tabs disallowed") {
        "a tab indents this line: YAML indents with spaces only".to_string()
    } else if message == "unclosed quote" {
        "this quote is never closed: end the value with the same quote".to_string()
    } else if let Some(bracket) = message.strip_prefix("unclosed bracket '") {
        let open = bracket.trim_end_matches('\'');
        let close = if open == "[" { "]" } else { "}" };
        format!("this `{open}` is never closed with `{close}`")
    } else {
        return None;
    };
    Some(Problem::new(line as u64, column as u64, plain))
}

fn plain_words(message: &str) -> String {
    let rewrites = [
        ("invalid u8", "expected a whole number from 0 to 255"),
        ("invalid u16", "expected a whole number from 0 to 65535"),
        ("invalid u32", "expected a whole number of 0 or more"),
        ("invalid u64", "expected a whole number of 0 or more"),
        ("invalid f64", "expected a number"),
        ("invalid bool", "expected true or false"),
    ];
    for (from, to) in rewrites {
        if message == from {
            return to.to_string();
        }
    }
    message.to_string()
}

/// The text between `prefix` and the next backtick.
fn quoted_after<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = message.strip_prefix(prefix)?;
    rest.split_once('`').map(|(q, _)| q)
}

/// One line of YAML, as far as indentation goes.
#[derive(Clone, Copy, Debug)]
struct Line<'a> {
    /// 0-based column of the first character after the indentation and any
    /// `- ` item markers: where a key starts.
    key_col: usize,
    /// The key, when the line is `key:` or `key: value`.
    key: Option<&'a str>,
    /// What follows `key:`, without a trailing comment; empty for `key:`.
    value: &'a str,
    /// 0-based column of the value.
    value_col: usize,
}

impl Line<'_> {
    /// Whether the value is a plain scalar that a more indented next line
    /// would continue.
    fn has_plain_value(&self) -> bool {
        self.key.is_some()
            && !self.value.is_empty()
            && !self
                .value
                .starts_with(['|', '>', '{', '[', '"', '\'', '&', '*', '!'])
    }
}

/// The lines of a file (1-based), with blank and comment-only lines
/// skipped by the neighbour searches.
struct Lines<'a>(Vec<Option<Line<'a>>>);

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Self {
        Lines(text.lines().map(parse_line).collect())
    }

    fn get(&self, n: usize) -> Option<Line<'a>> {
        n.checked_sub(1)
            .and_then(|i| self.0.get(i).copied().flatten())
    }

    /// The nearest content line before line `n`.
    fn before(&self, n: usize) -> Option<(usize, Line<'a>)> {
        (1..n).rev().find_map(|k| self.get(k).map(|l| (k, l)))
    }

    /// The nearest content line after line `n`.
    fn after(&self, n: usize) -> Option<(usize, Line<'a>)> {
        (n + 1..=self.0.len()).find_map(|k| self.get(k).map(|l| (k, l)))
    }

    /// The line that owns line `n`'s keys: the nearest line above whose key
    /// starts further left.
    fn owner(&self, n: usize, key_col: usize) -> Option<(usize, Line<'a>)> {
        (1..n)
            .rev()
            .filter_map(|k| self.get(k).map(|l| (k, l)))
            .find(|(_, l)| l.key_col < key_col)
    }
}

fn parse_line(text: &str) -> Option<Line<'_>> {
    let trimmed = text.trim_start_matches(' ');
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return None;
    }
    let mut col = text.len() - trimmed.len();
    let mut rest = trimmed;
    while let Some(after) = rest.strip_prefix("- ") {
        let after_spaces = after.trim_start_matches(' ');
        col += rest.len() - after_spaces.len();
        rest = after_spaces;
    }
    let key_len = rest
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        .count();
    let after_key = &rest[key_len..];
    let is_key = key_len > 0 && (after_key == ":" || after_key.starts_with(": "));
    if !is_key {
        return Some(Line {
            key_col: col,
            key: None,
            value: rest.trim_end(),
            value_col: col,
        });
    }
    let value_part = &after_key[1..];
    let value_start = value_part.len() - value_part.trim_start().len();
    let value = value_part.trim_start();
    let value = match value.find(" #") {
        Some(at) => &value[..at],
        None => value,
    }
    .trim_end();
    Some(Line {
        key_col: col,
        key: Some(&rest[..key_len]),
        value: if value.starts_with('#') { "" } else { value },
        value_col: col + key_len + 1 + value_start,
    })
}

/// `1 space`, `6 spaces`.
fn spaces(n: usize) -> String {
    if n == 1 {
        "1 space".into()
    } else {
        format!("{n} spaces")
    }
}

fn at(line: usize, col0: usize, message: String) -> Problem {
    Problem::new(line as u64, (col0 + 1) as u64, message)
}

/// `mapping values are not allowed in this context`: a second `key:` on
/// one line, or a key indented under a line that already has its value.
fn mapping_value(lines: &Lines, line: usize, column: usize) -> Problem {
    let here = lines.get(line);
    if let Some(l) = here
        && let Some(key) = l.key
        && column > l.key_col + key.len() + 1
    {
        return Problem::new(
            line as u64,
            column as u64,
            format!(
                "a second `key: value` on the line of `{key}:`: start a new line for it, \
                 lined up with `{key}:` (or, if the value itself contains `: `, put it in quotes)"
            ),
        );
    }
    if let (Some(l), Some((above, prev))) = (here, lines.before(line))
        && let (Some(key), Some(prev_key)) = (l.key, prev.key)
        && prev.has_plain_value()
        && l.key_col > prev.key_col
    {
        return at(
            line,
            l.key_col,
            format!(
                "`{key}:` is indented more than `{prev_key}:` on line {above}, which already \
                 has its value, so YAML cannot read it as a key: check this line's indentation \
                 (line it up with `{prev_key}:` if it belongs beside it)"
            ),
        );
    }
    Problem::new(
        line as u64,
        column as u64,
        "a `key: value` is not expected here: check this line's indentation \
         (and that the line before does not leave a value unfinished)",
    )
}

/// `missing field`: often the field is there, but indented differently
/// from the mapping's other keys, so YAML put it elsewhere.
fn missing_field(lines: &Lines, line: usize, column: usize, field: &str) -> Problem {
    let Some(here) = lines.get(line) else {
        return Problem::new(
            line as u64,
            column as u64,
            format!("`{field}` is required here but missing"),
        );
    };
    let key_col = if column > 0 && here.key.is_some() {
        column - 1
    } else {
        here.key_col
    };
    // The lines of this mapping and its children: below the line that owns
    // it, up to the next line indented as far left as that owner.
    let owner = lines.owner(line, key_col);
    let floor = owner.map(|(_, l)| l.key_col);
    let first = owner.map_or(1, |(k, _)| k + 1);
    let mut last = line;
    while let Some((k, l)) = lines.after(last) {
        if floor.is_some_and(|f| l.key_col <= f) || (floor.is_none() && l.key_col == 0) {
            break;
        }
        last = k;
    }
    let sibling = here.key.unwrap_or("the other keys");
    let found = (first..=last)
        .filter_map(|k| lines.get(k).map(|l| (k, l)))
        .find(|(_, l)| {
            l.key == Some(field)
                && l.key_col != key_col
                && l.key_col + 2 > key_col.saturating_sub(2)
        });
    match found {
        Some((k, l)) => at(
            k,
            l.key_col,
            format!(
                "`{field}:` is indented {}, but the keys beside it (such as `{sibling}:` \
                 on line {line}) are indented {}, so YAML does not read it as one of \
                 them: line it up with `{sibling}:`",
                spaces(l.key_col),
                spaces(key_col)
            ),
        ),
        None => Problem::new(
            line as u64,
            column as u64,
            match here.key {
                Some(key) => format!(
                    "`{field}` is required in the mapping with `{key}:` but missing \
                     (if it is written, check its indentation)"
                ),
                None => format!("`{field}` is required here but missing"),
            },
        ),
    }
}

/// A value error on a `key: value` line whose next line is indented
/// further: YAML read that next line as the rest of the value.
fn swallowed_line(lines: &Lines, line: usize, column: usize) -> Option<Problem> {
    let here = lines.get(line)?;
    let key = here.key?;
    if !here.has_plain_value() || column < here.value_col + 1 {
        return None;
    }
    let (next, after) = lines.after(line)?;
    if after.key_col <= here.key_col {
        return None;
    }
    let what = after
        .key
        .map_or("this line".to_string(), |k| format!("`{k}:`"));
    Some(at(
        next,
        after.key_col,
        format!(
            "{what} is indented more than `{key}:` on line {line}, so YAML reads this line \
             as the rest of that value: line it up with `{key}:`"
        ),
    ))
}

/// `unknown field`: name where it landed, and hint at indentation.
fn unknown_field(
    lines: &Lines,
    line: usize,
    column: usize,
    field: &str,
    expected: Option<&str>,
) -> Problem {
    let key_col = lines
        .get(line)
        .map_or(column.saturating_sub(1), |l| l.key_col);
    let expected = expected.map(|e| e.trim_start_matches("one of "));
    let takes = expected.map_or(String::new(), |e| format!(", which takes {e}"));
    let message = match lines.owner(line, key_col) {
        Some((k, owner)) => {
            let name = owner.key.unwrap_or("the line");
            format!(
                "unknown field `{field}`: it is not expected under `{name}:` (line {k}){takes}; \
                 if it belongs elsewhere, check its indentation"
            )
        }
        None => {
            let opener = lines
                .before(line)
                .filter(|(_, l)| l.key.is_some() && l.value.is_empty() && l.key_col == key_col);
            let hint = opener.map_or(String::new(), |(k, l)| {
                format!(
                    "; if it belongs under `{}:` (line {k}), indent it",
                    l.key.unwrap_or_default()
                )
            });
            let top = expected.map_or(String::new(), |e| format!(" (those are {e})"));
            format!("unknown field `{field}`: it is not a top-level key{top}{hint}")
        }
    };
    Problem::new(line as u64, column as u64, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(text: &str) -> Problem {
        let err = serde_saphyr::from_str::<crate::providers::definition::ProviderFile>(text)
            .expect_err("a parse error");
        yaml_problem(&err, text)
    }

    const HEAD: &str = "name: X\nairline: XX\nmock:\n  currency: IDR\n";

    #[test]
    fn a_key_short_by_a_space_is_pointed_at() {
        let p = problem(&format!(
            "{HEAD}  routes:\n    - from: CGK\n     to: DPS\n      flights: []\n"
        ));
        assert_eq!((p.line, p.column), (7, 6), "{p}");
        assert!(p.message.starts_with("`to:` is indented 5 spaces, but the keys beside it (such as `from:` on line 6) are indented 6 spaces"), "{p}");
        let p = problem(&format!("{HEAD} routes: []\n"));
        assert_eq!((p.line, p.column), (5, 2), "{p}");
        assert!(p.message.contains("`routes:` is indented 1 space,"), "{p}");
    }

    #[test]
    fn a_key_too_far_in_is_pointed_at() {
        let p = problem(&format!("{HEAD}    routes: []\n"));
        assert_eq!((p.line, p.column), (5, 5), "{p}");
        assert!(
            p.message
                .starts_with("`routes:` is indented more than `currency:` on line 4"),
            "{p}"
        );
        let p = problem(
            "name: X\nairline: XX\nmock:\n  currency: IDR\n  seed: 4\n    routes:\n    - from: CGK\n",
        );
        assert_eq!((p.line, p.column), (6, 5), "{p}");
        assert!(p.message.starts_with("`routes:` is indented more than `seed:` on line 5, so YAML reads this line as the rest of that value"), "{p}");
    }

    #[test]
    fn two_keys_on_one_line_are_named() {
        let p = problem("name: X airline: XX\nmock:\n  currency: IDR\n");
        assert_eq!(p.line, 1, "{p}");
        assert!(
            p.message
                .starts_with("a second `key: value` on the line of `name:`"),
            "{p}"
        );
    }

    #[test]
    fn parser_jargon_is_translated() {
        let p = problem("name: X\nname: Y\nairline: XX\n");
        assert!(p.message.contains("`name` is set twice"), "{p}");
        let p = problem("name: X\nairline: XX\nmock:\n\tcurrency: IDR\n");
        assert!(p.message.contains("spaces only"), "{p}");
        let p = problem("name: X\nairline: XX\nmock: { currency: IDR\n");
        assert!(p.message.contains("never closed with `}`"), "{p}");
        let p = problem(&format!(
            "{HEAD}  routes:\n    - from: CGK\n      to: DPS\n      flights:\n        - {{ number: GA1, depart: \"07:00\", fares: {{ economy: 1 }} }}\n"
        ));
        assert!(
            p.message
                .starts_with("`duration` is required here but missing"),
            "{p}"
        );
        let p = problem("name: X\nairline: XX\nmock:\ncurrency: IDR\n");
        assert!(
            p.message
                .contains("if it belongs under `mock:` (line 3), indent it"),
            "{p}"
        );
    }
}
