//! PATCH (RFC 7644 §3.5.2): `add`, `replace` and `remove` operations applied in order to a
//! resource's SCIM document, which the resource then maps back to the core as a whole (so a
//! PATCH is validated, and committed, exactly like a PUT of its result).
//!
//! Paths are `attr`, `attr.sub`, `attr[filter]`, `attr[filter].sub`, each optionally behind a
//! schema URN (an extension's attributes live under its URN). Value filters use the filter
//! parser of every listing and are evaluated here on the elements of the multi-valued attribute.

use roster_core::filter::{CompareOp, Filter, Value as Literal};
use serde_json::{Map, Value};

use super::{PATCH_SCHEMA, ScimError, ScimResult, get_ci};

/// What a resource tells the patcher about its schema.
pub(crate) struct Schema {
    /// The core schema URN (a path may be qualified with it).
    pub(crate) core: &'static str,
    /// Extension URNs: their attributes sit under the URN in the document.
    pub(crate) extensions: &'static [&'static str],
    /// Whether `attr` (top-level, or of the extension `urn`) is an attribute of the resource.
    pub(crate) known: fn(urn: Option<&str>, attr: &str) -> bool,
    /// Attributes a client cannot change.
    pub(crate) read_only: &'static [&'static str],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Replace,
    Remove,
}

#[derive(Debug)]
struct Path {
    /// The extension the attribute belongs to.
    urn: Option<&'static str>,
    /// `None` when the path is an extension URN itself.
    attr: Option<String>,
    filter: Option<Filter>,
    sub: Option<String>,
}

/// Applies the operations of a `PatchOp` body to `document`.
pub(crate) fn apply(document: &mut Value, body: &Value, schema: &Schema) -> ScimResult<()> {
    super::require_schema(body, PATCH_SCHEMA)?;
    let object = body.as_object().cloned().unwrap_or_default();
    let Some(Value::Array(ops)) = get_ci(&object, "Operations") else {
        return Err(ScimError::bad("invalidSyntax", "`Operations` must be an array"));
    };
    if ops.is_empty() {
        return Err(ScimError::bad("invalidSyntax", "`Operations` is empty"));
    }
    for (i, op) in ops.iter().enumerate() {
        apply_one(document, op, schema)
            .map_err(|e| ScimError { detail: format!("Operations[{i}]: {}", e.detail), ..e })?;
    }
    Ok(())
}

fn apply_one(document: &mut Value, op: &Value, schema: &Schema) -> ScimResult<()> {
    let Some(op) = op.as_object() else {
        return Err(ScimError::bad("invalidSyntax", "an operation must be an object"));
    };
    if let Some(k) =
        op.keys().find(|k| !["op", "path", "value"].iter().any(|n| n.eq_ignore_ascii_case(k)))
    {
        return Err(ScimError::bad(
            "invalidSyntax",
            format!("`{k}` is not a member of an operation"),
        ));
    }
    let kind = match get_ci(op, "op").and_then(Value::as_str).map(str::to_ascii_lowercase) {
        Some(o) if o == "add" => Op::Add,
        Some(o) if o == "replace" => Op::Replace,
        Some(o) if o == "remove" => Op::Remove,
        _ => {
            return Err(ScimError::bad(
                "invalidSyntax",
                "`op` must be `add`, `replace` or `remove`",
            ));
        }
    };
    let value = get_ci(op, "value").cloned();
    let path = match get_ci(op, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) => Some(parse_path(p, schema)?),
        Some(_) => return Err(ScimError::bad("invalidPath", "`path` must be a string")),
    };
    let Some(path) = path else {
        return match (kind, value) {
            (Op::Remove, _) => Err(ScimError::bad("noTarget", "`remove` needs a `path`")),
            (_, Some(Value::Object(values))) => {
                for (key, v) in values {
                    if ["schemas", "id", "meta"].iter().any(|k| k.eq_ignore_ascii_case(&key)) {
                        continue;
                    }
                    let path = parse_path(&key, schema)?;
                    set(document, &path, kind, v)?;
                }
                Ok(())
            }
            _ => Err(ScimError::bad("invalidValue", "without a `path`, `value` must be an object")),
        };
    };
    if let Some(attr) = &path.attr
        && path.urn.is_none()
        && schema.read_only.iter().any(|r| r.eq_ignore_ascii_case(attr))
    {
        return Err(ScimError::bad("mutability", format!("`{attr}` is read-only")));
    }
    match (kind, value) {
        (Op::Remove, value) => remove(document, &path, value.as_ref()),
        (_, None | Some(Value::Null)) => {
            Err(ScimError::bad("invalidValue", "`add` and `replace` need a `value`"))
        }
        (_, Some(value)) => set(document, &path, kind, value),
    }
}

