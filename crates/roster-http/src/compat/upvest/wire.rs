//! The investment platform's request bodies and their rules ("bring your own licence" users):
//! read strictly (an unknown member is refused) and checked at once, every failing field named
//! by its path (`address.postcode`).

use serde::Deserialize;
use serde_json::Value;

use super::error::{Result, UpvestError};

/// The members of a user that a create or a data change may give.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserFields {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub salutation: Option<String>,
    pub title: Option<String>,
    pub birth_date: Option<String>,
    pub birth_city: Option<String>,
    pub birth_country: Option<String>,
    pub birth_name: Option<String>,
    pub nationalities: Option<Vec<String>>,
    pub address: Option<Address>,
    /// Absent, `null` (a copy of `address`), or an address.
    #[serde(default, deserialize_with = "present")]
    pub postal_address: Option<Option<Address>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Address {
    pub address_line1: Option<String>,
    pub address_line2: Option<String>,
    pub postcode: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub country: Option<String>,
}

/// A member that may be `null`: present (`Some`) either way.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> std::result::Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

pub(crate) const SALUTATIONS: [&str; 4] =
    ["SALUTATION_MALE", "SALUTATION_FEMALE", "SALUTATION_FEMALE_MARRIED", "SALUTATION_DIVERSE"];
pub(crate) const TITLES: [&str; 5] = ["DR", "PROF", "PROF_DR", "DIPL_ING", "MAGISTER"];

/// `body` as user members, checked by the platform's rules; `create` requires what a create
/// must give. Every failing member is named at once.
pub(crate) fn user_fields(body: Value, create: bool) -> Result<UserFields> {
    if !body.is_object() {
        return Err(UpvestError::bad_request("the body must be a JSON object"));
    }
    let fields: UserFields = serde_path_to_error::deserialize(body).map_err(|e| {
        let path = e.path().to_string();
        UpvestError::bad_request(format!("{path}: {}", e.into_inner()))
    })?;
    let mut wrong = Vec::new();
    let mut check = |ok: bool, field: &str, rule: &str| {
        if !ok {
            wrong.push(format!("{field}: {rule}"));
        }
    };
    let chars = |s: &Option<String>| s.as_deref().map(|s| s.chars().count());
    let within = |s: &Option<String>, min: usize, max: usize| {
        chars(s).is_none_or(|n| (min..=max).contains(&n))
    };
    if create {
        for (given, name) in [
            (fields.first_name.is_some(), "first_name"),
            (fields.last_name.is_some(), "last_name"),
            (fields.birth_date.is_some(), "birth_date"),
            (fields.nationalities.is_some(), "nationalities"),
            (fields.address.is_some(), "address"),
        ] {
            check(given, name, "is required");
        }
    }
    check(within(&fields.first_name, 2, 100), "first_name", "2 to 100 characters");
    check(within(&fields.last_name, 2, 100), "last_name", "2 to 100 characters");
    let salutation = fields.salutation.as_deref();
    check(
        salutation.is_none_or(|s| s.is_empty() || SALUTATIONS.contains(&s)),
        "salutation",
        "one of \"\", SALUTATION_MALE, SALUTATION_FEMALE, SALUTATION_FEMALE_MARRIED, SALUTATION_DIVERSE",
    );
    let title = fields.title.as_deref();
    check(
        title.is_none_or(|t| t.is_empty() || TITLES.contains(&t)),
        "title",
        "one of \"\", DR, PROF, PROF_DR, DIPL_ING, MAGISTER",
    );
    check(
        fields.birth_date.as_deref().is_none_or(is_date),
        "birth_date",
        "a calendar date, YYYY-MM-DD",
    );
    check(within(&fields.birth_city, 1, 85), "birth_city", "1 to 85 characters");
    check(within(&fields.birth_name, 0, 100), "birth_name", "at most 100 characters");
    check(
        fields.birth_country.as_deref().is_none_or(is_country),
        "birth_country",
        "an ISO 3166-1 alpha-2 country code such as DE",
    );
    if let Some(nationalities) = &fields.nationalities {
        check(!nationalities.is_empty(), "nationalities", "at least one");
        for (i, n) in nationalities.iter().enumerate() {
            check(is_country(n), &format!("nationalities[{i}]"), "an ISO 3166-1 alpha-2 code");
        }
    }
    let addresses = [
        ("address", fields.address.as_ref()),
        ("postal_address", fields.postal_address.as_ref().and_then(Option::as_ref)),
    ];
    for (name, address) in addresses {
        let Some(a) = address else { continue };
        let postcode = a.postcode.as_deref();
        let field = |member: &str| format!("{name}.{member}");
        check(a.address_line1.is_some(), &field("address_line1"), "is required");
        check(within(&a.address_line1, 0, 100), &field("address_line1"), "at most 100 characters");
        check(within(&a.address_line2, 0, 100), &field("address_line2"), "at most 100 characters");
        check(
            postcode.is_some_and(|p| {
                (1..=10).contains(&p.chars().count())
                    && p.chars().all(|c| c.is_ascii_alphanumeric() || c.is_whitespace() || c == '-')
            }),
            &field("postcode"),
            "required, 1 to 10 letters, digits, spaces or dashes",
        );
        check(
            a.city.is_some() && within(&a.city, 1, 85),
            &field("city"),
            "required, 1 to 85 characters",
        );
        check(within(&a.state, 0, 50), &field("state"), "at most 50 characters");
        check(
            a.country.as_deref().is_some_and(is_country),
            &field("country"),
            "required, an ISO 3166-1 alpha-2 country code",
        );
    }
    if wrong.is_empty() { Ok(fields) } else { Err(UpvestError::bad_request(wrong.join("; "))) }
}

/// `YYYY-MM-DD` naming a real day.
fn is_date(s: &str) -> bool {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    s.len() == 10 && time::Date::parse(s, format).is_ok()
}

/// A country code of the seed's list: ISO 3166-1 alpha-2, and `XK` (Kosovo).
fn is_country(s: &str) -> bool {
    roster_core::validate::is_country(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_failing_member_is_named_at_once() {
        let body = json!({
            "first_name": "K", "last_name": "Schmidt", "salutation": "MR", "birth_date": "1972-02-30",
            "nationalities": [], "address": { "address_line1": "Rosenweg 1", "postcode": "12345678901",
            "city": "Berlin", "country": "de" },
        });
        let detail = user_fields(body, true).unwrap_err().detail;
        for field in [
            "first_name",
            "salutation",
            "birth_date",
            "nationalities",
            "address.postcode",
            "address.country",
        ] {
            assert!(detail.contains(&format!("{field}:")), "{field}: {detail}");
        }
        assert!(!detail.contains("last_name"), "{detail}");
    }

    #[test]
    fn unknown_members_and_wrong_types_are_refused() {
        let unknown = user_fields(json!({ "email": "a@b.c" }), false).unwrap_err();
        assert!(unknown.detail.contains("email"), "{}", unknown.detail);
        let typed = user_fields(json!({ "address": { "city": 3 } }), false).unwrap_err();
        assert!(typed.detail.contains("address.city"), "{}", typed.detail);
        let null_postal = user_fields(json!({ "postal_address": null }), false).unwrap();
        assert!(matches!(null_postal.postal_address, Some(None)));
    }
}
