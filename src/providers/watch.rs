//! Hot reload: the providers directory is watched (debounced, so an
//! editor's write-then-rename or a tool writing many files at once is one
//! reload), and SIGHUP forces a reload. A reload reads every file again;
//! what did not change keeps its definition, a file that became invalid
//! keeps its last good one (its error logged and listed in
//! `/api/providers`), and a new invalid file never joins.

use std::sync::Arc;
use std::time::Duration;

use notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, new_debouncer};
use tokio::sync::mpsc;

use super::ProviderRegistry;
use crate::bus::{Bus, StartFrom};
use crate::shutdown::Shutdown;

/// Quiet time after a change before the reload: long enough to see an
/// editor's or a tool's burst of writes as one, short enough that a change
/// serves within a second.
const DEBOUNCE: Duration = Duration::from_millis(150);

/// Starts watching the registry's directory now, and returns the task that
/// reloads on changes and on SIGHUP until shutdown. `groups`: the bus on
/// which this process serves airlines, so consumer groups of added airlines
/// exist before any search can target them.
pub fn start(
    registry: Arc<ProviderRegistry>,
    groups: Option<Bus>,
    shutdown: Shutdown,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let dir = registry.dir().to_path_buf();
    let debouncer = new_debouncer(
        DEBOUNCE,
        None,
        move |result: DebounceEventResult| match result {
            Ok(events) => {
                if events.iter().any(|e| is_change(&e.event.kind)) {
                    let _ = tx.send(());
                }
            }
            Err(errors) => {
                for e in errors {
                    tracing::warn!(error = %e, "watching the providers directory");
                }
            }
        },
    );
    // Kept alive for as long as this task runs.
    let _debouncer = match debouncer {
        Ok(mut d) => match d.watch(&dir, RecursiveMode::NonRecursive) {
            Ok(()) => Some(d),
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot watch the providers directory; reload with SIGHUP");
                None
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "no file watcher; reload with SIGHUP");
            None
        }
    };
    let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "SIGHUP cannot be handled");
            None
        }
    };
    async move {
        let _debouncer = _debouncer;
        // Whatever changed between the first load and the watch starting.
        reload(&registry, groups.as_ref()).await;
        watch_loop(&registry, groups.as_ref(), &mut rx, &mut hangup, &shutdown).await;
    }
}

/// Whether an event can mean a file's content or presence changed. Linux
/// also reports every open and read of a watched file (inotify `IN_OPEN`),
/// and a reload opens every file: reacting to those made an idle server
/// reload its own reads, several times a second, for ever.
fn is_change(kind: &notify::EventKind) -> bool {
    use notify::EventKind;
    use notify::event::{AccessKind, AccessMode};
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

async fn watch_loop(
    registry: &ProviderRegistry,
    groups: Option<&Bus>,
    rx: &mut mpsc::UnboundedReceiver<()>,
    hangup: &mut Option<tokio::signal::unix::Signal>,
    shutdown: &Shutdown,
) {
    loop {
        let hup = async {
            match hangup {
                Some(s) => s.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            event = rx.recv() => if event.is_none() { return },
            _ = hup => tracing::info!("SIGHUP: reloading every provider file"),
            _ = shutdown.wait() => return,
        }
        while rx.try_recv().is_ok() {}
        reload(registry, groups).await;
    }
}

/// Reads the providers directory again and puts the result in force.
pub async fn reload(registry: &ProviderRegistry, groups: Option<&Bus>) {
    metrics::counter!(crate::metrics::PROVIDER_SCANS).increment(1);
    let (catalog, summary) = match registry.rescan() {
        Ok(found) => found,
        Err(e) => {
            tracing::error!("provider files not reloaded:\n{e}");
            return;
        }
    };
    for path in &summary.rejected {
        let Some(file) = catalog.files.iter().find(|f| &f.path == path) else {
            continue;
        };
        let Some(error) = &file.error else { continue };
        if file.serving_previous {
            tracing::error!(
                "provider file rejected; its last good version keeps serving:\n{error}"
            );
        } else {
            tracing::error!("provider file rejected:\n{error}");
        }
    }
    if summary.is_empty() {
        return;
    }
    if let Some(bus) = groups {
        let partitions = bus.partitions().clone();
        for id in summary.added.iter().chain(&summary.changed) {
            if !catalog.providers.get(id).is_some_and(|d| d.enabled) {
                continue;
            }
            for stream in partitions.all_requested() {
                if let Err(e) = bus.ensure_group(stream, id, StartFrom::Latest).await {
                    tracing::warn!(provider = %id, error = %e, "consumer group not created; its consumer will retry");
                }
            }
        }
    }
    registry.install(catalog, &summary);
    tracing::info!(
        added = ?summary.added,
        changed = ?summary.changed,
        removed = ?summary.removed,
        rejected = summary.rejected.len(),
        "provider files reloaded"
    );
}

#[cfg(test)]
mod tests {
    use notify::EventKind;
    use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RemoveKind, RenameMode};

    #[test]
    fn opening_or_reading_a_file_is_not_a_change() {
        assert!(!super::is_change(&EventKind::Access(AccessKind::Open(
            AccessMode::Any
        ))));
        assert!(!super::is_change(&EventKind::Access(AccessKind::Read)));
        assert!(!super::is_change(&EventKind::Access(AccessKind::Close(
            AccessMode::Read
        ))));
        for kind in [
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
            EventKind::Create(CreateKind::File),
            EventKind::Modify(ModifyKind::Any),
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)),
            EventKind::Remove(RemoveKind::File),
        ] {
            assert!(super::is_change(&kind), "{kind:?}");
        }
    }
}
