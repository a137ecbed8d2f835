//! The `airstream` binary: parses arguments and hands over to the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use airstream::config::{ConfigError, LogFormat, Role, Settings};
use airstream::providers::load::Catalog;
use airstream::shutdown::Shutdown;
use airstream::startup::Application;
use airstream_loadtest::LoadtestArgs;

// Searches allocate many small strings; mimalloc serves them markedly faster
// than the system allocator under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Declarative flight search: airlines from YAML files, results live over SSE.
#[derive(Debug, Parser)]
#[command(name = "airstream", version, about)]
struct Cli {
    /// Settings file (default: ./airstream.toml when present, or $AIRSTREAM_CONFIG).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API and the provider runtime (the default).
    Serve {
        /// What this process runs; overrides the `role` setting. `api` and
        /// `providers` work together through Redis.
        #[arg(long, value_enum)]
        role: Option<Role>,
    },
    /// Check provider files or directories; exits non-zero on any problem.
    Validate {
        /// Files or directories (default: the providers directory from settings).
        paths: Vec<PathBuf>,
        /// Do not require the variables of `env:` to be set (for a CI job
        /// without the secrets); every other check still runs.
        #[arg(long)]
        no_environment: bool,
    },
    /// Drive a running server with searches and report throughput and latency.
    Loadtest(Box<LoadtestArgs>),
    /// Print the settings in force (defaults, file, environment) as JSON;
    /// fails naming any unknown or invalid setting.
    Settings,
    /// API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Make a new key: prints the key (to give to the client, once) and the
    /// lines to add to the keys file (its id and the SHA-256 of the key).
    New {
        /// The key's id: lower-case letters, digits and dashes, such as
        /// `travel-site`. It shows in logs; the key never does.
        name: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let server = server_settings(&cli);
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(Ok(Settings {
        worker_threads: Some(threads),
        ..
    })) = &server
    {
        runtime.worker_threads(*threads);
    }
    let result = runtime
        .enable_all()
        .on_thread_park(collect_freed_memory)
        .build()
        .context("cannot start the async runtime")
        .and_then(|rt| rt.block_on(run(cli, server)));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("airstream: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A server's settings (`serve`, the default command), read once, before
/// its runtime starts, since they size it; `None` for other commands.
/// Settings that do not load are reported by the server, inside the
/// runtime.
fn server_settings(cli: &Cli) -> Option<Result<Settings, ConfigError>> {
    matches!(cli.command, None | Some(Command::Serve { .. }))
        .then(|| Settings::load(cli.config.as_deref()))
}

async fn run(cli: Cli, server: Option<Result<Settings, ConfigError>>) -> anyhow::Result<ExitCode> {
    match cli.command.unwrap_or(Command::Serve { role: None }) {
        Command::Serve { role } => {
            let mut settings = server.expect("main reads a server's settings")?;
            if let Some(role) = role {
                settings.role = role;
                settings.validate()?;
            }
            init_logging(&settings);
            no_transparent_huge_pages();
            purge_freed_memory_when_idle();
            let shutdown = Shutdown::new();
            shutdown.trigger_on_signals();
            let app = Application::build(settings, shutdown).await?;
            app.run_until_stopped().await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate {
            paths,
            no_environment,
        } => {
            if no_environment {
                airstream::providers::upstream::spec::lint_without_environment();
            }
            let paths = if paths.is_empty() {
                vec![Settings::load(cli.config.as_deref())?.providers_dir]
            } else {
                paths
            };
            validate(&paths)
        }
        Command::Keys(KeysCommand::New { name }) => {
            if !airstream::access::valid_id(&name) {
                anyhow::bail!(
                    "`{}` is not a key id: use 1 to 64 lower-case letters, digits and dashes",
                    airstream::text::excerpt(&name)
                );
            }
            let (key, lines) = airstream::access::new_key(&name);
            // The key on stderr, the file's lines on stdout: `airstream keys
            // new NAME >> keys.toml` shows the key and files only its hash.
            eprintln!(
                "The key for `{name}` (give it to the client; it is not shown again):\n{key}"
            );
            print_out(&lines);
            Ok(ExitCode::SUCCESS)
        }
        Command::Settings => {
            let settings = Settings::load(cli.config.as_deref())?;
            print_out(&format!("{}\n", serde_json::to_string_pretty(&settings)?));
            Ok(ExitCode::SUCCESS)
        }
        Command::Loadtest(args) => {
            let report = airstream_loadtest::run(&args).await?;
            if args.json {
                print_out(&format!("{}\n", serde_json::to_string_pretty(&report)?));
            } else {
                print_out(&format!("{report}\n"));
            }
            Ok(if report.errors == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

/// Prints every problem as `path:line:column: reason` and a summary line.
fn validate(paths: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let catalog = match Catalog::load(paths) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    use std::fmt::Write as _;
    let mut bad = 0;
    let mut out = String::new();
    for file in &catalog.files {
        match &file.error {
            Some(e) => {
                bad += 1;
                let _ = writeln!(out, "{e}");
            }
            None => {
                let _ = writeln!(out, "{}: ok ({})", file.path.display(), file.id);
            }
        }
    }
    let _ = writeln!(
        out,
        "{} file(s) checked, {} valid, {} with problems",
        catalog.files.len(),
        catalog.files.len() - bad,
        bad
    );
    print_out(&out);
    Ok(if bad == 0 && !catalog.files.is_empty() {
        ExitCode::SUCCESS
    } else {
        if catalog.files.is_empty() {
            eprintln!("no provider files (*.yaml, *.yml) found");
        }
        ExitCode::FAILURE
    })
}

/// Turns transparent huge pages off for this process. With them, the
/// kernel's background collapsing turned the heap pages that survive a
/// flood into whole 2 MiB pages, and an idle server's resident memory grew
/// by tens of MiB after a flood; off, the idle figure is also about 8 MiB
/// lower. mimalloc is built not to ask for them (its `no_thp` feature);
/// this covers systems where THP is `always`.
fn no_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and changes only a
    // flag of this process.
    if unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) } != 0 {
        tracing::warn!(
            error = %std::io::Error::last_os_error(),
            "cannot turn transparent huge pages off; memory may grow while idle"
        );
    }
}

/// mimalloc hands freed memory back to the system only when some thread
/// calls into it, and an idle server's threads sleep: after a flood its
/// resident memory stayed at the peak. A thread of our own asks it every
/// few seconds to return what has been free for its purge delay. Beside
/// [`collect_freed_memory`], which gives a worker's freed blocks back to the
/// allocator when it parks: pages freed then are returned to the system
/// only once their purge delay has passed, by which time that worker may
/// sleep for good; this thread is the one that comes back for them.
fn purge_freed_memory_when_idle() {
    let spawned = std::thread::Builder::new()
        .name("allocator-purge".into())
        .spawn(|| {
            loop {
                std::thread::sleep(std::time::Duration::from_secs(2));
                // SAFETY: mi_collect only walks the allocator's own state.
                unsafe { libmimalloc_sys::mi_collect(false) };
            }
        });
    if let Err(e) = spawned {
        eprintln!("airstream: freed memory will not be purged while idle: {e}");
    }
}

/// Hands the memory this thread freed back to the allocator's shared pool,
/// at most once a second per thread. mimalloc collects only the calling
/// thread's own heap, and a worker that goes idle after a flood never
/// allocates again to trigger it; called when a worker parks, it costs
/// nothing while there is work.
fn collect_freed_memory() {
    use std::cell::Cell;
    use std::time::{Duration, Instant};
    thread_local! {
        static LAST: Cell<Option<Instant>> = const { Cell::new(None) };
    }
    let now = Instant::now();
    LAST.with(|last| {
        if last
            .get()
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            return;
        }
        last.set(Some(now));
        // SAFETY: mi_collect only walks the calling thread's allocator state.
        unsafe { libmimalloc_sys::mi_collect(false) };
    });
}

/// Writes to standard output. A reader that went away (`airstream
/// validate | head -1`) ends the output quietly; `println!` would panic.
fn print_out(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("airstream: cannot write the output: {e}");
    }
}

fn init_logging(settings: &Settings) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.log.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    match settings.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
