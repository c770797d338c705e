//! `roster`: the command line. A shim over the library: parse, configure logging, run.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use roster_core::{Principal, Scope, TokenInput};
use roster_server::{Config, LogFormat, transfer};
use secrecy::ExposeSecret as _;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracing_subscriber::EnvFilter;

/// Roster, a self-hosted user directory.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Configuration file (optional; `ROSTER_*` variables and flags override it).
    #[arg(long, global = true, env = "ROSTER_CONFIG", default_value = "roster.toml")]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP APIs (SQLite in --data-dir unless ROSTER_DATABASE_URL names PostgreSQL).
    Serve {
        /// Address to listen on [default: 127.0.0.1:8080].
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Directory of the embedded database [default: ./roster-data].
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Apply no migrations (a separate `roster migrate` step does): refuse to start unless
        /// the schema is current.
        #[arg(long)]
        no_migrate: bool,
    },
    /// Import or export users.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
        /// Directory of the embedded database [default: ./roster-data].
        #[arg(long, global = true)]
        data_dir: Option<PathBuf>,
        /// The tenant, by name.
        #[arg(long, global = true, default_value = "default")]
        tenant: String,
    },
    /// Issue API tokens, for automation (the secret goes to standard output).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
        /// Directory of the embedded database [default: ./roster-data].
        #[arg(long, global = true)]
        data_dir: Option<PathBuf>,
        /// The tenant, by name.
        #[arg(long, global = true, default_value = "default")]
        tenant: String,
    },
    /// Apply pending database migrations and exit.
    Migrate {
        /// Directory of the embedded database [default: ./roster-data].
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Create users from NDJSON (native create documents) or CSV (dotted field names as header).
    Import {
        file: PathBuf,
        /// Default: by the file's extension (`.csv`, else NDJSON).
        #[arg(long, value_enum)]
        format: Option<transfer::Format>,
        /// Validate every row, write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Update users matched by username or external id instead of skipping them.
        #[arg(long)]
        upsert: bool,
    },
    /// Write users as NDJSON to standard output (or --output).
    Export {
        /// A SCIM filter over the native attribute names.
        #[arg(long)]
        filter: Option<String>,
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Issue a token and print its secret, once.
    Create {
        /// What the token is for.
        #[arg(long)]
        name: String,
        /// Comma-separated: users:read, users:write, directory:admin, tenant:admin.
        #[arg(long, value_delimiter = ',', required = true, value_parser = parse_scope)]
        scopes: Vec<Scope>,
        /// When the token stops working (RFC 3339); never, when absent.
        #[arg(long, value_parser = parse_time)]
        expires_at: Option<OffsetDateTime>,
    },
}

fn parse_scope(s: &str) -> Result<Scope, String> {
    Scope::parse(s).ok_or_else(|| {
        let names: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
        format!("one of {}", names.join(", "))
    })
}

fn parse_time(s: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(s, &Rfc3339).map_err(|e| format!("an RFC 3339 time: {e}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut config = Config::load(&cli.config).context("read configuration")?;
    init_tracing(&config);
    match cli.command {
        Command::Serve { listen, data_dir, no_migrate } => {
            config.listen = listen.unwrap_or(config.listen);
            config.data_dir = data_dir.unwrap_or(config.data_dir);
            config.migrate &= !no_migrate;
            let server = roster_server::build(&config).await?;
            tracing::info!(address = %server.local_addr(), "listening on http://{}", server.local_addr());
            server.run_until_stopped(roster_server::shutdown_signal()).await?;
            tracing::info!("stopped");
        }
        Command::Users { command, data_dir, tenant } => {
            config.data_dir = data_dir.unwrap_or(config.data_dir);
            let directory = roster_server::open(&config).await?;
            let principal =
                Principal::system(&directory.tenant(&tenant).await.context("find the tenant")?);
            match command {
                UsersCommand::Import { file, format, dry_run, upsert } => {
                    let options = transfer::ImportOptions { format, dry_run, upsert };
                    let s = transfer::import(&directory, &principal, &file, &options).await?;
                    let verb = if dry_run { "valid" } else { "created" };
                    eprintln!(
                        "{} {verb}, {} updated, {} already there, {} invalid",
                        s.created, s.updated, s.existing, s.invalid
                    );
                    if s.invalid > 0 {
                        std::process::exit(2);
                    }
                }
                UsersCommand::Export { filter, output } => {
                    let count = match output {
                        Some(path) => {
                            let file = std::fs::File::create(&path)
                                .with_context(|| format!("create {}", path.display()))?;
                            let mut out = std::io::BufWriter::new(file);
                            transfer::export(&directory, &principal, filter.as_deref(), &mut out)
                                .await?
                        }
                        None => {
                            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                            transfer::export(&directory, &principal, filter.as_deref(), &mut out)
                                .await?
                        }
                    };
                    tracing::debug!(count, "export done");
                }
            }
        }
        Command::Token {
            command: TokenCommand::Create { name, scopes, expires_at },
            data_dir,
            tenant,
        } => {
            config.data_dir = data_dir.unwrap_or(config.data_dir);
            let directory = roster_server::open(&config).await?;
            let principal =
                Principal::system(&directory.tenant(&tenant).await.context("find the tenant")?);
            let input =
                TokenInput { name, scopes, expires_at, application_id: None, public_key: None };
            let (token, secret) = directory.create_token(&principal, input).await?;
            eprintln!("token {} issued; its secret follows, shown this once", token.id);
            println!("{}", secret.expose_secret());
        }
        Command::Migrate { data_dir } => {
            config.data_dir = data_dir.unwrap_or(config.data_dir);
            roster_server::migrate(&config).await?;
            tracing::info!("migrations applied");
        }
    }
    Ok(())
}

fn init_tracing(config: &Config) {
    let filter = EnvFilter::try_new(&config.log).unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only on a terminal: a log file or a collector gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
