//! `roster users import` and `export`, through the functions the command line calls.

use std::io::Write as _;

use reqwest::StatusCode;
use roster_core::Principal;
use roster_server::transfer::{self, Format, ImportOptions, ImportSummary};
use roster_testkit::{TestApp, expect_status};
use serde_json::{Value, json};

async fn principal(app: &TestApp) -> Principal {
    Principal::system(&app.directory.tenant("default").await.unwrap())
}

fn file(suffix: &str, text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(suffix).tempfile().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

fn options(dry_run: bool, upsert: bool) -> ImportOptions {
    ImportOptions { format: None, dry_run, upsert }
}

const BCRYPT: &str = "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW";

fn ndjson() -> String {
    [
        json!({ "username": "imp1", "emails": [{ "value": "imp1@example.org" }], "external_ids": { "external_user_id": "x-1" } }),
        json!({ "username": "imp2", "password_hash": BCRYPT }),
        json!({ "username": "" }),
        json!({ "username": "imp3", "password_hash": "md5:abc" }),
    ]
    .iter()
    .map(Value::to_string)
    .chain(["not json".to_owned(), String::new(), json!({ "username": "imp4" }).to_string()])
    .collect::<Vec<_>>()
    .join("\n")
}

#[tokio::test]
async fn imports_report_bad_rows_and_rerun_without_duplicates() {
    let app = TestApp::spawn().await;
    let p = principal(&app).await;
    let input = file(".ndjson", &ndjson());

    let dry =
        transfer::import(&app.directory, &p, input.path(), &options(true, false)).await.unwrap();
    assert_eq!(dry, ImportSummary { created: 3, updated: 0, existing: 0, invalid: 3 });
    assert!(app.all_users(true).await.is_empty(), "a dry run writes nothing");

    let first =
        transfer::import(&app.directory, &p, input.path(), &options(false, false)).await.unwrap();
    assert_eq!(first, ImportSummary { created: 3, updated: 0, existing: 0, invalid: 3 });
    let imported = app.get("/v1/users/by-username/imp2").send().await.unwrap();
    let imported = expect_status(imported, StatusCode::OK).await;
    assert_eq!(imported["password"]["set"], true, "the imported hash is kept");
    assert!(!imported.to_string().contains("$2b$"));

    // A re-run, as after an interruption, creates nothing twice.
    let again =
        transfer::import(&app.directory, &p, input.path(), &options(false, false)).await.unwrap();
    assert_eq!(again, ImportSummary { created: 0, updated: 0, existing: 3, invalid: 3 });
    assert_eq!(app.all_users(false).await.len(), 3);
    let events = app.events().await;
    assert!(events.iter().all(|e| e["actor"] == "system"), "imports act as Roster itself");
    assert_eq!(events.len(), 3);

    // With --upsert, existing users take the file's document.
    let changed = file(".ndjson", &json!({ "username": "imp1", "locale": "de", "external_ids": { "external_user_id": "x-1" } }).to_string());
    let upserted =
        transfer::import(&app.directory, &p, changed.path(), &options(false, true)).await.unwrap();
    assert_eq!(upserted, ImportSummary { created: 0, updated: 1, existing: 0, invalid: 0 });
    let user =
        expect_status(app.get("/v1/users/by-username/imp1").send().await.unwrap(), StatusCode::OK)
            .await;
    assert_eq!(user["locale"], "de");
    assert_eq!(user["emails"], json!([]), "the document replaced the user");
}

#[tokio::test]
async fn imports_span_batches_and_the_later_row_of_one_user_wins_an_upsert() {
    let app = TestApp::spawn().await;
    let p = principal(&app).await;
    // 2,600 rows: three batches, a bad row in each, one user twice in different batches.
    let rows: Vec<String> = (0..2600)
        .map(|i| match i {
            10 | 1500 | 2599 => "{\"username\": \"\"}".to_owned(),
            2100 => json!({ "username": "b0005", "locale": "de" }).to_string(),
            i => json!({ "username": format!("b{i:04}"), "locale": "en" }).to_string(),
        })
        .collect();
    let input = file(".ndjson", &rows.join("\n"));
    let first =
        transfer::import(&app.directory, &p, input.path(), &options(false, false)).await.unwrap();
    assert_eq!(first, ImportSummary { created: 2596, updated: 0, existing: 1, invalid: 3 });
    let count =
        expect_status(app.get("/v1/users/count").send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(count["total_count"], 2596);
    let upserted =
        transfer::import(&app.directory, &p, input.path(), &options(false, true)).await.unwrap();
    assert_eq!(upserted, ImportSummary { created: 0, updated: 2597, existing: 0, invalid: 3 });
    let user =
        expect_status(app.get("/v1/users/by-username/b0005").send().await.unwrap(), StatusCode::OK)
            .await;
    assert_eq!(user["locale"], "de", "the later row wins");
}

#[tokio::test]
async fn csv_headers_are_dotted_field_names() {
    let app = TestApp::spawn().await;
    let p = principal(&app).await;
    let csv = "username,name.given,name.family,emails,phones,external_ids.external_user_id\n\
               csv1,Ada,Lovelace,ada@example.org,+442071234567,crm-1\n\
               csv2,Grace,,grace@example.org,,\n\
               csv3,Bad,Email,not-an-email,,\n";
    let input = file(".csv", csv);
    let summary =
        transfer::import(&app.directory, &p, input.path(), &options(false, false)).await.unwrap();
    assert_eq!(summary, ImportSummary { created: 2, updated: 0, existing: 0, invalid: 1 });
    let ada = expect_status(
        app.get("/v1/users/by-external-id/crm-1").send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(ada["name"]["family"], "Lovelace");
    assert_eq!(
        ada["emails"][0],
        json!({ "value": "ada@example.org", "primary": true, "verified": false })
    );
    assert_eq!(ada["phones"][0]["value"], "+442071234567");
    let options = ImportOptions { format: Some(Format::Ndjson), dry_run: true, upsert: false };
    let wrong = transfer::import(&app.directory, &p, input.path(), &options).await.unwrap();
    assert_eq!(wrong.invalid, 4, "read as NDJSON, every CSV line is a bad row");
}

#[tokio::test]
async fn export_writes_every_user_once_and_filters() {
    let app = TestApp::spawn().await;
    let p = principal(&app).await;
    let users: Vec<Value> = (0..2500).map(|i| json!({ "username": format!("e{i:04}"), "locale": if i % 2 == 0 { "en" } else { "de" } })).collect();
    for chunk in users.chunks(1000) {
        let response =
            app.post("/v1/users/bulk").json(&json!({ "users": chunk })).send().await.unwrap();
        expect_status(response, StatusCode::OK).await;
    }
    let mut out = Vec::new();
    let count = transfer::export(&app.directory, &p, None, &mut out).await.unwrap();
    assert_eq!(count, 2500);
    let lines: Vec<Value> =
        String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let mut names: Vec<&str> = lines.iter().map(|u| u["username"].as_str().unwrap()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 2500, "every user exactly once; the decoy tenant's never");

    let mut out = Vec::new();
    let count =
        transfer::export(&app.directory, &p, Some(r#"locale eq "de""#), &mut out).await.unwrap();
    assert_eq!(count, 1250);
    assert!(
        transfer::export(&app.directory, &p, Some("locale eq"), &mut Vec::new()).await.is_err()
    );
}
