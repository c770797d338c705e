//! `roster users import` and `roster users export`: moving many users in and out of a tenant
//! through the directory itself (so every rule and event applies), straight on the database.
//!
//! Imports read NDJSON (one native create document a line) or CSV (a header of dotted native
//! field names: `username`, `name.family`, `external_ids.external_user_id`; the columns
//! `emails` and `phones` hold one primary value each). A `password_hash` field carries a hash
//! from another system. Rows are created 1,000 at a time; a bad row is reported with its line
//! number and skipped. Users that already exist (same username or external id) are skipped, or
//! with `--upsert` updated, so a re-run after an interruption creates no duplicate.

use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt as _;
use roster_core::input::{UserInput, parse_document};
use roster_core::query::parse_filter;
use roster_core::{Directory, Error, Lookup, Principal, Search};
use serde_json::{Map, Value};

/// Rows per batch.
const BATCH: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Ndjson,
    Csv,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ImportSummary {
    pub created: u64,
    pub updated: u64,
    /// Already there (same username or external id), left as they were.
    pub existing: u64,
    pub invalid: u64,
}

impl std::ops::AddAssign for ImportSummary {
    fn add_assign(&mut self, other: ImportSummary) {
        self.created += other.created;
        self.updated += other.updated;
        self.existing += other.existing;
        self.invalid += other.invalid;
    }
}

#[derive(Debug, Default)]
pub struct ImportOptions {
    pub format: Option<Format>,
    /// Validate everything, write nothing.
    pub dry_run: bool,
    /// Update users matched by username or external id instead of skipping them.
    pub upsert: bool,
}

/// One row: its line number and its document (or why it has none).
type Row = (u64, Result<Value, String>);

pub async fn import(
    dir: &Directory,
    p: &Principal,
    path: &Path,
    options: &ImportOptions,
) -> anyhow::Result<ImportSummary> {
    let file = File::open(path).with_context(|| format!("open {}", path.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let format = options.format.unwrap_or(match path.extension().and_then(|e| e.to_str()) {
        Some("csv") => Format::Csv,
        _ => Format::Ndjson,
    });
    let progress = Progress::new("imported", Some(size));
    let reader = CountingReader { inner: file, progress: progress.clone() };
    let rows: Box<dyn Iterator<Item = Row>> = match format {
        Format::Ndjson => Box::new(ndjson_rows(BufReader::new(reader))),
        Format::Csv => Box::new(csv_rows(reader)?),
    };
    let mut rows = rows.peekable();
    let batches = std::iter::from_fn(move || {
        rows.peek()?;
        Some(rows.by_ref().take(BATCH).collect::<Vec<Row>>())
    });
    // The next batch is parsed and validated while the previous one is written. With --upsert
    // batches go one at a time, so that of two rows for one user the later wins.
    let in_flight = if options.upsert { 1 } else { 2 };
    let mut batches = futures::stream::iter(batches)
        .map(|batch| import_batch(dir, p, batch, options))
        .buffered(in_flight);
    let mut summary = ImportSummary::default();
    while let Some(part) = batches.next().await {
        summary += part?;
        progress.done(summary.created + summary.updated + summary.existing);
    }
    progress.finish(summary.created + summary.updated + summary.existing);
    Ok(summary)
}

/// Imports one batch of rows; what became of them.
async fn import_batch(
    dir: &Directory,
    p: &Principal,
    rows: Vec<Row>,
    options: &ImportOptions,
) -> anyhow::Result<ImportSummary> {
    let mut summary = ImportSummary::default();
    let mut lines = Vec::with_capacity(rows.len());
    let mut documents = Vec::with_capacity(rows.len());
    for (line, doc) in rows {
        match doc {
            Ok(doc) => {
                lines.push(line);
                documents.push(doc);
            }
            Err(e) => {
                eprintln!("line {line}: {e}");
                summary.invalid += 1;
            }
        }
    }
    if options.dry_run {
        for (line, doc) in lines.iter().zip(documents) {
            match parse(doc) {
                Ok(input) => match dir.check_user(p, input).await {
                    Ok(()) => summary.created += 1,
                    Err(e) => report(*line, &e, &mut summary),
                },
                Err(e) => report(*line, &e, &mut summary),
            }
        }
        return Ok(summary);
    }
    let items = documents.iter().cloned().map(parse).collect();
    let outcomes = dir.create_users(p, items, false).await?;
    for ((line, doc), outcome) in lines.iter().zip(documents).zip(outcomes) {
        match outcome {
            Ok(_) => summary.created += 1,
            Err(Error::Conflict { field })
                if field == "username" || field == "external_ids.external_user_id" =>
            {
                if options.upsert {
                    match upsert(dir, p, &field, doc).await {
                        Ok(()) => summary.updated += 1,
                        Err(e) => report(*line, &e, &mut summary),
                    }
                } else {
                    summary.existing += 1;
                }
            }
            Err(e) => report(*line, &e, &mut summary),
        }
    }
    Ok(summary)
}

/// Replaces the user holding the document's username (or external id) with the document.
async fn upsert(
    dir: &Directory,
    p: &Principal,
    field: &str,
    doc: Value,
) -> roster_core::Result<()> {
    let key = |path: &[&str]| {
        path.iter().try_fold(&doc, |v, k| v.get(k)).and_then(Value::as_str).map(str::to_owned)
    };
    let existing = match (field, key(&["username"]), key(&["external_ids", "external_user_id"])) {
        ("username", Some(u), _) => dir.find_user(p, Lookup::Username(&u)).await?,
        (_, _, Some(x)) => dir.find_user(p, Lookup::ExternalId(&x)).await?,
        _ => return Err(Error::NotFound { kind: "user" }),
    };
    dir.update_user(p, existing.id, None, |_| parse(doc.clone())).await.map(|_| ())
}

/// A document as the import reads it: the native create document plus `password_hash`.
fn parse(mut doc: Value) -> roster_core::Result<UserInput> {
    let hash = doc.as_object_mut().and_then(|o| o.remove("password_hash"));
    let mut input: UserInput = parse_document(doc)?;
    input.password_hash = match hash {
        None | Some(Value::Null) => None,
        Some(Value::String(h)) => Some(h),
        Some(_) => return Err(Error::invalid("password_hash", "invalid_type", "must be a string")),
    };
    Ok(input)
}

fn report(line: u64, e: &Error, summary: &mut ImportSummary) {
    summary.invalid += 1;
    match e {
        Error::Invalid(errors) => {
            for f in errors {
                eprintln!("line {line}: {}: {}", f.field, f.message);
            }
        }
        e => eprintln!("line {line}: {e}"),
    }
}

fn ndjson_rows(reader: impl BufRead) -> impl Iterator<Item = Row> {
    reader.lines().enumerate().filter_map(|(i, line)| {
        let n = i as u64 + 1;
        match line {
            Ok(text) if text.trim().is_empty() => None,
            Ok(text) => {
                Some((n, serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))))
            }
            Err(e) => Some((n, Err(format!("unreadable: {e}")))),
        }
    })
}

