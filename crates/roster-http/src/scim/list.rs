//! Listings: the query parameters of `GET` and the body of `POST /.search` (RFC 7644 §3.4.2,
//! §3.4.3; cursors per RFC 9865), the `ListResponse`, and `attributes` / `excludedAttributes`
//! projection of returned documents.

use serde_json::{Map, Value, json};

use super::{LIST_SCHEMA, SEARCH_SCHEMA, ScimError, ScimResult, get_ci};

/// Largest page: a larger `count` is lowered to it (RFC 7644 §3.4.2.4).
pub(crate) const MAX_COUNT: u64 = 1000;
pub(crate) const DEFAULT_COUNT: u64 = 100;

/// A listing request, from a query string or a `SearchRequest`.
#[derive(Debug, Default, Clone)]
pub(crate) struct ListRequest {
    pub(crate) filter: Option<String>,
    pub(crate) sort_by: Option<String>,
    pub(crate) descending: bool,
    /// 1-based; `None` with a cursor.
    pub(crate) start_index: Option<u64>,
    pub(crate) count: u64,
    /// `Some("")` asks for the first page of a cursor listing.
    pub(crate) cursor: Option<String>,
    pub(crate) projection: Projection,
}

/// Which attributes a response carries.
#[derive(Debug, Default, Clone)]
pub(crate) struct Projection {
    pub(crate) attributes: Vec<String>,
    pub(crate) excluded: Vec<String>,
}

const PARAMETERS: [&str; 8] = [
    "filter",
    "sortBy",
    "sortOrder",
    "startIndex",
    "count",
    "cursor",
    "attributes",
    "excludedAttributes",
];

impl ListRequest {
    /// From the query string of a `GET`.
    pub(crate) fn from_query(query: Option<&str>) -> ScimResult<Self> {
        let mut map = Map::new();
        for (k, v) in form_pairs(query.unwrap_or(""))? {
            if map.insert(k.clone(), Value::String(v)).is_some() {
                return Err(ScimError::bad(
                    "invalidValue",
                    format!("`{k}` is given more than once"),
                ));
            }
        }
        Self::from_object(&map, true)
    }

    /// From the body of a `POST /.search`.
    pub(crate) fn from_search(body: &Value) -> ScimResult<Self> {
        super::require_schema(body, SEARCH_SCHEMA)?;
        let mut object = body.as_object().cloned().unwrap_or_default();
        object.retain(|k, _| !k.eq_ignore_ascii_case("schemas"));
        Self::from_object(&object, false)
    }

    /// `text`: whether values are query-string text (numbers and lists as strings).
    fn from_object(object: &Map<String, Value>, text: bool) -> ScimResult<Self> {
        if let Some(unknown) =
            object.keys().find(|k| !PARAMETERS.iter().any(|p| p.eq_ignore_ascii_case(k)))
        {
            return Err(ScimError::bad("invalidValue", format!("`{unknown}` is not a parameter")));
        }
        let string = |name: &str| -> ScimResult<Option<String>> {
            match get_ci(object, name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => {
                    Err(ScimError::bad("invalidValue", format!("`{name}` must be a string")))
                }
            }
        };
        let number = |name: &str| -> ScimResult<Option<i64>> {
            match get_ci(object, name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Number(n)) if !text => n.as_i64().map(Some).ok_or_else(|| {
                    ScimError::bad("invalidValue", format!("`{name}` must be an integer"))
                }),
                Some(Value::String(s)) if text => s.trim().parse().map(Some).map_err(|_| {
                    ScimError::bad("invalidValue", format!("`{name}` must be an integer"))
                }),
                Some(_) => {
                    Err(ScimError::bad("invalidValue", format!("`{name}` must be an integer")))
                }
            }
        };
        let names = |name: &str| -> ScimResult<Vec<String>> {
            match get_ci(object, name) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::String(s)) => Ok(split_names(s)),
                Some(Value::Array(items)) if !text => items
                    .iter()
                    .map(|v| v.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| {
                        ScimError::bad("invalidValue", format!("`{name}` must list strings"))
                    }),
                Some(_) => Err(ScimError::bad("invalidValue", format!("`{name}` must list names"))),
            }
        };
        let descending = match string("sortOrder")?.as_deref() {
            None => false,
            Some(o) if o.eq_ignore_ascii_case("ascending") => false,
            Some(o) if o.eq_ignore_ascii_case("descending") => true,
            Some(_) => {
                return Err(ScimError::bad(
                    "invalidValue",
                    "`sortOrder` must be `ascending` or `descending`",
                ));
            }
        };
        let cursor = string("cursor")?;
        let start_index = number("startIndex")?;
        if cursor.is_some() && start_index.is_some() {
            return Err(ScimError::bad(
                "invalidValue",
                "`cursor` and `startIndex` cannot be combined",
            ));
        }
        let projection =
            Projection { attributes: names("attributes")?, excluded: names("excludedAttributes")? };
        if !projection.attributes.is_empty() && !projection.excluded.is_empty() {
            return Err(ScimError::bad(
                "invalidValue",
                "`attributes` and `excludedAttributes` cannot be combined",
            ));
        }
        Ok(ListRequest {
            filter: string("filter")?.filter(|f| !f.trim().is_empty()),
            sort_by: string("sortBy")?,
            descending,
            // Values below 1 are read as 1, negative counts as 0 (RFC 7644 §3.4.2.4).
            start_index: if cursor.is_some() {
                None
            } else {
                Some(start_index.unwrap_or(1).max(1).unsigned_abs())
            },
            count: number("count")?
                .map_or(DEFAULT_COUNT, |c| c.max(0).unsigned_abs())
                .min(MAX_COUNT),
            cursor,
            projection,
        })
    }
}

