//! `roster`: the command line. A shim over the library: parse, configure logging, run.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use roster_server::{Config, LogFormat};
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
    },
    /// Apply pending database migrations and exit.
    Migrate {
        /// Directory of the embedded database [default: ./roster-data].
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut config = Config::load(&cli.config).context("read configuration")?;
    init_tracing(&config);
    match cli.command {
        Command::Serve { listen, data_dir } => {
            config.listen = listen.unwrap_or(config.listen);
            config.data_dir = data_dir.unwrap_or(config.data_dir);
            let server = roster_server::build(&config).await?;
            tracing::info!(address = %server.local_addr(), "listening on http://{}", server.local_addr());
            server.run_until_stopped(roster_server::shutdown_signal()).await?;
            tracing::info!("stopped");
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
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
