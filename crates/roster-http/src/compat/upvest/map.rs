//! Between the investment platform's user and the core: users out, create documents and data
//! changes (JSON Merge Patches) in. `salutation` and `title` are the core's values upper-cased
//! (`SALUTATION_` before a salutation), `""` when unset; `birth_*` are `birth.*`; address lines
//! are `line1`/`line2`.

use roster_core::user::{Address as CoreAddress, User, UserState};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::wire::{Address, UserFields};

/// A core field path in the platform's words, for error details.
pub(crate) fn field_name(field: &str) -> String {
    const NAMES: [(&str, &str); 13] = [
        ("name.given", "first_name"),
        ("name.family", "last_name"),
        ("name", "first_name"),
        ("salutation", "salutation"),
        ("title", "title"),
        ("birth.date", "birth_date"),
        ("birth.city", "birth_city"),
        ("birth.country", "birth_country"),
        ("birth.name", "birth_name"),
        ("nationalities", "nationalities"),
        ("postal_address", "postal_address"),
        ("address", "address"),
        ("username", "id"),
    ];
    match crate::surface::rename(field, &NAMES) {
        Some((theirs, rest)) => {
            let rest = rest.replace(".line1", ".address_line1").replace(".line2", ".address_line2");
            format!("{theirs}{rest}")
        }
        None => field.to_owned(),
    }
}

/// The platform's status of a core state: only `active` is ACTIVE.
pub(crate) fn status(state: UserState) -> &'static str {
    match state {
        UserState::Active => "ACTIVE",
        UserState::Inactive | UserState::Locked | UserState::Initial | UserState::Pending => {
            "INACTIVE"
        }
        UserState::Offboarding => "OFFBOARDING",
        UserState::Deleted => "OFFBOARDED",
    }
}

pub(super) fn time(t: OffsetDateTime) -> Value {
    t.format(&Rfc3339).map_or(Value::Null, Value::String)
}

/// A core enum value (`female_married`) as the platform spells it (`FEMALE_MARRIED`).
fn upper<T: serde::Serialize>(value: Option<&T>, prefix: &str) -> String {
    match value.and_then(|v| serde_json::to_value(v).ok()) {
        Some(Value::String(s)) => format!("{prefix}{}", s.to_ascii_uppercase()),
        _ => String::new(),
    }
}

fn address(a: &CoreAddress) -> Value {
    json!({
        "address_line1": a.line1, "address_line2": a.line2, "postcode": a.postcode,
        "city": a.city, "state": a.state, "country": a.country,
    })
}

/// A user as the platform answers it; an offboarded one has its personal data erased.
pub(crate) fn user(user: &User) -> Value {
    let p = &user.profile;
    let name = p.name.as_ref();
    let birth = p.birth.as_ref();
    let home = p.address.as_ref().map(address);
    json!({
        "id": user.id,
        "created_at": time(user.created_at),
        "updated_at": time(user.updated_at),
        "first_name": name.and_then(|n| n.given.as_deref()).unwrap_or_default(),
        "last_name": name.and_then(|n| n.family.as_deref()).unwrap_or_default(),
        "salutation": upper(p.salutation.as_ref(), "SALUTATION_"),
        "title": upper(p.title.as_ref(), ""),
        "birth_date": birth.and_then(|b| b.date.as_deref()).unwrap_or_default(),
        "birth_city": birth.and_then(|b| b.city.as_deref()).unwrap_or_default(),
        "birth_country": birth.and_then(|b| b.country.as_deref()).unwrap_or_default(),
        "birth_name": birth.and_then(|b| b.name.as_deref()).unwrap_or_default(),
        "nationalities": p.nationalities,
        // A postal address not given is the residential one.
        "postal_address": p.postal_address.as_ref().map(address).or_else(|| home.clone()),
        "address": home,
        "status": status(user.state),
    })
}

/// A core enum value from the platform's: `SALUTATION_FEMALE` → `female`; `""` unsets.
fn lower(value: &str, prefix: &str) -> Value {
    match value {
        "" => Value::Null,
        v => json!(v.strip_prefix(prefix).unwrap_or(v).to_ascii_lowercase()),
    }
}

/// An address as the core keeps it: exactly the members given (`null` for the others, so a
/// data change replaces the whole address).
fn core_address(a: &Address) -> Value {
    json!({
        "line1": a.address_line1, "line2": a.address_line2, "postcode": a.postcode,
        "city": a.city, "state": a.state, "country": a.country,
    })
}

/// Drops the `null` members of an object: what a create gives, without the absent.
fn given(mut value: Value) -> Value {
    if let Value::Object(map) = &mut value {
        map.retain(|_, v| !v.is_null());
    }
    value
}

/// The members of `fields` as a JSON Merge Patch of a core user (for a data change), or, with
/// `create`, as a create document (absent members left out).
pub(crate) fn document(fields: &UserFields, create: bool) -> Map<String, Value> {
    let keep = |v: Value| if create { given(v) } else { v };
    let mut doc = Map::new();
    let mut put = |name: &str, value: Value| {
        doc.insert(name.to_owned(), value);
    };
    if fields.first_name.is_some() || fields.last_name.is_some() {
        let name = json!({ "given": fields.first_name, "family": fields.last_name });
        // A data change names only what it changes; the other name part stays.
        put("name", given(name));
    }
    if let Some(s) = &fields.salutation {
        put("salutation", lower(s, "SALUTATION_"));
    }
    if let Some(t) = &fields.title {
        put("title", lower(t, ""));
    }
    let birth = json!({
        "date": fields.birth_date, "city": fields.birth_city,
        "country": fields.birth_country, "name": fields.birth_name,
    });
    let birth = given(birth);
    if birth.as_object().is_some_and(|b| !b.is_empty()) {
        put("birth", birth);
    }
    if let Some(n) = &fields.nationalities {
        put("nationalities", json!(n));
    }
    if let Some(a) = &fields.address {
        put("address", keep(core_address(a)));
    }
    match &fields.postal_address {
        Some(Some(a)) => put("postal_address", keep(core_address(a))),
        Some(None) if !create => put("postal_address", Value::Null),
        _ => {}
    }
    if create {
        doc.retain(|_, v| !v.is_null());
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_paths_read_in_the_platforms_words() {
        assert_eq!(field_name("birth.date"), "birth_date");
        assert_eq!(field_name("address.line1"), "address.address_line1");
        assert_eq!(field_name("postal_address.postcode"), "postal_address.postcode");
        assert_eq!(field_name("nationalities[1]"), "nationalities[1]");
    }

    #[test]
    fn enums_travel_both_ways() {
        assert_eq!(lower("SALUTATION_FEMALE_MARRIED", "SALUTATION_"), json!("female_married"));
        assert_eq!(lower("", "SALUTATION_"), Value::Null);
        let salutation = roster_core::user::Salutation::FemaleMarried;
        assert_eq!(upper(Some(&salutation), "SALUTATION_"), "SALUTATION_FEMALE_MARRIED");
        assert_eq!(upper::<roster_core::user::Title>(None, ""), "");
    }
}