/// Decodes `application/x-www-form-urlencoded` pairs.
fn form_pairs(query: &str) -> ScimResult<Vec<(String, String)>> {
    let uri: axum::http::Uri = format!("/?{query}")
        .parse()
        .map_err(|_| ScimError::bad("invalidValue", "the query string is not well-formed"))?;
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&uri)
        .map(|q| q.0)
        .map_err(|_| ScimError::bad("invalidValue", "the query string is not well-formed"))
}

fn split_names(s: &str) -> Vec<String> {
    s.split(',').map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned).collect()
}

/// A `ListResponse` of `resources` (already projected).
pub(crate) fn response(
    resources: Vec<Value>,
    total: u64,
    start_index: Option<u64>,
    next_cursor: Option<String>,
) -> Value {
    let mut body = json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    });
    if let Some(i) = start_index {
        body["startIndex"] = json!(i);
    }
    if let Some(c) = next_cursor {
        body["nextCursor"] = json!(c);
    }
    body
}

/// Attributes every response carries whatever the projection (RFC 7643 §7, `returned: always`).
const ALWAYS: [&str; 3] = ["id", "schemas", "meta"];

impl Projection {
    /// `attributes` / `excludedAttributes` from the query string of a request about one
    /// resource.
    pub(crate) fn from_query(query: Option<&str>) -> ScimResult<Self> {
        let mut projection = Projection::default();
        for (k, v) in form_pairs(query.unwrap_or(""))? {
            if k.eq_ignore_ascii_case("attributes") {
                projection.attributes.extend(split_names(&v));
            } else if k.eq_ignore_ascii_case("excludedAttributes") {
                projection.excluded.extend(split_names(&v));
            } else {
                return Err(ScimError::bad(
                    "invalidValue",
                    format!("`{k}` is not a parameter here"),
                ));
            }
        }
        Ok(projection)
    }

    /// Applies the projection to a resource document whose extension attributes sit under
    /// their schema URNs; `core` is the resource's core schema URN.
    pub(crate) fn apply(&self, document: Value, core: &str) -> Value {
        let Value::Object(mut object) = document else { return document };
        if !self.attributes.is_empty() {
            let mut kept = Map::new();
            for (k, v) in &object {
                if ALWAYS.iter().any(|a| a.eq_ignore_ascii_case(k)) {
                    kept.insert(k.clone(), v.clone());
                }
            }
            for name in &self.attributes {
                let (key, rest) = locate(&object, name, core);
                let Some(key) = key else { continue };
                match rest.as_deref() {
                    None => {
                        kept.insert(key.clone(), object[&key].clone());
                    }
                    Some(sub) => {
                        let picked = pick(&object[&key], sub);
                        if !picked.is_null() {
                            merge(kept.entry(key).or_insert(Value::Null), picked);
                        }
                    }
                }
            }
            object = kept;
        }
        for name in &self.excluded {
            let (key, rest) = locate(&object, name, core);
            let Some(key) = key else { continue };
            if ALWAYS.iter().any(|a| a.eq_ignore_ascii_case(&key)) {
                continue;
            }
            match rest.as_deref() {
                None => {
                    object.remove(&key);
                }
                Some(sub) => {
                    if let Some(v) = object.get_mut(&key) {
                        drop_sub(v, sub);
                    }
                }
            }
        }
        Value::Object(object)
    }
}

/// Finds the top-level key an attribute name refers to (`emails.value`, a URN-qualified core
/// attribute, or an extension's `urn:…:department`), with the rest of the path inside it.
fn locate(object: &Map<String, Value>, name: &str, core: &str) -> (Option<String>, Option<String>) {
    let lower = name.to_ascii_lowercase();
    // An extension's own attributes: `<urn>:<attribute>`, or the whole extension.
    for key in object.keys().filter(|k| k.starts_with("urn:")) {
        let k = key.to_ascii_lowercase();
        if lower == k {
            return (Some(key.clone()), None);
        }
        if let Some(rest) = lower.strip_prefix(&format!("{k}:")) {
            return (Some(key.clone()), Some(rest.to_owned()));
        }
    }
    let plain = lower.strip_prefix(&format!("{}:", core.to_ascii_lowercase())).unwrap_or(&lower);
    let (head, rest) = match plain.split_once('.') {
        Some((h, r)) => (h, Some(r.to_owned())),
        None => (plain, None),
    };
    let key = object.keys().find(|k| k.eq_ignore_ascii_case(head)).cloned();
    (key, rest)
}

