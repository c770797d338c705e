//! MATTR's documents and the core's: a user is its id, its claims (the native `claims`) and its
//! link to an identity provider (the user's first native identity link); cursors are
//! base64url of `createdAt=…&id=…`.

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use roster_core::user::{Identity, User};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::error::{Location, MattrError, Result, detail};

/// The id MATTR gives the provider at `url`: the UUID v5 of that exact string in the URL
/// namespace (Roster keeps no provider registry, so the id is derived).
pub(crate) fn provider_id(url: &str) -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_URL, url.as_bytes())
}

/// A user as MATTR answers it: exactly `id`, `claims` and, when linked, `authenticationProvider`.
pub(crate) fn user(user: &User) -> Value {
    let claims = user.profile.claims.clone().unwrap_or_else(|| json!({}));
    let mut out = json!({ "id": user.id, "claims": claims });
    if let Some(link) = user.profile.identities.first() {
        out["authenticationProvider"] = json!({
            "providerId": provider_id(&link.provider),
            "url": link.provider,
            "subjectId": link.subject,
        });
    }
    out
}

/// A core field as MATTR's parameter: the link's parts by their names.
pub(crate) fn param(field: &str) -> String {
    match field.strip_prefix("identities[0]") {
        Some(".provider") => "authenticationProvider.url".to_owned(),
        Some(".subject") => "authenticationProvider.subjectId".to_owned(),
        Some(_) => "authenticationProvider".to_owned(),
        None if field.starts_with("claims") => "claims".to_owned(),
        None => field.to_owned(),
    }
}

/// The body of a create, an update or a search: its members checked, each failing one named.
#[derive(Debug, Default)]
pub(crate) struct Body {
    pub claims: Option<Value>,
    /// Absent: `None`; `null`: `Some(None)`; a link: `Some(Some(..))`.
    pub link: Option<Option<Identity>>,
    /// A search's link criteria: the subject, and the provider's URL or id when given.
    pub criteria: Option<Criteria>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// What a search's `authenticationProvider` asks for.
#[derive(Debug, Clone)]
pub(crate) struct Criteria {
    pub subject: String,
    pub url: Option<String>,
    pub provider_id: Option<Uuid>,
}

/// Which request a body belongs to: its members differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Create,
    Update,
    Search,
}

/// Reads a request body; every failing member is named.
pub(crate) fn body(value: Value, kind: Kind) -> Result<Body> {
    let Value::Object(object) = value else {
        return Err(MattrError::invalid_one("body", Location::Body, "must be a JSON object"));
    };
    let mut out = Body::default();
    let mut wrong = Vec::new();
    let bad = |wrong: &mut Vec<Value>, param: &str, msg: &str, value: Option<&Value>| {
        wrong.push(detail(param, Location::Body, msg, value));
    };
    for (name, value) in &object {
        match (name.as_str(), kind) {
            ("claims", _) => match value {
                Value::Object(_) => out.claims = Some(value.clone()),
                _ => bad(&mut wrong, "claims", "must be an object", Some(value)),
            },
            ("authenticationProvider", Kind::Search) => match criteria(value) {
                Ok(c) => out.criteria = Some(c),
                Err(e) => wrong.extend(e),
            },
            ("authenticationProvider", _) => match (value, kind) {
                (Value::Null, Kind::Update) => out.link = Some(None),
                _ => match link(value) {
                    Ok(l) => out.link = Some(Some(l)),
                    Err(e) => wrong.extend(e),
                },
            },
            ("limit", Kind::Search) => match value.as_u64().filter(|n| (1..=1000).contains(n)) {
                Some(n) => out.limit = u32::try_from(n).ok(),
                None => {
                    bad(&mut wrong, "limit", "must be a whole number from 1 to 1000", Some(value))
                }
            },
            ("cursor", Kind::Search) => match value.as_str() {
                Some(c) => out.cursor = Some(c.to_owned()),
                None => bad(&mut wrong, "cursor", "must be a string", Some(value)),
            },
            (other, _) => bad(&mut wrong, other, "is not a member of this request", None),
        }
    }
    if kind == Kind::Update && out.claims.is_none() && !object.contains_key("claims") {
        bad(&mut wrong, "claims", "is required", None);
    }
    if wrong.is_empty() { Ok(out) } else { Err(MattrError::invalid(wrong)) }
}

/// A link as written: `url` and `subjectId`, `providerId` optional and equal to the derived one.
fn link(value: &Value) -> std::result::Result<Identity, Vec<Value>> {
    const PARAM: &str = "authenticationProvider";
    let Value::Object(link) = value else {
        return Err(vec![detail(PARAM, Location::Body, "must be an object", Some(value))]);
    };
    let mut wrong = Vec::new();
    let text = |name: &str, wrong: &mut Vec<Value>| match link.get(name) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            let param = format!("{PARAM}.{name}");
            wrong.push(detail(&param, Location::Body, "must be a string", Some(other)));
            None
        }
        None => {
            wrong.push(detail(&format!("{PARAM}.{name}"), Location::Body, "is required", None));
            None
        }
    };
    let url = text("url", &mut wrong);
    let subject = text("subjectId", &mut wrong);
    for name in link.keys().filter(|k| !["url", "subjectId", "providerId"].contains(&k.as_str())) {
        let param = format!("{PARAM}.{name}");
        wrong.push(detail(&param, Location::Body, "is not a member of this request", None));
    }
    if let (Some(given), Some(url)) = (link.get("providerId"), &url) {
        let derived = provider_id(url).to_string();
        if given.as_str() != Some(derived.as_str()) {
            let msg = format!("must be the id of `url`: {derived}");
            wrong.push(detail(&format!("{PARAM}.providerId"), Location::Body, &msg, Some(given)));
        }
    }
    match (url, subject, wrong.is_empty()) {
        (Some(provider), Some(subject), true) => Ok(Identity { provider, subject }),
        _ => Err(wrong),
    }
}

