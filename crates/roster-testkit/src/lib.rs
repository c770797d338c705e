//! Test harness: a real Roster on 127.0.0.1:0 over a fresh database, built by the same
//! `roster_server::build` that `main` uses.
//!
//! The database is a SQLite file in a temporary directory, or, when `ROSTER_TEST_POSTGRES_URL` is
//! set, a new schema in that PostgreSQL database (dropped afterwards). The same tests run on both.
//!
//! Every app also holds a decoy tenant with one user, `decoy` (`decoy@example.org`,
//! `+4930000000`, external id `decoy-1`), so that any test that lists or looks up users checks
//! tenant isolation too.

pub mod signing;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use roster_core::{Argon2Params, Clock as _};
use roster_server::Config;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::sync::oneshot;

/// A clock that tests move: it starts at the wall clock's time and advances by one microsecond
/// on every reading (so that every change has its own instant), plus whatever a test adds.
pub struct TestClock(Mutex<OffsetDateTime>);

impl TestClock {
    fn new() -> TestClock {
        let now = roster_core::SystemClock.now();
        TestClock(Mutex::new(now))
    }

    /// Jumps forward, as if `by` had passed.
    pub fn advance(&self, by: time::Duration) {
        if let Ok(mut now) = self.0.lock() {
            *now += by;
        }
    }
}

impl roster_core::Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        match self.0.lock() {
            Ok(mut now) => {
                *now += time::Duration::microseconds(1);
                *now
            }
            Err(poisoned) => *poisoned.into_inner(),
        }
    }
}

/// Every log line of the servers tests start (one subscriber for the whole test binary, at
/// debug level, the SQL driver's statement logs included), for tests that look for what must
/// never be logged.
pub fn captured_logs() -> String {
    let logs = log_sink().lock().map(|b| b.clone()).unwrap_or_default();
    String::from_utf8_lossy(&logs).into_owned()
}

fn log_sink() -> &'static Arc<Mutex<Vec<u8>>> {
    static SINK: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    SINK.get_or_init(|| {
        let sink = Arc::new(Mutex::new(Vec::new()));
        let writer = LogWriter(sink.clone());
        let filter = tracing_subscriber::EnvFilter::new("debug,hyper=info,h2=info,reqwest=info");
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .try_init();
        sink
    })
}

