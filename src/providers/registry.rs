//! The provider registry: the catalog in force, replaced whole on reload,
//! and the live counters of each airline.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use super::airlines::Airlines;
use super::load::Catalog;
use super::problems::FileError;
use super::provider::ProviderDef;
use super::stats::ProviderStats;

/// The loaded provider files, shared by the API (which airlines exist) and
/// the runtime (what each airline does), with live counters per airline.
#[derive(Debug)]
pub struct ProviderRegistry {
    dir: PathBuf,
    /// The catalog in force, and the airlines searches may target from it,
    /// made once when it is installed rather than on every search.
    catalog: RwLock<(Arc<Catalog>, Arc<Airlines>)>,
    stats: RwLock<HashMap<String, Arc<ProviderStats>>>,
    /// Bumped each time a new catalog is installed.
    version: tokio::sync::watch::Sender<u64>,
}

/// What one reload changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ReloadSummary {
    /// Providers that appeared.
    pub added: Vec<String>,
    /// Providers whose definition changed.
    pub changed: Vec<String>,
    /// Providers that are gone.
    pub removed: Vec<String>,
    /// Files rejected by this reload (with their last good definition
    /// serving, when they had one).
    pub rejected: Vec<PathBuf>,
    /// Files rejected before that are good again.
    pub recovered: Vec<PathBuf>,
}

impl ReloadSummary {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self == &ReloadSummary::default()
    }
}

impl ProviderRegistry {
    /// A registry with no provider files, for an api process on Redis
    /// without a providers directory (its airlines come from the providers
    /// processes).
    pub fn empty(dir: PathBuf) -> Self {
        Self::with_catalog(dir, Catalog::default())
    }

    fn with_catalog(dir: PathBuf, catalog: Catalog) -> Self {
        Self {
            dir,
            catalog: RwLock::new(in_force(catalog)),
            stats: RwLock::new(HashMap::new()),
            version: tokio::sync::watch::Sender::new(0),
        }
    }

    /// Loads every provider file in `dir`, logging each rejected file.
    pub fn load(dir: PathBuf) -> Result<Self, FileError> {
        // Both series exist from the start, so a dashboard shows zeros.
        for result in ["ok", "error"] {
            metrics::counter!(crate::metrics::PROVIDER_RELOADS, "result" => result).increment(0);
        }
        metrics::counter!(crate::metrics::PROVIDER_SCANS).increment(1);
        let catalog = Catalog::load(std::slice::from_ref(&dir))?;
        for error in catalog.errors() {
            tracing::error!("provider file rejected:\n{error}");
        }
        tracing::info!(
            dir = %dir.display(),
            loaded = catalog.providers.len(),
            rejected = catalog.errors().count(),
            "provider files loaded"
        );
        Ok(Self::with_catalog(dir, catalog))
    }

    /// Reads the directory again: a new catalog (not yet in force) and
    /// what it changes. Files that did not change keep their definitions;
    /// a file that became invalid keeps its last good one.
    pub fn rescan(&self) -> Result<(Catalog, ReloadSummary), FileError> {
        let old = self.catalog();
        let new = Catalog::reload(std::slice::from_ref(&self.dir), Some(&old))?;
        let mut summary = ReloadSummary::default();
        for (id, def) in &new.providers {
            match old.providers.get(id) {
                None => summary.added.push(id.clone()),
                Some(before) if !Arc::ptr_eq(before, def) => summary.changed.push(id.clone()),
                Some(_) => {}
            }
        }
        summary.removed = old
            .providers
            .keys()
            .filter(|id| !new.providers.contains_key(*id))
            .cloned()
            .collect();
        for file in &new.files {
            let was = old.files.iter().find(|f| f.path == file.path);
            match (&file.error, was) {
                (Some(error), was) if was.is_none_or(|w| w.error.as_ref() != Some(error)) => {
                    summary.rejected.push(file.path.clone())
                }
                (None, Some(w)) if w.error.is_some() => summary.recovered.push(file.path.clone()),
                _ => {}
            }
        }
        Ok((new, summary))
    }

    /// Puts a catalog in force and wakes whoever follows changes.
    pub fn install(&self, catalog: Catalog, summary: &ReloadSummary) {
        let loaded = (summary.added.len() + summary.changed.len() + summary.recovered.len()) as u64;
        metrics::counter!(crate::metrics::PROVIDER_RELOADS, "result" => "ok").increment(loaded);
        metrics::counter!(crate::metrics::PROVIDER_RELOADS, "result" => "error")
            .increment(summary.rejected.len() as u64);
        *self.catalog.write().expect("registry lock") = in_force(catalog);
        self.version.send_modify(|v| *v += 1);
    }

    /// Changes whenever a new catalog is installed.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// The directory the files come from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The current catalog.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.read().expect("registry lock").0.clone()
    }

    /// The airlines of the current catalog.
    pub fn airlines(&self) -> Arc<Airlines> {
        self.catalog.read().expect("registry lock").1.clone()
    }

    /// One provider's definition.
    pub fn get(&self, id: &str) -> Option<Arc<ProviderDef>> {
        self.catalog().providers.get(id).cloned()
    }

    /// The counters of one provider, created on first use.
    pub fn stats(&self, id: &str) -> Arc<ProviderStats> {
        if let Some(s) = self.stats.read().expect("stats lock").get(id) {
            return s.clone();
        }
        self.stats
            .write()
            .expect("stats lock")
            .entry(id.to_string())
            .or_insert_with(|| Arc::new(ProviderStats::new(id)))
            .clone()
    }
}

/// A catalog as it is put in force, with its airlines.
fn in_force(catalog: Catalog) -> (Arc<Catalog>, Arc<Airlines>) {
    let airlines = Arc::new(Airlines::from_catalog(&catalog));
    (Arc::new(catalog), airlines)
}