/// The part of `value` (an object or an array of objects) a dotted sub-path selects.
fn pick(value: &Value, path: &str) -> Value {
    let (head, rest) = match path.split_once('.') {
        Some((h, r)) => (h, Some(r)),
        None => (path, None),
    };
    match value {
        Value::Array(items) => {
            let picked: Vec<Value> =
                items.iter().map(|i| pick(i, path)).filter(|v| !v.is_null()).collect();
            if picked.is_empty() { Value::Null } else { Value::Array(picked) }
        }
        Value::Object(o) => match o.iter().find(|(k, _)| k.eq_ignore_ascii_case(head)) {
            Some((k, v)) => {
                let inner = match rest {
                    Some(r) => pick(v, r),
                    None => v.clone(),
                };
                if inner.is_null() { Value::Null } else { json!({ k.clone(): inner }) }
            }
            None => Value::Null,
        },
        _ => Value::Null,
    }
}

/// Merges what [`pick`] selected for several sub-paths of one attribute.
fn merge(into: &mut Value, picked: Value) {
    match (into, picked) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (x, y) in a.iter_mut().zip(b) {
                merge(x, y);
            }
        }
        (slot, picked) => *slot = picked,
    }
}

fn drop_sub(value: &mut Value, path: &str) {
    let (head, rest) = match path.split_once('.') {
        Some((h, r)) => (h, Some(r)),
        None => (path, None),
    };
    match value {
        Value::Array(items) => items.iter_mut().for_each(|i| drop_sub(i, path)),
        Value::Object(o) => {
            let Some(key) = o.keys().find(|k| k.eq_ignore_ascii_case(head)).cloned() else {
                return;
            };
            match rest {
                Some(r) => drop_sub(o.get_mut(&key).unwrap_or(&mut Value::Null), r),
                None => {
                    o.remove(&key);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        json!({
            "schemas": ["s"], "id": "1", "meta": {"version": "W/\"1\""},
            "userName": "ada", "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "emails": [{"value": "a@x.example", "primary": true}],
            "urn:ext:User": {"department": "R&D", "costCenter": "7"}
        })
    }

    fn projected(attributes: &[&str], excluded: &[&str]) -> Value {
        let p = Projection {
            attributes: attributes.iter().map(|s| s.to_string()).collect(),
            excluded: excluded.iter().map(|s| s.to_string()).collect(),
        };
        p.apply(doc(), "urn:core:User")
    }

    #[test]
    fn attributes_keep_what_is_named_and_what_is_always_returned() {
        let p = projected(
            &["USERNAME", "name.familyName", "emails.value", "urn:ext:User:department"],
            &[],
        );
        assert_eq!(
            p,
            json!({
                "schemas": ["s"], "id": "1", "meta": {"version": "W/\"1\""},
                "userName": "ada", "name": {"familyName": "Lovelace"},
                "emails": [{"value": "a@x.example"}],
                "urn:ext:User": {"department": "R&D"}
            })
        );
        assert_eq!(projected(&["urn:core:User:userName"], &[])["userName"], "ada");
    }

    #[test]
    fn excluded_attributes_are_dropped_but_never_the_id() {
        let p = projected(&[], &["emails", "name.givenName", "id", "urn:ext:User"]);
        assert_eq!(
            p,
            json!({
                "schemas": ["s"], "id": "1", "meta": {"version": "W/\"1\""},
                "userName": "ada", "name": {"familyName": "Lovelace"}
            })
        );
    }

    #[test]
    fn parameters_are_checked() {
        let r =
            ListRequest::from_query(Some("count=5000&startIndex=0&sortOrder=Descending")).unwrap();
        assert_eq!((r.count, r.start_index, r.descending), (MAX_COUNT, Some(1), true));
        let r = ListRequest::from_query(Some("count=-3&cursor=")).unwrap();
        assert_eq!((r.count, r.start_index, r.cursor.as_deref()), (0, None, Some("")));
        for bad in ["count=x", "sortOrder=up", "cursor=a&startIndex=2", "foo=1", "count=1&count=2"]
        {
            let e = ListRequest::from_query(Some(bad)).unwrap_err();
            assert_eq!(e.scim_type, Some("invalidValue"), "{bad}");
        }
        let body = json!({"schemas": [SEARCH_SCHEMA], "attributes": ["userName"], "count": 2});
        let r = ListRequest::from_search(&body).unwrap();
        assert_eq!((r.count, r.projection.attributes), (2, vec!["userName".to_owned()]));
    }
}
