//! `roster-bench`: starts the release `roster` binary on a fresh database (SQLite, PostgreSQL or
//! both), loads the people of `shared/data/users.py` through the bulk API, and measures the HTTP
//! API under load from this process. Prints one Markdown table per backend.
//!
//! Run it with `bash bench/run.sh` (which builds both binaries); see docs/benchmarks.md.

use std::collections::VecDeque;
use std::io::BufRead as _;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use hdrhistogram::Histogram;
use serde_json::{Value, json};

#[derive(Parser)]
#[command(about)]
struct Args {
    /// People to load before measuring.
    #[arg(long, default_value_t = 100_000)]
    users: usize,
    /// `sqlite`, `postgres` or `both`.
    #[arg(long, default_value = "both")]
    backend: String,
    /// Seconds of each throughput phase.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// A PostgreSQL server where a fresh database is created for the run.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres_url: String,
    /// The generator of the benchmark people.
    #[arg(long, default_value = "../shared/data/users.py")]
    users_py: String,
    /// A NATS server with JetStream for the relay phase (`none` skips it).
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    /// Measure only the lifecycle iteration, against these running nodes (repeat it; the 64
    /// clients are spread over them), authenticated with `ROSTER_BENCH_TOKEN`. For
    /// bench/nodes.sh.
    #[arg(long, value_name = "BASE_URL")]
    lifecycle_at: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !args.lifecycle_at.is_empty() {
        return lifecycle_at(&args).await;
    }
    let backends: Vec<&str> = match args.backend.as_str() {
        "both" => vec!["sqlite", "postgres"],
        b @ ("sqlite" | "postgres") => vec![b],
        other => bail!("unknown backend {other}"),
    };
    for backend in backends {
        let report =
            run(&args, backend).await.with_context(|| format!("benchmark on {backend}"))?;
        println!("\n### {backend}, {} users\n\n| measure | result |\n| --- | --- |", args.users);
        for (what, figure) in report {
            println!("| {what} | {figure} |");
        }
    }
    Ok(())
}

