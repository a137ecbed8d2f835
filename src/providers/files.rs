//! Which files of the providers directory are read: visible `*.yaml` and
//! `*.yml` files, and symbolic links only when their fully resolved target
//! is a file inside the directory (as in a Kubernetes ConfigMap volume,
//! where `x.yaml -> ..data/x.yaml` and `..data -> ..2026_12_01_xx/`). A link
//! that leads anywhere else is listed with an error and never read, so a
//! link to `/etc/shadow` cannot show a line of it.

use std::path::{Path, PathBuf};

use super::problems::{FileError, Problem};

/// Whether a directory entry is a provider file: `*.yaml` or `*.yml`, not
/// hidden (editors' swap and temp files start with a dot).
pub fn is_provider_file(path: &Path) -> bool {
    let hidden = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_none_or(|n| n.starts_with('.'));
    let yaml = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml") | Some("yml")
    );
    !hidden && yaml
}

/// A provider file found: the path it is listed under, and where its text
/// is read from (or why it is not read).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Listed {
    /// The path in the directory (or as given on the command line).
    pub path: PathBuf,
    /// The file to read: the path itself, or a link's resolved target;
    /// or why it is refused.
    pub read_from: Result<PathBuf, String>,
}

impl Listed {
    /// The file to read, or the error a refused entry is listed with.
    pub fn source(&self) -> Result<&Path, FileError> {
        self.read_from.as_deref().map_err(|reason| FileError {
            path: self.path.clone(),
            problems: vec![Problem::new(0, 0, reason)],
        })
    }
}

/// The provider files of `paths`, sorted by path: every provider file of
/// each directory (links checked as above), and each file named directly
/// (read as given: whoever names it chose it).
pub fn list(paths: &[PathBuf]) -> Result<Vec<Listed>, FileError> {
    let fail = |path: &Path, message: String| FileError {
        path: path.to_path_buf(),
        problems: vec![Problem::new(0, 0, message)],
    };
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let root = path
                .canonicalize()
                .map_err(|e| fail(path, format!("cannot read directory: {e}")))?;
            let entries = std::fs::read_dir(path)
                .map_err(|e| fail(path, format!("cannot read directory: {e}")))?;
            for entry in entries.filter_map(Result::ok) {
                let entry = entry.path();
                if is_provider_file(&entry)
                    && let Some(listed) = check_entry(&root, entry)
                {
                    files.push(listed);
                }
            }
        } else if path.exists() {
            files.push(Listed {
                path: path.clone(),
                read_from: Ok(path.clone()),
            });
        } else {
            return Err(fail(path, "no such file or directory".into()));
        }
    }
    files.sort();
    files.dedup_by(|a, b| a.path == b.path);
    Ok(files)
}

/// A directory entry as listed: a regular file is read; a link is read
/// through its resolved target when that is a file inside `root`, and
/// refused otherwise; anything else (a directory) is not a provider file.
fn check_entry(root: &Path, path: PathBuf) -> Option<Listed> {
    let meta = std::fs::symlink_metadata(&path).ok()?;
    if !meta.file_type().is_symlink() {
        return meta.is_file().then(|| Listed {
            read_from: Ok(path.clone()),
            path,
        });
    }
    let read_from = match path.canonicalize() {
        Err(_) => Err("is a symbolic link to nothing: its target does not exist".to_string()),
        Ok(target) if !target.starts_with(root) => Err(
            "is a symbolic link to a file outside the providers directory, so it is not read: \
             links are followed only to files inside the directory (such as a Kubernetes \
             ConfigMap volume's `..data/`)"
                .to_string(),
        ),
        Ok(target) if target.is_file() => Ok(target),
        Ok(_) => return None,
    };
    Some(Listed { path, read_from })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_visible_yaml_files_are_provider_files() {
        assert!(is_provider_file(Path::new("d/a.yaml")));
        assert!(is_provider_file(Path::new("d/a.yml")));
        assert!(!is_provider_file(Path::new("d/.a.yaml.swp")));
        assert!(!is_provider_file(Path::new("d/.#a.yaml")));
        assert!(!is_provider_file(Path::new("d/a.yaml~")));
        assert!(!is_provider_file(Path::new("d/notes.txt")));
    }

    #[test]
    fn links_are_followed_only_inside_the_directory() {
        use std::os::unix::fs::symlink;
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "root:x\n").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("plain.yaml"), "x").unwrap();
        std::fs::create_dir(d.join("..2026_12_01_00_00_00.1")).unwrap();
        std::fs::write(d.join("..2026_12_01_00_00_00.1/cm.yaml"), "x").unwrap();
        symlink("..2026_12_01_00_00_00.1", d.join("..data")).unwrap();
        symlink("..data/cm.yaml", d.join("cm.yaml")).unwrap();
        symlink(outside.path().join("secret"), d.join("leak.yaml")).unwrap();
        symlink("../../../../../../../../etc/hostname", d.join("up.yaml")).unwrap();
        symlink("gone.yaml", d.join("dangling.yaml")).unwrap();
        std::fs::create_dir(d.join("sub.yaml")).unwrap();
        let listed = list(&[d.to_path_buf()]).unwrap();
        let names: Vec<(String, bool)> = listed
            .iter()
            .map(|l| {
                let name = l.path.file_name().unwrap().to_string_lossy().into_owned();
                (name, l.read_from.is_ok())
            })
            .collect();
        assert_eq!(
            names,
            [
                ("cm.yaml".to_string(), true),
                ("dangling.yaml".to_string(), false),
                ("leak.yaml".to_string(), false),
                ("plain.yaml".to_string(), true),
                ("up.yaml".to_string(), false),
            ]
        );
        let cm = &listed[0];
        assert!(
            cm.read_from
                .as_ref()
                .unwrap()
                .ends_with("..2026_12_01_00_00_00.1/cm.yaml")
        );
        assert!(
            listed[2]
                .source()
                .unwrap_err()
                .to_string()
                .contains("outside the providers directory")
        );
    }
}