#[derive(Clone)]
struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut logs) = self.0.lock() {
            logs.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The decoy tenant's user, which no request of the main tenant may ever see.
pub const DECOY_USERNAME: &str = "decoy";
pub const DECOY_EMAIL: &str = "decoy@example.org";
pub const DECOY_PHONE: &str = "+4930000000";
pub const DECOY_EXTERNAL_ID: &str = "decoy-1";

pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    pub http: reqwest::Client,
    /// An admin token of the main tenant.
    pub token: String,
    /// An admin token of the decoy tenant.
    pub decoy_token: String,
    /// The deployment's system token (scope `system`: manages tenants).
    pub system_token: String,
    /// The directory the server answers from, for tools that use it directly (imports).
    pub directory: roster_core::Directory,
    /// The server's time: tests move it forward instead of waiting.
    pub clock: Arc<TestClock>,
    /// How the server was configured (listening on port 0), for peers.
    config: Config,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    // Last: the database outlives the server that uses it.
    db: TestDb,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(|_| {}).await
    }

    /// [`spawn`](TestApp::spawn) with a configuration `adjust` changes (limits, costs).
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
        log_sink();
        let db = TestDb::new().await;
        let token = format!("rst_test_{}", uuid::Uuid::new_v4().simple());
        let system_token = format!("rst_test_{}", uuid::Uuid::new_v4().simple());
        let config = Config {
            listen: "127.0.0.1:0".parse().expect("address"),
            data_dir: db.data_dir(),
            database_url: db.postgres_url().map(SecretString::from),
            database_max_connections: 4,
            bootstrap_token: Some(SecretString::from(token.clone())),
            system_token: Some(SecretString::from(system_token.clone())),
            // Cheap hashing: tests check behaviour, not cost.
            argon2: Argon2Params { memory_kib: 1024, iterations: 1, parallelism: 1 },
            ..Config::default()
        };
        let mut config = config;
        adjust(&mut config);
        let clock = Arc::new(TestClock::new());
        let server =
            roster_server::build_with_clock(&config, clock.clone()).await.expect("start roster");
        let (_, decoy_token) =
            server.directory().create_tenant("decoy", None).await.expect("decoy tenant");
        let base = format!("http://{}", server.local_addr());
        let directory = server.directory().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(server.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        let app = TestApp {
            base,
            http: reqwest::Client::new(),
            token,
            decoy_token: decoy_token.expose_secret().to_owned(),
            system_token,
            directory,
            clock,
            config,
            stop: Some(stop),
            server: Some(server),
            db,
        };
        let decoy = app
            .request_as(&app.decoy_token, Method::POST, "/v1/users")
            .json(&json!({
                "username": DECOY_USERNAME,
                "emails": [{ "value": DECOY_EMAIL, "primary": true }],
                "phones": [{ "value": DECOY_PHONE, "primary": true }],
                "external_ids": { "external_user_id": DECOY_EXTERNAL_ID },
            }))
            .send()
            .await
            .expect("create decoy");
        assert_eq!(decoy.status(), StatusCode::CREATED, "decoy user");
        app
    }

    /// Runs `sql` on the app's database directly, as an older release or an operator would:
    /// for tests of what the store makes of data it did not write itself.
    pub async fn raw_sql(&self, sql: &str) {
        use sqlx::Connection;
        match self.db.postgres_url() {
            Some(url) => {
                let mut conn = sqlx::PgConnection::connect(&url).await.expect("connect");
                sqlx::raw_sql(sql).execute(&mut conn).await.expect("run SQL");
            }
            None => {
                let path = self.db.data_dir().join("roster.db");
                let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
                let mut conn = sqlx::SqliteConnection::connect_with(&options).await.expect("open");
                sqlx::raw_sql(sql).execute(&mut conn).await.expect("run SQL");
            }
        }
    }

    /// `postgres` or `sqlite`: which backend this run uses.
    pub fn backend() -> &'static str {
        if postgres_base_url().is_some() { "postgres" } else { "sqlite" }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request with the main tenant's admin token.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.request_as(&self.token, method, path)
    }

    pub fn request_as(&self, token: &str, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, self.url(path)).bearer_auth(token)
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.request(Method::GET, path)
    }

    pub fn post(&self, path: &str) -> RequestBuilder {
        self.request(Method::POST, path)
    }

    pub fn put(&self, path: &str) -> RequestBuilder {
        self.request(Method::PUT, path)
    }

    pub fn patch(&self, path: &str) -> RequestBuilder {
        self.request(Method::PATCH, path)
    }

    pub fn delete(&self, path: &str) -> RequestBuilder {
        self.request(Method::DELETE, path)
    }

    /// A JSON Merge Patch (RFC 7396) of `path` with the main tenant's token.
    pub fn merge_patch(&self, path: &str, patch: &Value) -> RequestBuilder {
        self.patch(path)
            .header("content-type", "application/merge-patch+json")
            .body(patch.to_string())
    }

    /// Creates a user and returns it; panics unless the answer is 201.
    pub async fn create_user(&self, body: Value) -> Value {
        let response = self.post("/v1/users").json(&body).send().await.expect("send");
        expect_status(response, StatusCode::CREATED).await
    }

    /// Every event of the main tenant, oldest first.
    pub async fn events(&self) -> Vec<Value> {
        let mut events = Vec::new();
        let mut after = 0;
        loop {
            let page = self
                .get(&format!("/v1/events?after={after}&limit=1000"))
                .send()
                .await
                .expect("send");
            let page = expect_status(page, StatusCode::OK).await;
            let data = page["data"].as_array().expect("data").clone();
            if data.is_empty() {
                return events;
            }
            after = page["meta"]["next_after"].as_i64().expect("next_after");
            events.extend(data);
        }
    }

    /// Every user of the main tenant (tombstones included with `include_deleted`).
    pub async fn all_users(&self, include_deleted: bool) -> Vec<Value> {
        let page = self
            .get(&format!("/v1/users?limit=1000&include_deleted={include_deleted}"))
            .send()
            .await
            .expect("send");
        let page = expect_status(page, StatusCode::OK).await;
        page["data"].as_array().expect("data").clone()
    }
}

/// A second Roster node on a [`TestApp`]'s database, as when several nodes share one
/// PostgreSQL (on SQLite, one file). It stops when dropped.
pub struct Peer {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    _stop: oneshot::Sender<()>,
}

impl Peer {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl TestApp {
    /// Starts another node on this app's database, with the same clock.
    pub async fn spawn_peer(&self) -> Peer {
        self.spawn_peer_with(|_| {}).await
    }