fn parse_path(text: &str, schema: &Schema) -> ScimResult<Path> {
    let bad = |why: &str| ScimError::bad("invalidPath", format!("`{text}`: {why}"));
    let lower = text.to_ascii_lowercase();
    let mut urn = None;
    let mut rest = text;
    for ext in schema.extensions {
        let e = ext.to_ascii_lowercase();
        if lower == e {
            return Ok(Path { urn: Some(ext), attr: None, filter: None, sub: None });
        }
        if lower.starts_with(&format!("{e}:")) {
            urn = Some(*ext);
            rest = &text[e.len() + 1..];
        }
    }
    let core = format!("{}:", schema.core.to_ascii_lowercase());
    if urn.is_none() && lower.starts_with(&core) {
        rest = &text[core.len()..];
    }
    let (attr, filter, sub) = match rest.find('[') {
        Some(open) => {
            let close = rest.rfind(']').ok_or_else(|| bad("`[` is not closed"))?;
            let filter = Filter::parse(&format!("x[{}]", &rest[open + 1..close]))
                .map_err(|e| ScimError::bad("invalidFilter", format!("`{text}`: {e}")))?;
            let Filter::Elements(_, inner) = filter else { return Err(bad("not a value filter")) };
            let after = &rest[close + 1..];
            let sub = match after {
                "" => None,
                s => Some(
                    s.strip_prefix('.').ok_or_else(|| bad("expected `.` after `]`"))?.to_owned(),
                ),
            };
            (&rest[..open], Some(*inner), sub)
        }
        None => match rest.split_once('.') {
            Some((a, s)) => (a, None, Some(s.to_owned())),
            None => (rest, None, None),
        },
    };
    let valid = |s: &str| {
        !s.is_empty()
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'$')
    };
    if !valid(attr) || sub.as_deref().is_some_and(|s| !valid(s)) {
        return Err(bad("not an attribute path"));
    }
    if !(schema.known)(urn, attr) {
        return Err(bad("no such attribute"));
    }
    Ok(Path { urn, attr: Some(attr.to_owned()), filter, sub })
}

/// The object holding the path's attribute: the document, or its extension's object.
fn container<'a>(
    document: &'a mut Value,
    path: &Path,
    create: bool,
) -> Option<&'a mut Map<String, Value>> {
    let root = document.as_object_mut()?;
    match path.urn {
        None => Some(root),
        Some(urn) => {
            let key = key_of(root, urn).unwrap_or_else(|| urn.to_owned());
            if create && !root.get(&key).is_some_and(Value::is_object) {
                root.insert(key.clone(), Value::Object(Map::new()));
            }
            root.get_mut(&key)?.as_object_mut()
        }
    }
}

