//! Transmit's search syntax (a subset of SCIM's filters): `FIELD OP "VALUE"` joined by `and` and
//! `or`, with parentheses; operators `eq ne gt ge lt le pr sw`. Parsed by the core's filter
//! parser, then checked against Transmit's fields and operators and rewritten onto the core's
//! paths: the primary e-mail and phone are the elements of `emails`/`phones` marked primary;
//! `external_account_id` and `custom_app_data.*` are the requesting application's membership.

use roster_core::filter::{AttrPath, CompareOp, Filter, Value as Literal};
use roster_core::id::ApplicationId;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::error::{Result, TransmitError};

fn bad(message: impl Into<String>) -> TransmitError {
    TransmitError::bad_one(format!("search: {}", message.into()))
}

/// `search` as a core filter; `app` is the requesting application (the token's).
pub(crate) fn filter(search: &str, app: Option<ApplicationId>) -> Result<Filter> {
    let parsed = Filter::parse(search).map_err(|e| bad(e.to_string()))?;
    translate(parsed, app)
}

fn translate(filter: Filter, app: Option<ApplicationId>) -> Result<Filter> {
    let both = |a: Box<Filter>, b: Box<Filter>| -> Result<(Box<Filter>, Box<Filter>)> {
        Ok((Box::new(translate(*a, app)?), Box::new(translate(*b, app)?)))
    };
    Ok(match filter {
        Filter::And(a, b) => both(a, b).map(|(a, b)| Filter::And(a, b))?,
        Filter::Or(a, b) => both(a, b).map(|(a, b)| Filter::Or(a, b))?,
        Filter::Not(_) => return Err(bad("`not` is not part of Transmit's syntax")),
        Filter::Elements(path, _) => {
            return Err(bad(format!("`{path}[…]` is not part of Transmit's syntax")));
        }
        Filter::Present(path) => field(&path, None, app)?,
        Filter::Compare(path, op, value) => {
            if matches!(op, CompareOp::Co | CompareOp::Ew) {
                return Err(bad(format!("`{}` is not one of Transmit's operators", op.as_str())));
            }
            field(&path, Some((op, value)), app)?
        }
    })
}

fn path(names: &[&str]) -> AttrPath {
    AttrPath::new(names.iter().copied())
}

fn compare(names: &[&str], op: CompareOp, value: Literal) -> Filter {
    Filter::Compare(path(names), op, value)
}

/// The element of `array` marked primary (or not), compared or present.
fn contact(array: &str, primary: bool, test: Option<(CompareOp, Literal)>) -> Filter {
    let marked = compare(&["primary"], CompareOp::Eq, Literal::Bool(primary));
    let test = match test {
        Some((op, value)) => compare(&["value"], op, value),
        None => Filter::Present(path(&["value"])),
    };
    Filter::Elements(path(&[array]), Box::new(Filter::And(Box::new(marked), Box::new(test))))
}

/// A Transmit field, present (`None`) or compared, as a core filter.
fn field(
    attr: &AttrPath,
    test: Option<(CompareOp, Literal)>,
    app: Option<ApplicationId>,
) -> Result<Filter> {
    let name = attr.names.join(".");
    let simple = |native: &[&str], test: Option<(CompareOp, Literal)>| match test {
        Some((op, value)) => compare(native, op, value),
        None => Filter::Present(path(native)),
    };
    Ok(match name.as_str() {
        "email" => contact("emails", true, test),
        "phone_number" => contact("phones", true, test),
        "secondary_emails" => contact("emails", false, test),
        "secondary_phone_numbers" => contact("phones", false, test),
        "name.first_name" => simple(&["name", "given"], test),
        "name.middle_name" => simple(&["name", "middle"], test),
        "name.last_name" => simple(&["name", "family"], test),
        "birthday" => simple(&["birth", "date"], test),
        "external_user_id" => simple(&["external_ids", "external_user_id"], test),
        "status" => status(test)?,
        "created_at" | "updated_at" | "last_auth" => {
            let column = if name == "last_auth" { "last_auth_at" } else { name.as_str() };
            match test {
                None => Filter::Present(path(&[column])),
                Some((op, value)) => {
                    compare(&[column], op, Literal::String(instant(&name, &value)?))
                }
            }
        }
        "external_account_id" => membership(app, simple(&["external_account_id"], test))?,
        n if n.starts_with("custom_app_data.") && attr.names.iter().all(|n| !n.is_empty()) => {
            let mut native = vec!["app_data"];
            native.extend(attr.names.iter().skip(1).map(String::as_str));
            membership(app, simple(&native, test))?
        }
        other => return Err(bad(format!("`{other}` is not a searchable field"))),
    })
}