    /// [`spawn_peer`](TestApp::spawn_peer) with a configuration `adjust` changes, as when the
    /// nodes of a deployment are configured differently.
    pub async fn spawn_peer_with(&self, adjust: impl FnOnce(&mut Config)) -> Peer {
        let mut config = self.config.clone();
        adjust(&mut config);
        let server = roster_server::build_with_clock(&config, self.clock.clone())
            .await
            .expect("start a peer");
        let base = format!("http://{}", server.local_addr());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(server.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        Peer { base, _stop: stop }
    }

    /// Signals the server to shut down, as SIGTERM does: it stops accepting connections and
    /// lets in-flight requests finish.
    pub fn begin_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Waits until the server has stopped and returns how it ended.
    pub async fn stopped(&mut self) -> std::io::Result<()> {
        match self.server.take() {
            Some(server) => server.await.expect("server task"),
            None => Ok(()),
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The Python of a virtualenv under `target/<name>` holding `package` (a pinned requirement,
/// e.g. a vendor's client library), made on first use; tests that share one wait for it.
pub fn python_with(name: &str, package: &str) -> PathBuf {
    static MAKING: Mutex<()> = Mutex::new(());
    let _making = MAKING.lock().unwrap_or_else(|e| e.into_inner());
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target").join(name);
    let python = root.join("bin/python");
    let marker = root.join(package.replace(['[', ']'], "_"));
    if !marker.exists() {
        let run = |program: &std::path::Path, args: &[&str]| {
            let status = std::process::Command::new(program).args(args).status().expect("run");
            assert!(status.success(), "{} {args:?} failed", program.display());
        };
        run(std::path::Path::new("python3"), &["-m", "venv", root.to_str().expect("path")]);
        run(&python, &["-m", "pip", "install", "--quiet", package]);
        std::fs::write(&marker, b"").expect("marker");
    }
    python
}

/// Runs `scripts/<script>` with `python` and `args` beside the test's runtime threads (vendor
/// clients are synchronous); panics with its output unless it succeeds, else returns stdout.
pub async fn run_script(python: PathBuf, script: &str, args: Vec<String>) -> String {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts").join(script);
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .args(["-W", "ignore"])
            .arg(script)
            .args(args)
            .output()
            .expect("run the script")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the script failed:\n{stdout}\n{stderr}");
    stdout
}

/// Asserts the status (printing the body when it differs) and returns the JSON body
/// (`null` when empty).
pub async fn expect_status(response: Response, status: StatusCode) -> Value {
    let actual = response.status();
    let text = response.text().await.expect("body");
    assert_eq!(actual, status, "unexpected status; body: {text}");
    if text.is_empty() { Value::Null } else { serde_json::from_str(&text).expect("JSON body") }
}

/// Polls `check` until it yields a value, for at most 30 seconds, and returns it; panics naming
/// `what` otherwise. For what background workers do on their own schedule (deliveries, jobs):
/// the deadline bounds the test, the value ends it as soon as it holds.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what} did not happen within 30 s");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// The `id` of a JSON document; panics when it has none.
pub fn id(document: &Value) -> &str {
    document["id"].as_str().expect("an id")
}

/// A minimal valid create body.
pub fn user(username: &str) -> Value {
    json!({ "username": username })
}

fn postgres_base_url() -> Option<String> {
    std::env::var("ROSTER_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty())
}

/// A fresh database for one test: a temporary directory for SQLite, or a new schema in
/// `ROSTER_TEST_POSTGRES_URL`'s database (dropped with it).
pub enum TestDb {
    Sqlite { dir: tempfile::TempDir },
    Postgres { dir: tempfile::TempDir, base: String, schema: String },
}

impl TestDb {
    pub async fn new() -> TestDb {
        let dir = tempfile::tempdir().expect("temporary directory");
        let Some(base) = postgres_base_url() else { return TestDb::Sqlite { dir } };
        let schema = format!("test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&base)
            .await
            .expect("connect to PostgreSQL");
        sqlx::query(&format!("create schema {schema}"))
            .execute(&mut conn)
            .await
            .expect("create schema");
        TestDb::Postgres { dir, base, schema }
    }

    /// The SQLite data directory (for PostgreSQL, a directory for other files).
    pub fn data_dir(&self) -> PathBuf {
        match self {
            TestDb::Sqlite { dir } | TestDb::Postgres { dir, .. } => dir.path().to_owned(),
        }
    }

    /// The URL of the test's schema: every connection's search path starts there.
    pub fn postgres_url(&self) -> Option<String> {
        match self {
            TestDb::Sqlite { .. } => None,
            TestDb::Postgres { base, schema, .. } => {
                let sep = if base.contains('?') { '&' } else { '?' };
                // Named after the schema, so that the drop can end the server's sessions.
                Some(format!(
                    "{base}{sep}options=-c%20search_path%3D{schema}&application_name={schema}"
                ))
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let TestDb::Postgres { base, schema, .. } = self else { return };
        let (base, sql) = (base.clone(), format!("drop schema if exists {schema} cascade"));
        let name = schema.clone();
        // Drop runs inside the test's runtime; the schema is dropped from a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&base).await?;
                // A server task that stopped with a transaction open (a job in flight) holds
                // its locks until its session ends, and its runtime is this test's, blocked
                // here: its sessions are ended first.
                sqlx::query("select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1")
                    .bind(&name)
                    .execute(&mut conn)
                    .await?;
                sqlx::query(&sql).execute(&mut conn).await?;
                Ok::<_, sqlx::Error>(())
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("could not drop test schema {schema}: {e}");
        }
    }
}