/// A `roster serve` child process on a free port, stopped on drop.
struct Server {
    child: Child,
    base: String,
    token: String,
    _data: Option<std::path::PathBuf>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self._data {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Server {
    fn rss_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
}

async fn start(backend: &str, args: &Args, env: &[(&str, &str)]) -> anyhow::Result<Server> {
    let exe = std::env::current_exe()?.with_file_name("roster");
    if !exe.exists() {
        bail!(
            "{} is missing: build it with `cargo build --release -p roster-server`",
            exe.display()
        );
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let token = format!("rst_bench_{}_{}", std::process::id(), port);
    let data = std::env::temp_dir().join(format!("roster-bench-{}-{port}", std::process::id()));
    let mut command = Command::new(exe);
    command
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(&data)
        .env("ROSTER_BOOTSTRAP_TOKEN", &token)
        .env("ROSTER_LOG", "warn")
        // The verification phase measures hashing, not the abuse limit.
        .env("ROSTER_RATE_LIMITS__VERIFICATIONS_PER_SECOND", "1000000")
        // The delivery phase's receiver listens on 127.0.0.1.
        .env("ROSTER_WEBHOOKS__ALLOW_PRIVATE_TARGETS", "true")
        .envs(env.iter().copied())
        .stdout(Stdio::null());
    if backend == "postgres" {
        let database = format!("roster_bench_{}_{port}", std::process::id());
        let mut admin =
            <sqlx::PgConnection as sqlx::Connection>::connect(&args.postgres_url).await?;
        sqlx::query(&format!("create database {database}")).execute(&mut admin).await?;
        let mut url = url::Url::parse(&args.postgres_url)?;
        url.set_path(&database);
        command.env("ROSTER_DATABASE_URL", url.as_str());
    }
    let child = command.spawn()?;
    let server =
        Server { child, base: format!("http://127.0.0.1:{port}"), token, _data: Some(data) };
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while http.get(format!("{}/healthz", server.base)).send().await.is_err() {
        if Instant::now() > deadline {
            bail!("roster did not start");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(server)
}

/// Drops the run's PostgreSQL database.
async fn cleanup(backend: &str, args: &Args, server: Server) -> anyhow::Result<()> {
    let port = server.base.rsplit(':').next().unwrap_or_default().to_owned();
    drop(server);
    if backend == "postgres" {
        let database = format!("roster_bench_{}_{port}", std::process::id());
        let mut admin =
            <sqlx::PgConnection as sqlx::Connection>::connect(&args.postgres_url).await?;
        sqlx::query(&format!("drop database if exists {database}")).execute(&mut admin).await?;
    }
    Ok(())
}

/// Makes the filter of one search from a person.
type Filter = fn(&Person) -> String;

/// A loaded person: id, primary e-mail and family name.
struct Person {
    id: String,
    email: String,
    family: String,
}

async fn run(args: &Args, backend: &str) -> anyhow::Result<Vec<(String, String)>> {
    let server = start(backend, args, &[]).await?;
    let http = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;
    let auth = format!("Bearer {}", server.token);
    let mut report = Vec::new();
    report.push((
        "idle RSS".to_owned(),
        format!("{:.1} MiB", server.rss_kib("VmRSS") as f64 / 1024.0),
    ));

    // Load: the generator's native documents, 1,000 a request, two requests in flight.
    let started = Instant::now();
    let people = load(args, &http, &server.base, &auth).await?;
    let rate = people.len() as f64 / started.elapsed().as_secs_f64();
    report.push((
        "bulk load (`POST /v1/users/bulk`, 1,000 a request, 2 in flight)".to_owned(),
        format!("{rate:.0} users/s"),
    ));
    let people = Arc::new(people);

    let secs = Duration::from_secs(args.seconds);
    let base = server.base.clone();
    let healthz = measure(64, secs, |_, _| {
        let request = http.get(format!("{base}/healthz"));
        async move { request.send().await }
    })
    .await;
    report.push(("`GET /healthz`, 64 connections".to_owned(), healthz.describe()));

    let get = measure(64, secs, |_, n| {
        let person = &people[n % people.len()];
        let request =
            http.get(format!("{base}/v1/users/{}", person.id)).header("authorization", &auth);
        async move { request.send().await }
    })
    .await;
    report.push((
        "`GET /v1/users/{id}`, 64 connections".to_owned(),
        format!("{} ({:.0}% of /healthz)", get.describe(), 100.0 * get.rate() / healthz.rate()),
    ));
    // The same reads through the ZITADEL dialect, as its SDKs send them (Connect, JSON body).
    let connect = format!("{base}/compat/zitadel/zitadel.user.v2.UserService/GetUserByID");
    let zitadel = measure(64, secs, |_, n| {
        let person = &people[n % people.len()];
        // The body written directly: the client shares the machine, so it should cost no more
        // than building the native request's path does.
        let request = http
            .post(&connect)
            .header("authorization", &auth)
            .header("content-type", "application/json")
            .body(format!(r#"{{"userId":"{}"}}"#, person.id));
        async move { request.send().await }
    })
    .await;
    report.push((
        "ZITADEL Connect `GetUserByID`, 64 connections".to_owned(),
        format!(
            "{} ({:.0}% of `GET /v1/users/{{id}}`)",
            zitadel.describe(),
            100.0 * zitadel.rate() / get.rate()
        ),
    ));

    for clients in [1, 8, 64] {
        let creates = measure(clients, secs / 2, |worker, n| {
            let body = json!({ "username": format!("create-{clients}-{worker}-{n}") });
            let request =
                http.post(format!("{base}/v1/users")).header("authorization", &auth).json(&body);
            async move { request.send().await }
        })
        .await;
        report.push((format!("`POST /v1/users`, {clients} clients"), creates.describe()));
    }

    let lifecycle = measure(64, secs, |worker, n| {
        let (http, base, auth) = (http.clone(), base.clone(), auth.clone());
        async move { lifecycle(&http, &base, &auth, &format!("life-{worker}-{n}")).await }
    })
    .await;
    report.push((
        "lifecycle (create, patch, lock, delete), 64 clients".to_owned(),
        lifecycle.describe_as("iterations"),
    ));

    // Two filters over people spread through the set, 8 clients each.
    let searches: [(&str, Filter); 2] = [
        ("`emails.value eq`", |p| format!("emails.value eq \"{}\"", p.email)),
        ("`name.family sw` (5 letters)", |p| {
            format!("name.family sw \"{}\"", p.family.chars().take(5).collect::<String>())
        }),
    ];
    for (what, filter) in searches {
        let outcome = measure(8, secs / 2, |_, n| {
            let person = &people[(n * 7919) % people.len()];
            let request = http
                .get(format!("{base}/v1/users"))
                .query(&[("filter", filter(person))])
                .header("authorization", &auth);
            async move { request.send().await }
        })
        .await;
        report.push((format!("{what}, 8 clients"), outcome.describe()));
    }

    let pages = paging(&http, &base, &auth, people.len()).await?;
    report.extend(pages);

    // Password verification: argon2id at the default cost (19 MiB, 2 passes, 1 lane).
    let body = json!({ "username": "verify-bench", "password": "correct horse battery" });
    let created = http.post(format!("{base}/v1/users")).header("authorization", &auth).json(&body);
    let created: Value = created.send().await?.error_for_status()?.json().await?;
    let verify_url =
        format!("{base}/v1/users/{}/password/verify", created["id"].as_str().unwrap_or_default());
    let verify = measure(8, secs / 2, |_, _| {
        let request = http
            .post(&verify_url)
            .header("authorization", &auth)
            .json(&json!({ "password": "correct horse battery" }));
        async move { request.send().await }
    })
    .await;
    report.push((
        "password verification (argon2id, 19 MiB, t=2), 8 clients".to_owned(),
        verify.describe_as("verifications"),
    ));

    report.push(feed_latency(&http, &base, &auth).await?);
    report.push(deliveries(&http, &base, &auth).await?);

    report.push((
        "peak RSS of the server".to_owned(),
        format!("{:.1} MiB", server.rss_kib("VmHWM") as f64 / 1024.0),
    ));
    cleanup(backend, args, server).await?;
    if args.nats_url != "none" {
        report.push(relay(args, backend).await?);
    }
    Ok(report)
}

/// A bulk request's documents and its answer.
type Loaded = (Vec<Value>, Value);

async fn load(
    args: &Args,
    http: &reqwest::Client,
    base: &str,
    auth: &str,
) -> anyhow::Result<Vec<Person>> {
    let mut generator = Command::new("python3")
        .args([&args.users_py, "--count", &args.users.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .context("run the people generator")?;
    let stdout = generator.stdout.take().context("generator output")?;
    let mut lines = std::io::BufReader::new(stdout).lines();
    let mut people = Vec::with_capacity(args.users);
    let mut in_flight: VecDeque<tokio::task::JoinHandle<anyhow::Result<Loaded>>> = VecDeque::new();
    loop {
        let mut batch = Vec::with_capacity(1000);
        for line in lines.by_ref().take(1000) {
            batch.push(serde_json::from_str::<Value>(&line?)?);
        }
        let exhausted = batch.is_empty();
        if !exhausted {
            let (http, url, auth) =
                (http.clone(), format!("{base}/v1/users/bulk"), auth.to_owned());
            in_flight.push_back(tokio::spawn(async move {
                let response = http
                    .post(url)
                    .header("authorization", auth)
                    .json(&json!({ "users": batch }))
                    .send();
                let response: Value = response.await?.error_for_status()?.json().await?;
                Ok((batch, response))
            }));
        }
        if in_flight.len() >= 2 || (exhausted && !in_flight.is_empty()) {
            let Some(done) = in_flight.pop_front() else { break };
            let (docs, response) = done.await??;
            for (doc, result) in docs.iter().zip(response["results"].as_array().context("results")?)
            {
                let id = result["id"].as_str().with_context(|| format!("not created: {result}"))?;
                people.push(Person {
                    id: id.to_owned(),
                    email: doc["emails"][0]["value"].as_str().unwrap_or_default().to_owned(),
                    family: doc["name"]["family"].as_str().unwrap_or_default().to_owned(),
                });
            }
        }
        if exhausted && in_flight.is_empty() {
            break;
        }
    }
    generator.wait()?;
    Ok(people)
}

/// The lifecycle iteration with 64 clients spread over running nodes, one line per node and
/// their sum.
async fn lifecycle_at(args: &Args) -> anyhow::Result<()> {
    let token = std::env::var("ROSTER_BENCH_TOKEN").context("ROSTER_BENCH_TOKEN")?;
    let auth = format!("Bearer {token}");
    let http = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;
    let nodes = &args.lifecycle_at;
    let tag = std::process::id();
    let per_node = futures::future::join_all(nodes.iter().enumerate().map(|(i, base)| {
        let (http, auth) = (&http, &auth);
        measure(64 / nodes.len(), Duration::from_secs(args.seconds), move |worker, n| async move {
            lifecycle(http, base, auth, &format!("life-{tag}-{i}-{worker}-{n}")).await
        })
    }))
    .await;
    let mut total = 0.0;
    for (base, outcome) in nodes.iter().zip(&per_node) {
        println!("lifecycle {base} {}", outcome.describe_as("iterations"));
        total += outcome.rate();
    }
    println!("total {total:.0} iterations/s");
    Ok(())
}

async fn lifecycle(
    http: &reqwest::Client,
    base: &str,
    auth: &str,
    username: &str,
) -> reqwest::Result<reqwest::Response> {
    let created: Value = http
        .post(format!("{base}/v1/users"))
        .header("authorization", auth)
        .json(&json!({ "username": username }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let user = format!("{base}/v1/users/{}", created["id"].as_str().unwrap_or_default());
    http.patch(&user)
        .header("authorization", auth)
        .header("content-type", "application/merge-patch+json")
        .body(r#"{"locale":"en"}"#)
        .send()
        .await?
        .error_for_status()?;
    http.post(format!("{user}/lock"))
        .header("authorization", auth)
        .send()
        .await?
        .error_for_status()?;
    http.delete(&user).header("authorization", auth).send().await
}

/// Cursor and offset pages at the start and near the end of the listing.
async fn paging(
    http: &reqwest::Client,
    base: &str,
    auth: &str,
    total: usize,
) -> anyhow::Result<Vec<(String, String)>> {
    let get = |url: String| {
        let request = http.get(url).header("authorization", auth);
        async move { anyhow::Ok(request.send().await?.error_for_status()?.json::<Value>().await?) }
    };
    // Walk to a cursor about 100 users from the end.
    let mut cursor: Option<String> = None;
    let mut seen = 0;
    while seen + 1000 < total.saturating_sub(100) {
        let mut url = format!("{base}/v1/users?limit=1000");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page = get(url).await?;
        seen += page["data"].as_array().map_or(0, Vec::len);
        cursor = page["meta"]["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    let time = |url: String| {
        let get = &get;
        async move {
            let mut samples = Vec::new();
            for _ in 0..21 {
                let started = Instant::now();
                get(url.clone()).await?;
                samples.push(started.elapsed());
            }
            samples.sort();
            anyhow::Ok(samples[samples.len() / 2])
        }
    };
    let first = time(format!("{base}/v1/users?limit=100")).await?;
    let deep = match &cursor {
        Some(c) => time(format!("{base}/v1/users?limit=100&cursor={c}")).await?,
        None => first,
    };
    let offset =
        time(format!("{base}/v1/users?limit=100&offset={}", total.saturating_sub(100))).await?;
    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1000.0);
    Ok(vec![
        ("page of 100, first (median of 21)".to_owned(), ms(first)),
        (
            format!("page of 100 by cursor after {seen} users"),
            format!("{} ({:.2}× the first)", ms(deep), deep.as_secs_f64() / first.as_secs_f64()),
        ),
        (format!("page of 100 by offset {}", total.saturating_sub(100)), ms(offset)),
    ])
}

/// Throughput and latency of one load phase.
struct Outcome {
    ok: usize,
    failed: usize,
    elapsed: Duration,
    latency: Histogram<u64>,
}

impl Outcome {
    fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    fn describe(&self) -> String {
        self.describe_as("req")
    }

    fn describe_as(&self, unit: &str) -> String {
        let ms = |q: f64| self.latency.value_at_quantile(q) as f64 / 1000.0;
        let failed =
            if self.failed > 0 { format!(", {} failed", self.failed) } else { String::new() };
        format!(
            "{:.0} {unit}/s, p50 {:.2} ms, p99 {:.2} ms{failed}",
            self.rate(),
            ms(0.5),
            ms(0.99)
        )
    }
}

/// Write → event seen by a reader long-polling `/v1/events` (`wait=30s`), 200 times in a row.
async fn feed_latency(
    http: &reqwest::Client,
    base: &str,
    auth: &str,
) -> anyhow::Result<(String, String)> {
    let get = |url: String| {
        let request = http.get(url).header("authorization", auth);
        async move { anyhow::Ok(request.send().await?.error_for_status()?.json::<Value>().await?) }
    };
    let mut after = 0;
    loop {
        let page = get(format!("{base}/v1/events?after={after}&limit=1000")).await?;
        let next = page["meta"]["next_after"].as_i64().unwrap_or(after);
        if next == after {
            break;
        }
        after = next;
    }
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for i in 0..200 {
        let reader = tokio::spawn(get(format!("{base}/v1/events?after={after}&limit=1&wait=30s")));
        // Let the reader reach the server and park before the write.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let written = Instant::now();
        let body = json!({ "username": format!("feed-{i}") });
        let create =
            http.post(format!("{base}/v1/users")).header("authorization", auth).json(&body);
        create.send().await?.error_for_status()?;
        let page = reader.await??;
        latency.record(u64::try_from(written.elapsed().as_micros())?.max(1))?;
        after = page["meta"]["next_after"].as_i64().unwrap_or(after);
    }
    Ok((
        "feed latency: create → event at a long-polling reader (200 in a row)".to_owned(),
        format!(
            "p50 {:.2} ms, p99 {:.2} ms",
            latency.value_at_quantile(0.5) as f64 / 1000.0,
            latency.value_at_quantile(0.99) as f64 / 1000.0
        ),
    ))
}

/// Webhook deliveries of 5,000 `user.created` events to a receiver on 127.0.0.1 that answers 204.
async fn deliveries(
    http: &reqwest::Client,
    base: &str,
    auth: &str,
) -> anyhow::Result<(String, String)> {
    const EVENTS: usize = 5_000;
    let received = Arc::new(AtomicUsize::new(0));
    let (done, finished) = tokio::sync::oneshot::channel::<()>();
    let done = Arc::new(std::sync::Mutex::new(Some(done)));
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post({
            let received = received.clone();
            move || async move {
                if received.fetch_add(1, Ordering::Relaxed) + 1 == EVENTS
                    && let Some(done) = done.lock().ok().and_then(|mut d| d.take())
                {
                    let _ = done.send(());
                }
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let receiver = tokio::spawn(async move { axum::serve(listener, app).await });
    let hook = json!({ "url": url, "event_types": ["user.created"] });
    let hook = http.post(format!("{base}/v1/webhooks")).header("authorization", auth).json(&hook);
    let hook: Value = hook.send().await?.error_for_status()?.json().await?;

    let started = Instant::now();
    create_in_bulk(http, base, auth, "hooked", EVENTS).await?;
    tokio::time::timeout(Duration::from_secs(600), finished)
        .await
        .context("deliveries did not arrive within 10 minutes")??;
    let rate = EVENTS as f64 / started.elapsed().as_secs_f64();
    let id = hook["id"].as_str().unwrap_or_default();
    http.delete(format!("{base}/v1/webhooks/{id}")).header("authorization", auth).send().await?;
    receiver.abort();
    Ok((
        "webhook deliveries (5,000 events, receiver on 127.0.0.1)".to_owned(),
        format!("{rate:.0} deliveries/s, bulk writes included"),
    ))
}

/// The NATS JetStream relay, on a server of its own (so it does not weigh on the other phases):
/// 20,000 `user.created` events written in bulk, timed until the last is seen on the broker.
async fn relay(args: &Args, backend: &str) -> anyhow::Result<(String, String)> {
    const EVENTS: usize = 20_000;
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    let unique = format!("{}_{}", std::process::id(), since_epoch.as_millis());
    let (prefix, stream) = (format!("roster_bench.{unique}"), format!("ROSTER_BENCH_{unique}"));
    let client = async_nats::connect(&args.nats_url).await.context("connect to NATS")?;
    let mut published = client.subscribe(format!("{prefix}.>")).await?;
    let env = [
        ("ROSTER_NATS_URL", args.nats_url.as_str()),
        ("ROSTER_NATS__SUBJECT_PREFIX", prefix.as_str()),
        ("ROSTER_NATS__STREAM", stream.as_str()),
    ];
    let server = start(backend, args, &env).await?;
    let (http, base) = (reqwest::Client::new(), server.base.clone());
    let auth = format!("Bearer {}", server.token);
    let counter = tokio::spawn(async move {
        let mut seen = 0;
        while seen < EVENTS && futures::StreamExt::next(&mut published).await.is_some() {
            seen += 1;
        }
        seen
    });
    let started = Instant::now();
    create_in_bulk(&http, &base, &auth, "relayed", EVENTS).await?;
    let written = started.elapsed();
    let seen = tokio::time::timeout(Duration::from_secs(600), counter)
        .await
        .context("the relay did not publish every event within 10 minutes")??;
    let elapsed = started.elapsed();
    jetstream_cleanup(client, &stream).await?;
    cleanup(backend, args, server).await?;
    if seen < EVENTS {
        bail!("the relay published {seen} of {EVENTS} events");
    }
    Ok((
        "NATS JetStream relay (20,000 events written in bulk → all published)".to_owned(),
        format!(
            "{:.0} events/s; the last published {:.0} ms after the last write",
            EVENTS as f64 / elapsed.as_secs_f64(),
            (elapsed - written).as_secs_f64() * 1000.0
        ),
    ))
}

/// Creates `n` users (a multiple of 1,000) named `<prefix>-…`, 1,000 a bulk request.
async fn create_in_bulk(
    http: &reqwest::Client,
    base: &str,
    auth: &str,
    prefix: &str,
    n: usize,
) -> anyhow::Result<()> {
    for chunk in 0..n / 1000 {
        let users: Vec<Value> =
            (0..1000).map(|i| json!({ "username": format!("{prefix}-{chunk}-{i}") })).collect();
        let bulk = http
            .post(format!("{base}/v1/users/bulk"))
            .header("authorization", auth)
            .json(&json!({ "users": users }));
        bulk.send().await?.error_for_status()?;
    }
    Ok(())
}

async fn jetstream_cleanup(client: async_nats::Client, stream: &str) -> anyhow::Result<()> {
    async_nats::jetstream::new(client).delete_stream(stream).await?;
    Ok(())
}

/// Runs `clients` concurrent loops of `request(worker, n)` for `duration`.
async fn measure<F, Fut>(clients: usize, duration: Duration, request: F) -> Outcome
where
    F: Fn(usize, usize) -> Fut,
    Fut: std::future::Future<Output = reqwest::Result<reqwest::Response>>,
{
    let counter = AtomicUsize::new(0);
    let started = Instant::now();
    let deadline = started + duration;
    let workers = (0..clients).map(|worker| {
        let (request, counter) = (&request, &counter);
        async move {
            let mut latency =
                Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
            let (mut ok, mut failed) = (0, 0);
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let sent = Instant::now();
                let success = match request(worker, n).await {
                    Ok(response) => {
                        let good = response.status().is_success();
                        let _ = response.bytes().await;
                        good
                    }
                    Err(_) => false,
                };
                let _ = latency
                    .record(u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX).max(1));
                if success { ok += 1 } else { failed += 1 }
            }
            (ok, failed, latency)
        }
    });
    let results = futures::future::join_all(workers).await;
    let elapsed = started.elapsed();
    let mut outcome = Outcome {
        ok: 0,
        failed: 0,
        elapsed,
        latency: Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds"),
    };
    for (ok, failed, latency) in results {
        outcome.ok += ok;
        outcome.failed += failed;
        let _ = outcome.latency.add(latency);
    }
    outcome
}
