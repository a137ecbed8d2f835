//! What is wrong with a provider file: each [`Problem`] at its line and
//! column, the [`Problems`] collected while checking one file (every one,
//! not only the first), and the [`FileError`] that names the file. Every
//! step of reading a file reports here, so this module imports none of them.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_saphyr::Spanned;

/// One problem in a provider file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// 1-based line, or 0 when the problem concerns the whole file.
    pub line: u64,
    /// 1-based column, or 0 when the problem concerns the whole file.
    pub column: u64,
    /// What is wrong, in plain words.
    pub message: String,
}

impl Problem {
    /// A problem at a position, its message capped so that no quoted part
    /// of a file (or of anything else) is echoed whole.
    pub fn new(line: u64, column: u64, message: impl AsRef<str>) -> Self {
        Problem {
            line,
            column,
            message: crate::text::cap_quotes(message.as_ref()),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            f.write_str(&self.message)
        } else {
            write!(f, "{}:{}: {}", self.line, self.column, self.message)
        }
    }
}

/// The problems found in one file, in the order they were found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Problems(Vec<Problem>);

impl Problems {
    /// Records a problem at the position of a YAML node.
    pub fn at<T>(&mut self, node: &Spanned<T>, message: impl AsRef<str>) {
        self.0.push(Problem::new(
            node.referenced.line(),
            node.referenced.column(),
            message,
        ));
    }

    /// Records a problem at a known position.
    pub fn at_position(&mut self, line: u64, column: u64, message: impl AsRef<str>) {
        self.0.push(Problem::new(line, column, message));
    }

    /// How many problems so far.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The problems.
    pub fn iter(&self) -> impl Iterator<Item = &Problem> {
        self.0.iter()
    }

    /// The problems, sorted by position.
    pub fn into_sorted(mut self) -> Vec<Problem> {
        self.0.sort_by_key(|p| (p.line, p.column));
        self.0
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.0 {
            writeln!(f, "{p}")?;
        }
        Ok(())
    }
}

/// A provider file that could not be loaded, with every problem found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileError {
    /// The file.
    pub path: PathBuf,
    /// Its problems, sorted by position.
    pub problems: Vec<Problem>,
}

impl fmt::Display for FileError {
    /// One line per problem: `path:line:column: reason`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            if p.line == 0 {
                write!(f, "{}: {p}", self.path.display())?;
            } else {
                write!(f, "{}:{p}", self.path.display())?;
            }
        }
        Ok(())
    }
}

impl FileError {
    /// The same error with its path shown relative to `dir` (the providers
    /// directory), as `/api/providers` lists it: the server's own layout is
    /// nobody else's business.
    pub fn relative_to(&self, dir: &Path) -> FileError {
        FileError {
            path: shown_path(&self.path, dir).to_path_buf(),
            problems: self.problems.clone(),
        }
    }
}

/// `path` relative to `dir` when it is inside it, else as it is.
pub fn shown_path<'a>(path: &'a Path, dir: &Path) -> &'a Path {
    path.strip_prefix(dir).unwrap_or(path)
}

impl std::error::Error for FileError {}
