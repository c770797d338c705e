//! A `roster serve` process and the client side of the tests.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Method, RequestBuilder, StatusCode};
use roster_testkit::TestDb;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

/// The bootstrap admin token every node of a test database is started with.
pub(crate) const TOKEN: &str = "rst_process_test_0123456789abcdef0123456789abcdef";

/// How long a process may take to start or to stop before the test gives up on it.
const PATIENCE: Duration = Duration::from_secs(60);

/// A `roster` command over `db`.
pub(crate) fn command(db: &TestDb, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_roster"));
    cmd.args(args);
    configure(&mut cmd, &db.data_dir(), db.postgres_url());
    cmd
}

/// Configures `cmd` from the environment only: this data directory or PostgreSQL URL, the test
/// token, cheap password hashing.
pub(crate) fn configure(cmd: &mut Command, data_dir: &Path, database_url: Option<String>) {
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("ROSTER_CONFIG", "/dev/null")
        .env("ROSTER_DATA_DIR", data_dir)
        .env("ROSTER_BOOTSTRAP_TOKEN", TOKEN)
        .env("ROSTER_ARGON2__MEMORY_KIB", "1024")
        .env("ROSTER_ARGON2__ITERATIONS", "1")
        .env("ROSTER_DATABASE_MAX_CONNECTIONS", "8")
        .env("ROSTER_LOG", "info,sqlx=warn")
        .kill_on_drop(true);
    if let Some(url) = database_url {
        cmd.env("ROSTER_DATABASE_URL", url);
    }
}

/// A running `roster serve`.
pub(crate) struct Node {
    child: tokio::sync::Mutex<Child>,
    pid: u32,
    pub(crate) base: String,
    log: Arc<Mutex<String>>,
    pub(crate) http: reqwest::Client,
}

impl Node {
    pub(crate) async fn start(db: &TestDb) -> Node {
        Node::start_with(db, &[]).await
    }

    /// Starts a node with more `ROSTER_*` settings and waits until it listens.
    pub(crate) async fn start_with(db: &TestDb, env: &[(&str, &str)]) -> Node {
        let mut cmd = command(db, &["serve"]);
        cmd.env("ROSTER_LISTEN", "127.0.0.1:0").envs(env.iter().copied());
        Node::spawn(cmd).await.unwrap_or_else(|log| panic!("roster did not start:\n{log}"))
    }

    /// Spawns `cmd` and waits for its "listening on" line; `Err` holds what it logged when it
    /// exits before.
    pub(crate) async fn spawn(mut cmd: Command) -> Result<Node, String> {
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn roster");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = oneshot::channel();
        let sink = log.clone();
        tokio::spawn(async move {
            let mut tx = Some(tx);
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(address) = line.split("listening on http://").nth(1)
                    && let Some(tx) = tx.take()
                {
                    let address = address.split_whitespace().next().unwrap_or_default();
                    let _ = tx.send(address.to_owned());
                }
                if let Ok(mut log) = sink.lock() {
                    log.push_str(&line);
                    log.push('\n');
                }
            }
        });
        let logged = || log.lock().map(|l| l.clone()).unwrap_or_default();
        match tokio::time::timeout(PATIENCE, rx).await {
            Ok(Ok(address)) => Ok(Node {
                pid: child.id().expect("running"),
                child: tokio::sync::Mutex::new(child),
                base: format!("http://{address}"),
                log,
                http: reqwest::Client::builder()
                    .timeout(Duration::from_secs(30))
                    .build()
                    .expect("client"),
            }),
            // The process ended without listening; give its log a moment to be read whole.
            Ok(Err(_)) => {
                let _ = tokio::time::timeout(PATIENCE, child.wait()).await;
                // The reader has seen the end of the pipe; let it store the last lines.
                tokio::task::yield_now().await;
                Err(logged())
            }
            Err(_) => Err(format!("no listening line within {PATIENCE:?}:\n{}", logged())),
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    pub(crate) fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    pub(crate) fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.request_as(TOKEN, method, path)
    }

    /// A request to this node with another token (another tenant's, the system token).
    pub(crate) fn request_as(&self, token: &str, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base)).bearer_auth(token)
    }

    /// `GET path` answered 200, as JSON.
    pub(crate) async fn get_json(&self, path: &str) -> Value {
        let response = self.request(Method::GET, path).send().await.expect("send");
        let status = response.status();
        let body = response.text().await.expect("body");
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        serde_json::from_str(&body).expect("JSON")
    }

    /// SIGKILL, and reap the process.
    pub(crate) async fn kill(&self) {
        let mut child = self.child.lock().await;
        child.start_kill().expect("kill");
        child.wait().await.expect("reap");
    }

    /// SIGTERM: the start of a graceful stop.
    pub(crate) fn terminate(&self) {
        let pid = self.pid.to_string();
        let status = std::process::Command::new("kill").args(["-TERM", &pid]).status();
        assert!(status.is_ok_and(|s| s.success()), "kill -TERM {pid}");
    }

    /// Waits for the process to end.
    pub(crate) async fn exited(&self, within: Duration) -> ExitStatus {
        let mut child = self.child.lock().await;
        match tokio::time::timeout(within, child.wait()).await {
            Ok(status) => status.expect("wait"),
            Err(_) => panic!("roster did not exit within {within:?}; its log:\n{}", self.log()),
        }
    }
}

/// Every event of the tenant, oldest first.
pub(crate) async fn events(node: &Node, token: &str) -> Vec<Value> {
    let mut events = Vec::new();
    let mut after = 0;
    loop {
        let path = format!("/v1/events?after={after}&limit=1000");
        let response = node.request_as(token, Method::GET, &path).send().await.expect("send");
        assert_eq!(response.status(), StatusCode::OK);
        let page: Value = response.json().await.expect("JSON");
        let data = page["data"].as_array().expect("data").clone();
        if data.is_empty() {
            return events;
        }
        after = page["meta"]["next_after"].as_i64().expect("next_after");
        events.extend(data);
    }
}

/// Every user whose username starts with `prefix`, by username (each must appear once).
pub(crate) async fn users_by_name(
    node: &Node,
    token: &str,
    prefix: &str,
) -> BTreeMap<String, Value> {
    let mut users = BTreeMap::new();
    let filter = format!("username sw \"{prefix}\"");
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![("filter", filter.clone()), ("limit", "1000".to_owned())];
        if let Some(c) = &cursor {
            query.push(("cursor", c.clone()));
        }
        let response = node
            .request_as(token, Method::GET, "/v1/users")
            .query(&query)
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), StatusCode::OK);
        let page: Value = response.json().await.expect("JSON");
        for user in page["data"].as_array().expect("data") {
            let name = user["username"].as_str().expect("username").to_owned();
            assert!(users.insert(name.clone(), user.clone()).is_none(), "{name} listed twice");
        }
        match page["meta"]["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return users,
        }
    }
}

/// `PRAGMA integrity_check` of the SQLite file in `dir`.
pub(crate) async fn sqlite_integrity(dir: &Path) -> String {
    use sqlx::Connection as _;
    let url = format!("sqlite://{}", dir.join("roster.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("open the SQLite file");
    let rows: Vec<(String,)> =
        sqlx::query_as("pragma integrity_check").fetch_all(&mut conn).await.expect("check");
    rows.into_iter().map(|(r,)| r).collect::<Vec<_>>().join("; ")
}
