//! Database faults. PostgreSQL stopped under load: requests fail fast with 503, `/readyz` says
//! not ready, and the pool recovers by itself when the database is back — on a throwaway cluster
//! this test starts itself (never the shared server). SQLite on a full disk or a read-only
//! directory: writes answer 503, reads go on, and the file stays sound.

use std::path::PathBuf;
use std::process::Command as StdCommand;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use roster_testkit::TestDb;
use serde_json::json;

use crate::node::{Node, command, configure, sqlite_integrity};

/// A PostgreSQL cluster of its own, from the machine's PostgreSQL binaries, on a free port.
struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl Cluster {
    fn start() -> Cluster {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|b| b.join("initdb").exists())
            .max()
            .expect("PostgreSQL server binaries under /usr/lib/postgresql/*/bin");
        let dir = tempfile::tempdir().expect("directory");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let cluster = Cluster { bin, dir, port };
        // PostgreSQL refuses to run as root: the cluster belongs to the `postgres` account then.
        if is_root() {
            run(StdCommand::new("chown").arg("postgres").arg(cluster.dir.path()));
        }
        run(cluster
            .pg("initdb")
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(cluster.data()));
        cluster.ctl("start");
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn pg(&self, program: &str) -> StdCommand {
        let path = self.bin.join(program);
        if is_root() {
            let mut cmd = StdCommand::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(path);
            cmd
        } else {
            StdCommand::new(path)
        }
    }

    fn ctl(&self, action: &str) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let mut cmd = self.pg("pg_ctl");
        cmd.arg("-D").arg(self.data()).args(["-w", "-m", "immediate", "-o", &options]);
        cmd.arg("-l").arg(self.dir.path().join("log")).arg(action);
        run(&mut cmd);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ =
            self.pg("pg_ctl").arg("-D").arg(self.data()).args(["-m", "immediate", "stop"]).output();
    }
}