/// `test` on the requesting application's membership of the user.
fn membership(app: Option<ApplicationId>, test: Filter) -> Result<Filter> {
    let Some(app) = app else {
        return Err(bad(
            "`external_account_id` and `custom_app_data` need a token bound to an application",
        ));
    };
    let this = compare(&["application_id"], CompareOp::Eq, Literal::String(app.to_string()));
    Ok(Filter::Elements(
        path(&["memberships"]),
        Box::new(Filter::And(Box::new(this), Box::new(test))),
    ))
}

/// A `status` comparison as a core filter.
fn status(test: Option<(CompareOp, Literal)>) -> Result<Filter> {
    let Some((op @ (CompareOp::Eq | CompareOp::Ne), Literal::String(value))) = test else {
        return Err(bad("`status` compares with eq or ne and a status"));
    };
    let Some(any) = with_status(&value) else {
        return Err(bad("`status` is one of Active, Disabled, Pending, Forget Requested"));
    };
    Ok(if op == CompareOp::Eq { any } else { Filter::Not(Box::new(any)) })
}

/// The users in Transmit's `status`, as the core states it stands for (the inverse of
/// [`super::map::status`]); `None` for a status Transmit does not have.
pub(super) fn with_status(status: &str) -> Option<Filter> {
    let states: &[&str] = match status {
        "Pending" => &["initial", "pending"],
        "Active" => &["active"],
        "Disabled" => &["inactive", "locked"],
        "Forget Requested" => &["offboarding"],
        _ => return None,
    };
    let state = |s: &&str| compare(&["state"], CompareOp::Eq, Literal::String((*s).to_owned()));
    let first = state(&states[0]);
    Some(states.iter().skip(1).fold(first, |f, s| Filter::Or(Box::new(f), Box::new(state(s)))))
}

/// A time as the core compares it (RFC 3339): an ISO 8601 date-time, a date (its midnight,
/// UTC), or epoch milliseconds.
fn instant(field: &str, value: &Literal) -> Result<String> {
    let wrong = || {
        bad(format!("`{field}` compares with an ISO 8601 date-time, a date or epoch milliseconds"))
    };
    let time = match value {
        Literal::Number(n) => {
            let ms = n.as_i64().ok_or_else(wrong)?;
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
                .map_err(|_| wrong())?
        }
        Literal::String(s) if s.len() == 10 => {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            time::Date::parse(s, format).map_err(|_| wrong())?.midnight().assume_utc()
        }
        Literal::String(s) => OffsetDateTime::parse(s, &Rfc3339).map_err(|_| wrong())?,
        _ => return Err(wrong()),
    };
    time.format(&Rfc3339).map_err(|_| wrong())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transmits_example_translates() {
        let f = filter(r#"(status eq "Pending") and (name.first_name sw "John") and (created_at le "2022-08-22")"#, None)
            .unwrap();
        let printed = f.to_string();
        assert!(printed.contains("state eq \"initial\""), "{printed}");
        assert!(printed.contains("name.given sw \"John\""), "{printed}");
        assert!(printed.contains("created_at le \"2022-08-22T00:00:00Z\""), "{printed}");
    }

    #[test]
    fn what_transmit_does_not_have_is_refused() {
        for search in [
            r#"email co "a""#,
            r#"email ew "a""#,
            r#"not (email eq "a")"#,
            r#"username eq "a""#,
            r#"custom_data.tier eq "gold""#,
            r#"status eq "Sleeping""#,
            r#"status gt "Active""#,
            r#"emails[value eq "a"]"#,
            r#"email eq"#,
        ] {
            let e = filter(search, None).unwrap_err();
            assert!(format!("{e:?}").contains("search"), "{search}");
        }
    }

    #[test]
    fn the_applications_fields_are_its_membership() {
        let app = ApplicationId::from_uuid(uuid::Uuid::from_u128(7));
        let f =
            filter(r#"custom_app_data.plan.tier eq "gold" or external_account_id pr"#, Some(app))
                .unwrap();
        let printed = f.to_string();
        let this = format!(r#"application_id eq "{app}""#);
        assert!(
            printed.contains(&format!(r#"memberships[{this} and app_data.plan.tier eq "gold"]"#)),
            "{printed}"
        );
        assert!(
            printed.contains(&format!("memberships[{this} and external_account_id pr]")),
            "{printed}"
        );
        for search in [r#"external_account_id eq "a""#, r#"custom_app_data.plan eq "a""#] {
            let e = filter(search, None).unwrap_err();
            assert!(format!("{e:?}").contains("bound to an application"), "{search}");
        }
        assert!(filter(r#"custom_app_data eq "a""#, Some(app)).is_err());
    }
}