/// A search's link criteria: `subjectId` required, `url` and `providerId` optional.
fn criteria(value: &Value) -> std::result::Result<Criteria, Vec<Value>> {
    const PARAM: &str = "authenticationProvider";
    let Value::Object(given) = value else {
        return Err(vec![detail(PARAM, Location::Body, "must be an object", Some(value))]);
    };
    let mut wrong = Vec::new();
    let mut text = |name: &str| match given.get(name) {
        None => None,
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(other) => {
            let param = format!("{PARAM}.{name}");
            wrong.push(detail(&param, Location::Body, "must be a non-empty string", Some(other)));
            None
        }
    };
    let subject = text("subjectId");
    let url = text("url");
    let provider = text("providerId");
    let provider_id = provider.as_deref().and_then(|p| match Uuid::parse_str(p) {
        Ok(id) => Some(id),
        Err(_) => {
            let param = format!("{PARAM}.providerId");
            wrong.push(detail(&param, Location::Body, "must be a UUID", Some(&json!(p))));
            None
        }
    });
    for name in given.keys().filter(|k| !["url", "subjectId", "providerId"].contains(&k.as_str())) {
        let param = format!("{PARAM}.{name}");
        wrong.push(detail(&param, Location::Body, "is not a member of this request", None));
    }
    if subject.is_none() && !given.contains_key("subjectId") {
        wrong.push(detail(&format!("{PARAM}.subjectId"), Location::Body, "is required", None));
    }
    match (subject, wrong.is_empty()) {
        (Some(subject), true) => Ok(Criteria { subject, url, provider_id }),
        _ => Err(wrong),
    }
}

impl Criteria {
    /// Whether `identity` is the account asked for, every part compared exactly.
    pub(crate) fn matches(&self, identity: &Identity) -> bool {
        identity.subject == self.subject
            && self.url.as_ref().is_none_or(|url| *url == identity.provider)
            && self.provider_id.is_none_or(|id| id == provider_id(&identity.provider))
    }
}

/// A cursor as MATTR writes it: base64url of `<time name>=<time>&id=<id>`, the time in RFC 3339
/// UTC with microseconds (Roster's precision).
pub(crate) fn cursor(time_name: &str, at: OffsetDateTime, id: &str) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    let time = at.to_offset(time::UtcOffset::UTC).format(&format).unwrap_or_default();
    cursor_text(time_name, &time, id)
}

/// A cursor of a time exactly as it was answered.
pub(crate) fn cursor_text(time_name: &str, time: &str, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{time_name}={time}&id={id}"))
}

/// The position a cursor holds: its time and id. The time's colons may be percent-encoded (as
/// MATTR's own cursors have them); anything else is `None`.
pub(crate) fn position(time_name: &str, cursor: &str) -> Option<(OffsetDateTime, String)> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).or_else(|_| URL_SAFE.decode(cursor)).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let mut pairs: Map<String, Value> = Map::new();
    for (name, value) in url::form_urlencoded::parse(text.as_bytes()) {
        if pairs.insert(name.into_owned(), Value::String(value.into_owned())).is_some() {
            return None;
        }
    }
    if pairs.len() != 2 {
        return None;
    }
    let time = OffsetDateTime::parse(pairs.get(time_name)?.as_str()?, &Rfc3339).ok()?;
    Some((time, pairs.get("id")?.as_str()?.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_read_the_seeds_form_and_round_trip() {
        let seed = "Y3JlYXRlZEF0PTIwMjAtMDgtMjVUMDY6NDY6MDkuNTEwWiZpZD1hNjZmZmVhNS04NDhlLTQzOWQtODBhNC1kZGE1NWY1M2UzNmM";
        let (at, id) = position("createdAt", seed).unwrap();
        assert_eq!(at, time::macros::datetime!(2020-08-25 06:46:09.510 UTC));
        assert_eq!(id, "a66ffea5-848e-439d-80a4-dda55f53e36c");
        let at = time::macros::datetime!(2026-12-07 10:00:00.123456 UTC);
        let written = cursor("createdAt", at, "x");
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(&written).unwrap()).unwrap();
        assert_eq!(text, "createdAt=2026-12-07T10:00:00.123456Z&id=x");
        assert_eq!(position("createdAt", &written), Some((at, "x".to_owned())));
        let encoded = URL_SAFE_NO_PAD.encode("createdAt=2026-12-07T10%3A00%3A00.123456Z&id=x");
        assert_eq!(position("createdAt", &encoded), Some((at, "x".to_owned())));
        for bad in ["", "%%%", &URL_SAFE_NO_PAD.encode("createdAt=yesterday&id=x")] {
            assert_eq!(position("createdAt", bad), None, "{bad}");
        }
    }

    #[test]
    fn provider_ids_are_derived_from_the_exact_url() {
        let a = provider_id("https://example-university.au.auth0.com");
        assert_eq!(a.get_version_num(), 5);
        assert_ne!(a, provider_id("https://example-university.au.auth0.com/"));
    }
}