fn is_root() -> bool {
    StdCommand::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

fn run(cmd: &mut StdCommand) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Sends `request` and returns its status and how long the answer took.
async fn timed(request: reqwest::RequestBuilder) -> (StatusCode, Duration) {
    let start = Instant::now();
    let status =
        request.send().await.expect("an answer, not a hang or a dropped connection").status();
    (status, start.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_postgresql_fails_fast_and_the_pool_recovers() {
    let cluster = Cluster::start();
    let db = TestDb::new().await;
    let mut cmd = command(&db, &["serve"]);
    cmd.env("ROSTER_LISTEN", "127.0.0.1:0").env("ROSTER_DATABASE_URL", cluster.url());
    let node = Node::spawn(cmd).await.unwrap_or_else(|log| panic!("roster did not start:\n{log}"));
    let create =
        |name: &str| node.request(Method::POST, "/v1/users").json(&json!({ "username": name }));
    let (status, _) = timed(create("before")).await;
    assert_eq!(status, StatusCode::CREATED);

    cluster.ctl("stop");
    // Writes and reads fail with 503 (retry later), each within the pool's acquire timeout
    // (5 s) and some slack, never hanging; readiness says not ready; liveness stays.
    for i in 0..5 {
        let (status, took) = timed(create(&format!("during-{i}"))).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "write {i}");
        assert!(took < Duration::from_secs(15), "write {i} took {took:?}");
        let (status, took) = timed(node.request(Method::GET, "/v1/users?limit=1")).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "read {i}");
        assert!(took < Duration::from_secs(15), "read {i} took {took:?}");
    }
    assert_eq!(
        timed(node.request(Method::GET, "/readyz")).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(timed(node.request(Method::GET, "/healthz")).await.0, StatusCode::OK);

    cluster.ctl("start");
    // The pool reconnects on its own: the first requests after the restart may still meet a
    // dead connection (503); within a bounded number of tries they succeed.
    let mut recovered = None;
    for attempt in 0..100 {
        let (status, _) = timed(create(&format!("after-{attempt}"))).await;
        if status == StatusCode::CREATED {
            recovered = Some(attempt);
            break;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "attempt {attempt}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let attempts = recovered.expect("the pool recovered");
    assert_eq!(timed(node.request(Method::GET, "/readyz")).await.0, StatusCode::OK);
    let page = node.get_json("/v1/users?filter=username%20eq%20%22before%22").await;
    assert_eq!(page["data"].as_array().map(Vec::len), Some(1), "written before the fault");
    assert!(!node.log().contains("panicked"), "{}", node.log());
    eprintln!(
        "postgres fault: 10 requests during the outage, all 503; recovered after {attempts} retries"
    );
}

/// `roster serve` on the SQLite file in `data`; with `mount`, in a user and mount namespace of
/// its own where that shell command runs first (a filesystem made for the test, without root).
/// `Err` holds what it logged when it did not start.
async fn sqlite_node(data: &std::path::Path, mount: Option<&str>) -> Result<Node, String> {
    let roster = env!("CARGO_BIN_EXE_roster");
    let mut cmd = match mount {
        None => {
            let mut cmd = tokio::process::Command::new(roster);
            cmd.arg("serve");
            cmd
        }
        Some(mount) => {
            let mut cmd = tokio::process::Command::new("unshare");
            let script = format!("{mount} && exec \"$0\" serve");
            cmd.args(["--user", "--map-root-user", "--mount", "sh", "-c", &script, roster]);
            cmd
        }
    };
    configure(&mut cmd, data, None);
    cmd.env("ROSTER_LISTEN", "127.0.0.1:0");
    Node::spawn(cmd).await
}

#[tokio::test]
async fn sqlite_on_a_full_disk_refuses_writes_with_503_and_stays_sound() {
    // The embedded file's disk, whichever backend the suite runs on (PostgreSQL's full disk is
    // its server's).
    let dir = tempfile::tempdir().expect("directory");
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("data directory");
    // A 4 MiB filesystem of the process's own: a tmpfs in a user and mount namespace.
    let mount = format!("mount -t tmpfs -o size=4m roster-test '{}'", data.display());
    let node = sqlite_node(&data, Some(&mount)).await.expect("roster starts");

    // Users of 64 KiB of attributes each, until the disk is full (at most 4 MiB / 64 KiB + slack).
    let blob = "x".repeat(1000);
    let mut kept = Vec::new();
    let mut refused = None;
    for i in 0..200 {
        let attributes: serde_json::Map<String, serde_json::Value> =
            (0..64).map(|k| (format!("a{k}"), json!([blob]))).collect();
        let body = json!({ "username": format!("full-{i}"), "attributes": attributes });
        let response =
            node.request(Method::POST, "/v1/users").json(&body).send().await.expect("an answer");
        match response.status() {
            StatusCode::CREATED => kept.push(format!("full-{i}")),
            status => {
                let problem = response.text().await.unwrap_or_default();
                refused = Some((status, problem));
                break;
            }
        }
    }
    let (status, problem) = refused.expect("the disk filled up");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{problem}");
    assert!(!kept.is_empty());
    // Reads go on, and every acknowledged user is there.
    for name in &kept {
        let path = format!("/v1/users/by-username/{name}");
        let response = node.request(Method::GET, &path).send().await.expect("read");
        assert_eq!(response.status(), StatusCode::OK, "{name}");
    }
    // A small write may still fit or not; either way the answer is 201 or 503, never 500.
    let small =
        node.request(Method::POST, "/v1/users").json(&json!({ "username": "small" })).send().await;
    let small = small.expect("an answer").status();
    assert!(matches!(small, StatusCode::CREATED | StatusCode::SERVICE_UNAVAILABLE), "{small}");
    // The file is sound: a copy of it (with its write-ahead log), taken through the process's
    // view of its mount while it is idle, passes SQLite's integrity check.
    let mount = PathBuf::from(format!("/proc/{}/root{}", node.pid(), data.display()));
    let copy = dir.path().join("copy");
    std::fs::create_dir(&copy).expect("directory");
    for file in ["roster.db", "roster.db-wal"] {
        if mount.join(file).exists() {
            std::fs::copy(mount.join(file), copy.join(file)).expect("copy the database");
        }
    }
    assert_eq!(sqlite_integrity(&copy).await, "ok");
    assert!(!node.log().contains("panicked"), "{}", node.log());
    eprintln!("sqlite full disk: {} users of 64 KiB kept, then 503; integrity ok", kept.len());
    node.kill().await;
}

#[tokio::test]
async fn sqlite_on_a_read_only_directory_refuses_to_start_or_refuses_writes_with_503() {
    let dir = tempfile::tempdir().expect("directory");
    let data = dir.path().join("data");
    let node = sqlite_node(&data, None).await.expect("roster starts");
    let created =
        node.request(Method::POST, "/v1/users").json(&json!({ "username": "kept" })).send();
    assert_eq!(created.await.expect("send").status(), StatusCode::CREATED);
    node.terminate();
    assert!(node.exited(Duration::from_secs(60)).await.success());

    // The same directory, mounted read-only for the process (a bind mount in a user and mount
    // namespace of its own).
    let mount =
        format!("mount --bind '{d}' '{d}' && mount -o remount,bind,ro '{d}'", d = data.display());
    // Either outcome is sound: the node refuses to start with an error naming the file (SQLite
    // cannot create the write-ahead log beside a cleanly closed database), or it starts when the
    // log is there, serves reads and answers writes 503.
    match sqlite_node(&data, Some(&mount)).await {
        Err(log) => {
            assert!(log.contains("roster.db") && log.contains("unable to open"), "{log}");
        }
        Ok(node) => {
            let write = node.request(Method::POST, "/v1/users").json(&json!({ "username": "new" }));
            let status = write.send().await.expect("send").status();
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
            let read = node.get_json("/v1/users?filter=username%20eq%20%22kept%22").await;
            assert_eq!(read["data"].as_array().map(Vec::len), Some(1));
            assert!(!node.log().contains("panicked"), "{}", node.log());
            node.kill().await;
        }
    }
    // The file is intact, with the user written before.
    assert_eq!(sqlite_integrity(&data).await, "ok");
    let node = sqlite_node(&data, None).await.expect("roster starts");
    let read = node.get_json("/v1/users?filter=username%20eq%20%22kept%22").await;
    assert_eq!(read["data"].as_array().map(Vec::len), Some(1));
    node.kill().await;
}