/// The existing key for `name`, compared without case.
fn key_of(object: &Map<String, Value>, name: &str) -> Option<String> {
    object.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

fn set(document: &mut Value, path: &Path, op: Op, value: Value) -> ScimResult<()> {
    let Some(attr) = &path.attr else {
        // The extension as a whole: its attributes one by one.
        let Value::Object(values) = value else {
            return Err(ScimError::bad("invalidValue", "an extension's value must be an object"));
        };
        for (k, v) in values.into_iter().filter(|(k, _)| !k.eq_ignore_ascii_case("schemas")) {
            let inner = Path { urn: path.urn, attr: Some(k), filter: None, sub: None };
            set(document, &inner, op, v)?;
        }
        return Ok(());
    };
    let object = container(document, path, true)
        .ok_or_else(|| ScimError::bad("invalidPath", "the resource is not an object"))?;
    let key = key_of(object, attr).unwrap_or_else(|| attr.clone());
    let current = object.entry(key).or_insert(Value::Null);
    match (&path.filter, &path.sub) {
        (None, None) => {
            match (op, &mut *current, value) {
                (Op::Add, Value::Array(items), Value::Array(new)) => {
                    for v in new {
                        if !items.contains(&v) {
                            items.push(v);
                        }
                    }
                }
                (Op::Add, Value::Array(items), v) => {
                    if !items.contains(&v) {
                        items.push(v);
                    }
                }
                (_, Value::Object(existing), Value::Object(new)) => {
                    for (k, v) in new {
                        let k = key_of(existing, &k).unwrap_or(k);
                        existing.insert(k, v);
                    }
                }
                (_, slot, v) => *slot = v,
            }
            Ok(())
        }
        (None, Some(sub)) => match current {
            Value::Null => {
                *current = Value::Object(Map::from_iter([(sub.clone(), value)]));
                Ok(())
            }
            Value::Object(o) => {
                let k = key_of(o, sub).unwrap_or_else(|| sub.clone());
                o.insert(k, value);
                Ok(())
            }
            _ => {
                Err(ScimError::bad("invalidPath", format!("`{attr}` has no sub-attribute `{sub}`")))
            }
        },
        (Some(filter), sub) => {
            if current.is_null() {
                *current = Value::Array(Vec::new());
            }
            let Value::Array(items) = current else {
                return Err(ScimError::bad("invalidPath", format!("`{attr}` is not multi-valued")));
            };
            let mut matched = false;
            for item in items.iter_mut().filter(|i| matches(filter, i)) {
                matched = true;
                set_in_element(item, sub.as_deref(), value.clone())?;
            }
            if matched {
                return Ok(());
            }
            // `add` to a value path that selects nothing adds the element it describes.
            match (op, equalities(filter)) {
                (Op::Add, Some(fields)) => {
                    let mut item = Value::Object(fields);
                    set_in_element(&mut item, sub.as_deref(), value)?;
                    items.push(item);
                    Ok(())
                }
                _ => Err(ScimError::bad(
                    "noTarget",
                    format!("no value of `{attr}` matches the filter"),
                )),
            }
        }
    }
}

fn set_in_element(item: &mut Value, sub: Option<&str>, value: Value) -> ScimResult<()> {
    let Value::Object(element) = item else {
        return Err(ScimError::bad("invalidPath", "the selected values are not complex"));
    };
    match (sub, value) {
        (Some(sub), v) => {
            let k = key_of(element, sub).unwrap_or_else(|| sub.to_owned());
            element.insert(k, v);
        }
        (None, Value::Object(new)) => {
            for (k, v) in new {
                let k = key_of(element, &k).unwrap_or(k);
                element.insert(k, v);
            }
        }
        (None, _) => {
            return Err(ScimError::bad("invalidValue", "a selected complex value takes an object"));
        }
    }
    Ok(())
}

fn remove(document: &mut Value, path: &Path, value: Option<&Value>) -> ScimResult<()> {
    let Some(object) = container(document, path, false) else { return Ok(()) };
    let Some(attr) = &path.attr else {
        if let (Some(urn), Some(root)) = (path.urn, document.as_object_mut()) {
            root.retain(|k, _| !k.eq_ignore_ascii_case(urn));
        }
        return Ok(());
    };
    let Some(key) = key_of(object, attr) else { return Ok(()) };
    match (&path.filter, &path.sub) {
        (None, None) => match (object.get_mut(&key), value) {
            // `remove` with the values to take out of a multi-valued attribute (as some
            // provisioning clients send member removals).
            (Some(Value::Array(items)), Some(v)) if !v.is_null() => {
                let gone: Vec<&Value> = match v {
                    Value::Array(vs) => vs.iter().collect(),
                    v => vec![v],
                };
                items.retain(|item| !gone.iter().any(|g| same_value(item, g)));
            }
            _ => {
                object.remove(&key);
            }
        },
        (None, Some(sub)) => match object.get_mut(&key) {
            Some(Value::Object(o)) => o.retain(|k, _| !k.eq_ignore_ascii_case(sub)),
            Some(Value::Array(items)) => {
                for item in items.iter_mut().filter_map(Value::as_object_mut) {
                    item.retain(|k, _| !k.eq_ignore_ascii_case(sub));
                }
            }
            _ => {}
        },
        (Some(filter), sub) => {
            if let Some(Value::Array(items)) = object.get_mut(&key) {
                match sub {
                    None => items.retain(|i| !matches(filter, i)),
                    Some(sub) => {
                        for item in items.iter_mut().filter(|i| matches(filter, i)) {
                            if let Value::Object(o) = item {
                                o.retain(|k, _| !k.eq_ignore_ascii_case(sub));
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// Whether an element equals a value to remove: by `value` when both have one.
fn same_value(item: &Value, gone: &Value) -> bool {
    match (item.get("value"), gone.get("value")) {
        (Some(a), Some(b)) => loose_eq(a, b),
        _ => item == gone,
    }
}

fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(a), Value::String(b)) => a.eq_ignore_ascii_case(b),
        _ => a == b,
    }
}

/// Whether an element of a multi-valued attribute satisfies a value filter.
pub(crate) fn matches(filter: &Filter, item: &Value) -> bool {
    match filter {
        Filter::And(a, b) => matches(a, item) && matches(b, item),
        Filter::Or(a, b) => matches(a, item) || matches(b, item),
        Filter::Not(f) => !matches(f, item),
        Filter::Present(path) => field(item, &path.names)
            .is_some_and(|v| !v.is_null() && v != &Value::String(String::new())),
        Filter::Compare(path, op, literal) => {
            let v = field(item, &path.names).unwrap_or(&Value::Null);
            compare(v, *op, literal)
        }
        Filter::Elements(..) => false,
    }
}

fn field<'a>(item: &'a Value, names: &[String]) -> Option<&'a Value> {
    names.iter().try_fold(item, |v, name| get_ci(v.as_object()?, name))
}

fn compare(v: &Value, op: CompareOp, literal: &Literal) -> bool {
    use std::cmp::Ordering;
    let ordering = match (v, literal) {
        (Value::String(a), Literal::String(b)) => {
            let (a, b) = (a.to_lowercase(), b.to_lowercase());
            match op {
                CompareOp::Co => return a.contains(&b),
                CompareOp::Sw => return a.starts_with(&b),
                CompareOp::Ew => return a.ends_with(&b),
                _ => a.cmp(&b),
            }
        }
        (Value::Bool(a), Literal::Bool(b)) => a.cmp(b),
        (Value::Number(a), Literal::Number(b)) => {
            match a.as_f64().zip(b.as_f64()).and_then(|(a, b)| a.partial_cmp(&b)) {
                Some(o) => o,
                None => return false,
            }
        }
        (Value::Null, Literal::Null) => Ordering::Equal,
        (_, Literal::Null) => return op == CompareOp::Ne,
        _ => return op == CompareOp::Ne,
    };
    match op {
        CompareOp::Eq => ordering == Ordering::Equal,
        CompareOp::Ne => ordering != Ordering::Equal,
        CompareOp::Gt => ordering == Ordering::Greater,
        CompareOp::Ge => ordering != Ordering::Less,
        CompareOp::Lt => ordering == Ordering::Less,
        CompareOp::Le => ordering != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

/// The fields a filter made only of `eq` comparisons joined by `and` pins, as an element.
fn equalities(filter: &Filter) -> Option<Map<String, Value>> {
    match filter {
        Filter::And(a, b) => {
            let mut fields = equalities(a)?;
            fields.extend(equalities(b)?);
            Some(fields)
        }
        Filter::Compare(path, CompareOp::Eq, literal) if path.names.len() == 1 => {
            let value = match literal {
                Literal::String(s) => Value::String(s.clone()),
                Literal::Bool(b) => Value::Bool(*b),
                Literal::Number(n) => Value::Number(n.clone()),
                Literal::Null => return None,
            };
            Some(Map::from_iter([(path.names[0].clone(), value)]))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const SCHEMA: Schema = Schema {
        core: "urn:core:User",
        extensions: &["urn:ext:User"],
        known: |urn, attr| match urn {
            None => ["userName", "name", "emails", "active", "members", "id"]
                .iter()
                .any(|a| a.eq_ignore_ascii_case(attr)),
            Some(_) => attr.eq_ignore_ascii_case("department"),
        },
        read_only: &["id"],
    };

    fn patched(ops: Value) -> ScimResult<Value> {
        let mut doc = json!({
            "userName": "ada",
            "name": {"givenName": "Ada"},
            "emails": [{"value": "a@x.example", "type": "work", "primary": true}],
        });
        apply(&mut doc, &json!({"schemas": [PATCH_SCHEMA], "Operations": ops}), &SCHEMA)?;
        Ok(doc)
    }

    #[test]
    fn operations_follow_rfc_7644() {
        let doc = patched(json!([
            {"op": "Replace", "path": "name.familyName", "value": "Lovelace"},
            {"op": "add", "path": "emails", "value": [{"value": "b@x.example"}]},
            {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "c@x.example"},
            {"op": "add", "value": {"active": false, "urn:ext:User:department": "R&D"}},
            {"op": "remove", "path": "emails[value eq \"B@X.EXAMPLE\"]"},
        ]))
        .unwrap();
        assert_eq!(
            doc,
            json!({
                "userName": "ada",
                "name": {"givenName": "Ada", "familyName": "Lovelace"},
                "emails": [{"value": "c@x.example", "type": "work", "primary": true}],
                "active": false,
                "urn:ext:User": {"department": "R&D"}
            })
        );
    }

    #[test]
    fn add_to_a_value_path_that_selects_nothing_adds_the_element() {
        let doc = patched(json!([
            {"op": "add", "path": "emails[type eq \"home\"].value", "value": "h@x.example"}
        ]))
        .unwrap();
        assert_eq!(doc["emails"][1], json!({"type": "home", "value": "h@x.example"}));
    }

    #[test]
    fn errors_name_their_scim_type() {
        let cases = [
            (json!([{"op": "remove"}]), "noTarget"),
            (
                json!([{"op": "replace", "path": "emails[type eq \"home\"].value", "value": "x"}]),
                "noTarget",
            ),
            (json!([{"op": "replace", "path": "nosuch", "value": 1}]), "invalidPath"),
            (json!([{"op": "replace", "path": "emails[type eq ]", "value": 1}]), "invalidFilter"),
            (json!([{"op": "replace", "path": "id", "value": "x"}]), "mutability"),
            (json!([{"op": "move", "path": "userName"}]), "invalidSyntax"),
            (json!([{"op": "add", "path": "userName"}]), "invalidValue"),
            (json!([]), "invalidSyntax"),
        ];
        for (ops, expected) in cases {
            let e = patched(ops.clone()).unwrap_err();
            assert_eq!(e.scim_type, Some(expected), "{ops}: {}", e.detail);
        }
    }

    #[test]
    fn member_removal_by_value_list() {
        let mut doc = json!({"members": [{"value": "a"}, {"value": "b"}, {"value": "c"}]});
        let body = json!({"schemas": [PATCH_SCHEMA], "Operations": [
            {"op": "remove", "path": "members", "value": [{"value": "a"}, {"value": "C"}]}
        ]});
        apply(&mut doc, &body, &SCHEMA).unwrap();
        assert_eq!(doc, json!({"members": [{"value": "b"}]}));
    }
}