/// CSV rows as documents: a header cell `a.b` becomes `{"a": {"b": …}}`; empty cells are absent.
fn csv_rows(reader: impl Read + 'static) -> anyhow::Result<impl Iterator<Item = Row>> {
    let mut csv = csv::ReaderBuilder::new().flexible(false).from_reader(reader);
    let headers: Vec<String> =
        csv.headers().context("read the CSV header")?.iter().map(str::to_owned).collect();
    Ok(csv.into_records().enumerate().map(move |(i, record)| {
        // Line numbers count the header; a quoted cell spanning lines makes them approximate.
        let line =
            record.as_ref().ok().and_then(|r| r.position()).map_or(i as u64 + 2, |p| p.line());
        let record = match record {
            Ok(r) => r,
            Err(e) => return (line, Err(format!("not CSV: {e}"))),
        };
        let mut doc = Map::new();
        for (header, cell) in headers.iter().zip(record.iter()) {
            if cell.is_empty() {
                continue;
            }
            let value = match header.as_str() {
                "emails" | "phones" => serde_json::json!([{ "value": cell, "primary": true }]),
                _ => Value::String(cell.to_owned()),
            };
            insert_path(&mut doc, header, value);
        }
        (line, Ok(Value::Object(doc)))
    }))
}

fn insert_path(doc: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            doc.insert(path.to_owned(), value);
        }
        Some((head, rest)) => {
            let child = doc.entry(head.to_owned()).or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(map) = child {
                insert_path(map, rest, value);
            }
        }
    }
}

/// Writes every user `filter` selects as NDJSON, a page at a time (constant memory).
pub async fn export(
    dir: &Directory,
    p: &Principal,
    filter: Option<&str>,
    out: &mut impl Write,
) -> anyhow::Result<u64> {
    let progress = Progress::new("exported", None);
    let mut search = Search {
        filter: filter.map(parse_filter).transpose()?,
        limit: BATCH as u32,
        ..Search::default()
    };
    let mut count = 0;
    loop {
        let page = dir.search(p, &search).await?;
        for user in &page.users {
            serde_json::to_writer(&mut *out, user)?;
            out.write_all(b"\n")?;
        }
        count += page.users.len() as u64;
        progress.done(count);
        match page.next_cursor {
            Some(cursor) => search.cursor = Some(cursor),
            None => break,
        }
    }
    out.flush()?;
    progress.finish(count);
    Ok(count)
}

/// Progress on standard error: a bar with rate and ETA on a terminal, a plain line every five
/// seconds otherwise.
#[derive(Clone)]
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    verb: &'static str,
    started: Instant,
    last: std::sync::Arc<std::sync::Mutex<Instant>>,
}

impl Progress {
    fn new(verb: &'static str, bytes: Option<u64>) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = match bytes {
                Some(total) => indicatif::ProgressBar::new(total).with_style(
                    indicatif::ProgressStyle::with_template(
                        "{bar:30} {bytes}/{total_bytes} {msg} ({bytes_per_sec}, {eta} left)",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                ),
                None => indicatif::ProgressBar::new_spinner(),
            };
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let now = Instant::now();
        Progress { bar, verb, started: now, last: std::sync::Arc::new(std::sync::Mutex::new(now)) }
    }

    fn read(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    fn done(&self, users: u64) {
        let rate = users as f64 / self.started.elapsed().as_secs_f64().max(0.001);
        match &self.bar {
            Some(bar) => bar.set_message(format!("{users} users {} ({rate:.0}/s)", self.verb)),
            None => {
                let Ok(mut last) = self.last.lock() else { return };
                if last.elapsed() >= Duration::from_secs(5) {
                    *last = Instant::now();
                    eprintln!("{users} users {} ({rate:.0}/s)", self.verb);
                }
            }
        }
    }

    fn finish(&self, users: u64) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        let secs = self.started.elapsed().as_secs_f64();
        eprintln!(
            "{users} users {} in {secs:.1} s ({:.0}/s)",
            self.verb,
            users as f64 / secs.max(0.001)
        );
    }
}

/// Counts bytes read, for the progress bar.
struct CountingReader<R> {
    inner: R,
    progress: Progress,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.read(n as u64);
        Ok(n)
    }
}
