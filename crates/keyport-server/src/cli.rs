//! The command line: `keyport serve`, `keyport migrate`, `keyport admin ...`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use keyport_core::{Actor, Channel, DisplayName, Role};
use keyport_store::{Context, PoolOptions};

use crate::settings::{LogFormat, Overrides, Settings};
use crate::startup::{Application, open_store};

/// Keyport: the back end for the whole life of a software license.
#[derive(Debug, Parser)]
#[command(name = "keyport", version, about)]
pub struct Cli {
    /// A TOML configuration file; its keys are listed in the README ("Configuration").
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// How logs are written: text or json [env: KEYPORT_LOG_FORMAT].
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Where the data lives; shared by every command that opens the database.
#[derive(Debug, Clone, clap::Args)]
pub struct DataArgs {
    /// The data folder for the embedded SQLite file [env: KEYPORT_DATA_DIR] [default: keyport-data].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The database: postgres://... or sqlite://PATH [env: KEYPORT_DATABASE_URL] [default: the SQLite file in the data folder].
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open (and migrate) the database and serve HTTP until SIGINT or SIGTERM.
    Serve {
        /// Where the data lives.
        #[command(flatten)]
        data: DataArgs,
        /// The address to listen on [env: KEYPORT_LISTEN] [default: 127.0.0.1:8080].
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
    },
    /// Serve a sandbox for integration tests until SIGINT or SIGTERM: a temporary SQLite
    /// database seeded with a small catalog and a key for every role (printed as
    /// `KEYPORT_SANDBOX_<ROLE>_KEY=...` lines, or taken from those environment variables),
    /// mails captured, and the sandbox-only endpoints under `/sandbox/`.
    Sandbox {
        /// The address to listen on [default: 127.0.0.1:8080]; port 0 picks a free one (the
        /// `KEYPORT_SANDBOX_URL=` line names it). Only this flag sets it: a `KEYPORT_LISTEN`
        /// meant for a real server is not taken.
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
        /// The base URL clients reach the sandbox at, when not the listen address (e.g. a
        /// container's published port): written into the WSDL's address and mail links. Only
        /// this flag sets it: a `KEYPORT_PUBLIC_URL` meant for a real server is not taken.
        #[arg(long, value_name = "URL")]
        public_url: Option<String>,
        /// A fixed seed: the same ids and ticket codes on every run for the same calls
        /// [env: KEYPORT_SANDBOX_SEED].
        #[arg(long, value_name = "N")]
        seed: Option<u64>,
        /// A catalog of one's own instead of the seeded one (the format of
        /// `crates/keyport-server/sandbox/catalog.json`).
        #[arg(long, value_name = "FILE")]
        catalog: Option<PathBuf>,
    },
    /// Apply pending database migrations and exit.
    Migrate {
        /// Where the data lives.
        #[command(flatten)]
        data: DataArgs,
    },
    /// Administrative tasks.
    Admin {
        /// The task.
        #[command(subcommand)]
        task: AdminTask,
    },
}

/// Administrative tasks.
#[derive(Debug, Subcommand)]
pub enum AdminTask {
    /// Create an API key; it is printed once and only its hash is stored.
    CreateApiKey {
        /// Where the data lives.
        #[command(flatten)]
        data: DataArgs,
        /// What the key may do.
        #[arg(long, value_parser = ["admin", "support", "shop", "portal"])]
        role: String,
        /// What the key is for, e.g. "web shop".
        #[arg(long)]
        name: String,
        /// The key stops working after this many days; never when absent.
        #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=36500))]
        expires_in_days: Option<u32>,
    },
    /// List the API keys (id, role, name, state; never the keys themselves).
    ListApiKeys {
        /// Where the data lives.
        #[command(flatten)]
        data: DataArgs,
    },
    /// Revoke an API key at once.
    RevokeApiKey {
        /// Where the data lives.
        #[command(flatten)]
        data: DataArgs,
        /// The key's id, as `list-api-keys` shows it.
        #[arg(long)]
        id: uuid::Uuid,
    },
    /// Add a new current key for signing license certificates; certificates signed with
    /// older keys keep verifying (the JWKS lists every key).
    RotateSigningKey {
        /// Where the data lives.
        #[command(flatten)]
        data: DataArgs,
    },
    /// Write a consistent copy of the SQLite database while it is in use (mode 0600).
    Backup {
        /// Where the data lives.
        #[command(flatten)]
        data: DataArgs,
        /// The new backup file.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Open a backup without changing it: integrity, migrations, rows per table.
    VerifyBackup {
        /// The backup file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Replace the SQLite database of the data folder with a verified backup; refused while
    /// a `keyport serve` uses it.
    Restore {
        /// Where the data lives.
        #[command(flatten)]
        data: DataArgs,
        /// The backup file.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
    },
    /// Write every row of the database to a portable file (JSON lines, mode 0600), e.g. to
    /// move from SQLite to PostgreSQL.
    Export {
        /// Where the data lives.
        #[command(flatten)]
        data: DataArgs,
        /// The new export file.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Read an export into a new, empty database of either backend (migrated first).
    Import {
        /// Where the data goes.
        #[command(flatten)]
        data: DataArgs,
        /// The export file.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
    },
    /// Print the rows of each table that grows with use, and prune what is past its
    /// retention now (`keyport serve` does so every few minutes).
    Storage {
        /// Where the data lives.
        #[command(flatten)]
        data: DataArgs,
        /// Delete rows past their retention before counting.
        #[arg(long)]
        prune: bool,
    },
}

impl Cli {
    fn settings(&self) -> Result<Settings, String> {
        let (data, listen) = match &self.command {
            Command::Serve { data, listen } => (Some(data), *listen),
            Command::Sandbox { .. } => (None, None),
            Command::Admin { task: AdminTask::VerifyBackup { .. } } => (None, None),
            Command::Migrate { data }
            | Command::Admin {
                task:
                    AdminTask::CreateApiKey { data, .. }
                    | AdminTask::ListApiKeys { data }
                    | AdminTask::RevokeApiKey { data, .. }
                    | AdminTask::RotateSigningKey { data }
                    | AdminTask::Storage { data, .. }
                    | AdminTask::Backup { data, .. }
                    | AdminTask::Export { data, .. }
                    | AdminTask::Import { data, .. }
                    | AdminTask::Restore { data, .. },
            } => (Some(data), None),
        };
        let overrides = Overrides {
            data_dir: data.and_then(|d| d.data_dir.clone()),
            database_url: data.and_then(|d| d.database_url.clone()),
            listen,
            log_format: self.log_format,
        };
        Settings::load(self.config.as_deref(), &overrides)
    }
}

/// Runs the command line; the error is printed as one line by `main`.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = cli.settings().map_err(anyhow::Error::msg)?;
    crate::telemetry::init(settings.log_format);
    match cli.command {
        Command::Serve { .. } => {
            tracing::info!(?settings, "starting keyport");
            let app = Application::build(&settings)?;
            tracing::info!(address = %settings.listen.ip(), port = app.port(), "serving");
            app.run_until_stopped().await?;
            tracing::info!("stopped");
        }
        Command::Sandbox { listen, public_url, seed, catalog } => {
            let options = crate::sandbox::Options { listen, public_url, seed, catalog };
            crate::sandbox::serve(settings, options).await?;
        }
        Command::Migrate { .. } => {
            let settings = settings.clone();
            tokio::task::spawn_blocking(move || open_store(&settings, PoolOptions::command())).await??;
            println!("migrations applied");
        }
        Command::Admin { task: AdminTask::CreateApiKey { role, name, expires_in_days, .. } } => {
            let role = Role::parse(&role)?;
            let name = DisplayName::parse(&name)?;
            let created = tokio::task::spawn_blocking(move || {
                let store = open_store(&settings, PoolOptions::command())?;
                let ctx = Context::new(Actor::System, Channel::Cli, chrono::Utc::now());
                let expires = expires_in_days.map(|days| ctx.now + chrono::Duration::days(i64::from(days)));
                anyhow::Ok(store.create_api_key_until(&ctx, role, &name, expires)?)
            })
            .await??;
            println!("{}", created.key);
            eprintln!(
                "created {} key '{}' (id {}); store it now, it cannot be shown again",
                created.record.role.as_str(),
                created.record.name,
                created.record.id
            );
        }
        Command::Admin { task: AdminTask::RotateSigningKey { .. } } => {
            let kid = tokio::task::spawn_blocking(move || {
                let store = open_store(&settings, PoolOptions::command())?;
                let ctx = Context::new(Actor::System, Channel::Cli, chrono::Utc::now());
                anyhow::Ok(store.rotate_signing_key(&ctx)?)
            })
            .await??;
            println!("{kid}");
            eprintln!("certificates are now signed with key {kid}; older keys still verify");
        }
        Command::Admin { task: AdminTask::ListApiKeys { .. } } => {
            let keys = tokio::task::spawn_blocking(move || {
                let store = open_store(&settings, PoolOptions::command())?;
                let (mut keys, mut paging) = (Vec::new(), keyport_store::Paging::first(500));
                loop {
                    let page = store.list_api_keys(&paging)?;
                    keys.extend(page.items);
                    match page.next_cursor {
                        Some(cursor) => paging.after = Some(cursor),
                        None => break anyhow::Ok(keys),
                    }
                }
            })
            .await??;
            let now = chrono::Utc::now();
            for key in keys {
                let state = match keyport_core::ApiKeyState::at(key.revoked_at, key.expires_at, now) {
                    keyport_core::ApiKeyState::Active => match key.expires_at {
                        Some(end) => format!("active until {}", end.format("%Y-%m-%d %H:%M UTC")),
                        None => "active".to_owned(),
                    },
                    keyport_core::ApiKeyState::Expired => "expired".to_owned(),
                    keyport_core::ApiKeyState::Revoked => "revoked".to_owned(),
                };
                println!("{}  {:<8} {:<28} {}", key.id, key.role.as_str(), state, key.name);
            }
        }
        Command::Admin { task: AdminTask::RevokeApiKey { id, .. } } => {
            let revoked = tokio::task::spawn_blocking(move || {
                let store = open_store(&settings, PoolOptions::command())?;
                let ctx = Context::new(Actor::System, Channel::Cli, chrono::Utc::now());
                anyhow::Ok(store.revoke_api_key(&ctx, id)?)
            })
            .await??;
            eprintln!("revoked {} key '{}' ({})", revoked.role.as_str(), revoked.name, revoked.id);
        }
        Command::Admin { task: AdminTask::Backup { out, .. } } => {
            // A backup of a database that is not there would be a new, empty one.
            if let Some(database) = settings.database_url()?.sqlite_path()
                && !database.exists()
            {
                anyhow::bail!(
                    "there is no database at {}; name the data folder with --data-dir",
                    database.display()
                );
            }
            let store =
                tokio::task::spawn_blocking(move || open_store(&settings, PoolOptions::command())).await??;
            let target = out.clone();
            tokio::task::spawn_blocking(move || store.backup_to(&target)).await??;
            let report = tokio::task::spawn_blocking(move || keyport_store::verify_backup(&out)).await??;
            print_report(&report);
        }
        Command::Admin { task: AdminTask::Export { out, .. } } => {
            if out.exists() {
                anyhow::bail!("{} exists already; name a new file", out.display());
            }
            let store =
                tokio::task::spawn_blocking(move || open_store(&settings, PoolOptions::command())).await??;
            let rows = tokio::task::spawn_blocking(move || {
                let file = keyport_store::files::owner_only_file(&out)?;
                let mut writer = std::io::BufWriter::new(file);
                let rows = store.export(&mut writer)?;
                std::io::Write::flush(&mut writer)?;
                anyhow::Ok(rows)
            })
            .await??;
            eprintln!("exported {rows} rows");
        }
        Command::Admin { task: AdminTask::Import { from, .. } } => {
            let rows = tokio::task::spawn_blocking(move || {
                let url = settings.database_url()?;
                if url.backend() == keyport_store::Backend::Sqlite {
                    keyport_store::files::owner_only_dir(&settings.data_dir)?;
                }
                // Opened (and migrated) without a signing key of its own: the imported keys are it.
                let store = keyport_store::Store::open(&url, PoolOptions::command())?;
                let file = std::fs::File::open(&from)
                    .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", from.display()))?;
                anyhow::Ok(store.import(std::io::BufReader::new(file))?)
            })
            .await??;
            eprintln!("imported {rows} rows");
        }
        Command::Admin { task: AdminTask::VerifyBackup { file } } => {
            let report = tokio::task::spawn_blocking(move || keyport_store::verify_backup(&file)).await??;
            print_report(&report);
        }
        Command::Admin { task: AdminTask::Restore { from, .. } } => {
            let url = settings.database_url()?;
            let report = tokio::task::spawn_blocking(move || keyport_store::restore(&url, &from)).await??;
            print_report(&report);
            eprintln!("restored; start keyport serve (pending migrations run at start)");
        }
        Command::Admin { task: AdminTask::Storage { prune, .. } } => {
            let retention = settings.retention.retention(&settings.limits);
            let store =
                tokio::task::spawn_blocking(move || open_store(&settings, PoolOptions::command())).await??;
            if prune {
                crate::pruner::prune_all(&store, retention).await;
            }
            let sizes = tokio::task::spawn_blocking(move || store.table_sizes()).await??;
            for (table, rows) in sizes {
                println!("{table:<18} {rows:>12}");
            }
        }
    }
    Ok(())
}

fn print_report(report: &keyport_store::BackupReport) {
    println!("integrity          ok");
    println!("pending migrations {:>12}", report.pending_migrations);
    for (table, rows) in &report.rows {
        println!("{table:<18} {rows:>12}");
    }
}
