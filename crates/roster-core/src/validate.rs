//! Parse, don't validate: turns a [`UserInput`] into the normalised values the directory keeps,
//! collecting every field error at once.

use std::collections::BTreeMap;
use std::collections::BTreeSet;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use time::Date;
use time::macros::format_description;

use crate::error::{Error, FieldError, Result};
use crate::id::OrgId;
use crate::input::{MachineInput, UserInput};
use crate::secret::HashLimits;
use crate::user::{
    AccessTokenType, Address, Birth, Contact, ExternalIds, Gender, Identity, Machine, PersonName,
    Profile, Salutation, Title, UserKind, UserState,
};

/// Longest username, name part or other short text, in characters.
pub const MAX_TEXT: usize = 200;
/// Largest serialised `claims` or `app_data`, in bytes.
pub const MAX_JSON_BYTES: usize = 64 * 1024;
/// Deepest nesting of `claims` or `app_data`.
pub const MAX_JSON_DEPTH: usize = 32;
/// Longest e-mail address (RFC 5321's path limit less the brackets).
pub const MAX_EMAIL: usize = 254;
pub const MAX_CONTACTS: usize = 20;
pub const MAX_ATTRIBUTES: usize = 100;
pub const MAX_ATTRIBUTE_VALUES: usize = 100;
pub const MAX_ATTRIBUTE_VALUE: usize = 1000;
/// Password length bounds; the upper one bounds hashing cost.
pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Whether the document creates a user or replaces one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Create,
    Replace,
}

/// A user document that passed validation, normalised.
#[derive(Debug)]
pub struct ValidUser {
    /// A caller-chosen id, on create.
    pub id: Option<crate::UserId>,
    pub kind: UserKind,
    /// Unique in the tenant when set; a user may have none (as MATTR's).
    pub username: Option<String>,
    pub state: Option<UserState>,
    pub organization_id: Option<OrgId>,
    pub profile: Profile,
    pub password: Option<Option<SecretString>>,
    /// An imported hash, checked for a known scheme.
    pub password_hash: Option<String>,
    /// On create: the password must be changed at the next sign-in.
    pub password_change_required: bool,
    pub national_id: Option<Option<SecretString>>,
}

/// The case-insensitive form under which a username is unique.
pub fn username_key(username: &str) -> String {
    username.to_lowercase()
}

/// An e-mail address with its domain lower-cased, or `None` when it is not an address.
pub fn email(value: &str) -> Option<String> {
    if value.len() > MAX_EMAIL || !email_address::EmailAddress::is_valid(value) {
        return None;
    }
    let (local, domain) = value.rsplit_once('@')?;
    Some(format!("{local}@{}", domain.to_lowercase()))
}

/// The case-insensitive form under which an e-mail address is unique.
pub fn email_key(email: &str) -> String {
    email.to_lowercase()
}

/// Every value country fields take: the ISO 3166-1 alpha-2 codes, and `XK` ([`is_country`]).
pub fn country_codes() -> Vec<&'static str> {
    let mut codes: Vec<&'static str> =
        celes::Country::get_countries().iter().map(|c| c.alpha2).collect();
    codes.push("XK");
    codes
}

/// Whether `code` is an ISO 3166-1 alpha-2 country code, or `XK`: the code Kosovo goes by in
/// passports and banking (user-assigned in ISO 3166, listed by the investment platform).
pub fn is_country(code: &str) -> bool {
    code.len() == 2
        && code.bytes().all(|b| b.is_ascii_uppercase())
        && (code == "XK" || celes::Country::from_alpha2(code).is_ok())
}

/// A phone number in E.164 form (`+` and 8 to 15 digits), or `None`.
pub fn phone(value: &str) -> Option<String> {
    phone_in(value, None)
}

/// [`phone`], reading a number without a country code as one of `region` (ISO 3166-1).
pub fn phone_in(value: &str, region: Option<phonenumber::country::Id>) -> Option<String> {
    let e164 = |s: &str| {
        s.strip_prefix('+')
            .is_some_and(|d| (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
    };
    if value.len() > 64 {
        return None;
    }
    // The phone-number crate understands spaces, dashes and brackets; its E.164 rendering is the
    // canonical form. Numbers it cannot parse are kept when they are already plain E.164.
    let parsed = phonenumber::parse(region, value)
        .ok()
        .map(|n| n.format().mode(phonenumber::Mode::E164).to_string())
        .filter(|s| e164(s));
    parsed.or_else(|| e164(value).then(|| value.to_owned()))
}

/// What validation depends on besides the document: the deployment's settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rules {
    /// What an imported password hash may cost.
    pub hashes: HashLimits,
    /// The country a phone number without a country code is read in; none by default.
    pub phone_region: Option<phonenumber::country::Id>,
}

/// Validates `input`; `today` bounds birth dates.
pub fn user(input: UserInput, mode: Mode, today: Date, rules: &Rules) -> Result<ValidUser> {
    let mut v = Checker::default();

    let kind = match input.kind.as_deref() {
        None => UserKind::Human,
        Some(s) => UserKind::parse(s).unwrap_or_else(|| {
            v.push("kind", "invalid_value", "must be `human` or `machine`");
            UserKind::Human
        }),
    };
    let username = input.username.and_then(|s| {
        if s.trim() != s {
            v.push("username", "invalid_format", "must not start or end with white space");
        }
        v.text("username", Some(s), MAX_TEXT)
    });
    let state = match (input.state.as_deref(), mode) {
        (None, _) => None,
        (Some(_), Mode::Replace) => {
            v.push("state", "read_only", "changes only through the state endpoints");
            None
        }
        (Some(s), Mode::Create) => match UserState::parse(s) {
            Some(
                state @ (UserState::Initial
                | UserState::Pending
                | UserState::Active
                | UserState::Inactive),
            ) => Some(state),
            _ => {
                v.push(
                    "state",
                    "invalid_value",
                    "must be `initial`, `pending`, `active` or `inactive`",
                );
                None
            }
        },
    };
    let organization_id = input.organization_id.and_then(|s| match s.parse::<OrgId>() {
        Ok(id) => Some(id),
        Err(_) => {
            v.push("organization_id", "invalid_format", "must be a UUID");
            None
        }
    });

    let is_machine = kind == UserKind::Machine;
    let person_only = |v: &mut Checker, field: &str, present: bool| {
        if is_machine && present {
            v.push(field, "not_allowed", "is not allowed on a machine user");
        }
    };
    person_only(&mut v, "name", input.name.is_some());
    person_only(&mut v, "salutation", input.salutation.is_some());
    person_only(&mut v, "title", input.title.is_some());
    person_only(&mut v, "gender", input.gender.is_some());
    person_only(&mut v, "birth", input.birth.is_some());
    person_only(
        &mut v,
        "nationalities",
        input.nationalities.as_ref().is_some_and(|n| !n.is_empty()),
    );
    person_only(&mut v, "emails", input.emails.as_ref().is_some_and(|e| !e.is_empty()));
    person_only(&mut v, "phones", input.phones.as_ref().is_some_and(|p| !p.is_empty()));
    person_only(&mut v, "locale", input.locale.is_some());
    person_only(&mut v, "picture", input.picture.is_some());
    person_only(&mut v, "address", input.address.is_some());
    person_only(&mut v, "postal_address", input.postal_address.is_some());
    person_only(&mut v, "national_id", matches!(input.national_id, Some(Some(_))));

    let machine = match (is_machine, input.machine) {
        (true, None) => {
            v.push("machine", "required", "is required on a machine user");
            None
        }
        (true, Some(m)) => machine(&mut v, m),
        (false, Some(_)) => {
            v.push("machine", "not_allowed", "is only allowed on a machine user");
            None
        }
        (false, None) => None,
    };

    let profile = Profile {
        name: input.name.and_then(|n| person_name(&mut v, n)),
        salutation: input.salutation.and_then(|s| {
            v.choice(
                "salutation",
                &s,
                &[
                    ("male", Salutation::Male),
                    ("female", Salutation::Female),
                    ("female_married", Salutation::FemaleMarried),
                    ("diverse", Salutation::Diverse),
                ],
            )
        }),
        title: input.title.and_then(|s| {
            v.choice(
                "title",
                &s,
                &[
                    ("dr", Title::Dr),
                    ("prof", Title::Prof),
                    ("prof_dr", Title::ProfDr),
                    ("dipl_ing", Title::DiplIng),
                    ("magister", Title::Magister),
                ],
            )
        }),
        gender: input.gender.and_then(|s| {
            v.choice(
                "gender",
                &s,
                &[
                    ("male", Gender::Male),
                    ("female", Gender::Female),
                    ("diverse", Gender::Diverse),
                    ("unspecified", Gender::Unspecified),
                ],
            )
        }),
        birth: input.birth.map(|b| birth(&mut v, b, today)),
        nationalities: nationalities(&mut v, input.nationalities.unwrap_or_default()),
        emails: contacts(&mut v, "emails", input.emails.unwrap_or_default(), None),
        phones: contacts(
            &mut v,
            "phones",
            input.phones.unwrap_or_default(),
            Some(rules.phone_region),
        ),
        locale: input.locale.and_then(|s| {
            if language_tags::LanguageTag::parse(&s).is_ok_and(|t| t.is_valid()) {
                Some(s)
            } else {
                v.push("locale", "invalid_format", "must be a BCP 47 language tag such as `de-DE`");
                None
            }
        }),
        picture: input.picture.and_then(|s| {
            let ok = s.len() <= 2048
                && url::Url::parse(&s)
                    .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            if ok {
                Some(s)
            } else {
                v.push("picture", "invalid_format", "must be an absolute http(s) URL");
                None
            }
        }),
        address: input.address.map(|a| address(&mut v, "address", a)),
        // An empty postal address means "same as the residential address".
        postal_address: input
            .postal_address
            .map(|a| address(&mut v, "postal_address", a))
            .filter(|a| !a.is_empty()),
        external_ids: input.external_ids.map(|e| external_ids(&mut v, e)).unwrap_or_default(),
        aliases: aliases(&mut v, input.aliases.unwrap_or_default()),
        identities: identities(&mut v, input.identities.unwrap_or_default()),
        attributes: attributes(&mut v, input.attributes.unwrap_or_default()),
        claims: input.claims.and_then(|c| {
            if !c.is_object() {
                v.push("claims", "invalid_type", "must be a JSON object");
                return None;
            }
            v.json("claims", &c).then_some(c)
        }),
        app_data: input
            .app_data
            .unwrap_or_default()
            .into_iter()
            .filter(|(app, data)| {
                let field = format!("app_data.{app}");
                if app.is_empty() || app.chars().count() > MAX_TEXT {
                    v.push(&field, "invalid_format", "application names have 1 to 200 characters");
                    return false;
                }
                v.json(&field, data)
            })
            .collect(),
        machine,
    };

    let password = input.password.map(|p| p.filter(|p| password(&mut v, p)));
    let password_hash = input.password_hash.filter(|h| match rules.hashes.check(h) {
        Err(message) => {
            v.push("password_hash", "invalid_format", message);
            false
        }
        Ok(()) if matches!(password, Some(Some(_))) => {
            v.push("password_hash", "conflict", "give a password or its hash, not both");
            false
        }
        Ok(()) => true,
    });
    let national_id =
        input.national_id.map(|n| n.filter(|n| v.check_text("national_id", n.expose_secret(), 64)));

    v.finish()?;
    Ok(ValidUser {
        kind,
        username,
        state,
        organization_id,
        profile,
        password,
        password_hash,
        password_change_required: input.password_change_required,
        id: input.id,
        national_id,
    })
}

fn person_name(v: &mut Checker, n: PersonName) -> Option<PersonName> {
    let name = PersonName {
        given: v.text("name.given", n.given, MAX_TEXT),
        middle: v.text("name.middle", n.middle, MAX_TEXT),
        family: v.text("name.family", n.family, MAX_TEXT),
        display: v.text("name.display", n.display, MAX_TEXT),
        nickname: v.text("name.nickname", n.nickname, MAX_TEXT),
    };
    (name != PersonName::default()).then_some(name)
}

fn birth(v: &mut Checker, b: Birth, today: Date) -> Birth {
    let date =
        b.date.and_then(|d| match Date::parse(&d, format_description!("[year]-[month]-[day]")) {
            Ok(date) if date > today => {
                v.push("birth.date", "in_future", "must not be in the future");
                None
            }
            Ok(_) => Some(d),
            Err(_) => {
                v.push("birth.date", "invalid_format", "must be a calendar date `YYYY-MM-DD`");
                None
            }
        });
    Birth {
        date,
        city: v.text("birth.city", b.city, MAX_TEXT),
        country: b.country.and_then(|c| v.country("birth.country", &c)),
        name: v.text("birth.name", b.name, MAX_TEXT),
    }
}

fn nationalities(v: &mut Checker, codes: Vec<String>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (i, code) in codes.iter().enumerate() {
        let field = format!("nationalities[{i}]");
        if let Some(code) = v.country(&field, code) {
            if seen.insert(code.clone()) {
                out.push(code);
            } else {
                v.push(&field, "duplicate", "is listed twice");
            }
        }
    }
    out
}

/// E-mail addresses (`phones: None`) or phone numbers (read in the region given), each
/// normalised; a phone number that does not parse is kept as given when its contact asks so
/// (marked `unnormalized`), else refused.
fn contacts(
    v: &mut Checker,
    field: &str,
    items: Vec<Contact>,
    phones: Option<Option<phonenumber::country::Id>>,
) -> Vec<Contact> {
    if items.len() > MAX_CONTACTS {
        v.push(field, "too_many", format!("at most {MAX_CONTACTS} entries"));
    }
    if items.iter().filter(|c| c.primary).count() > 1 {
        v.push(field, "multiple_primary", "at most one entry may be primary");
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(items.len());
    for (i, c) in items.into_iter().enumerate() {
        let path = format!("{field}[{i}].value");
        let normalised = match phones {
            None => email(&c.value).map(|e| (email_key(&e), e, false)),
            Some(region) => match phone_in(&c.value, region) {
                Some(p) => Some((p.clone(), p, false)),
                // Kept as given: compared as given, never a key.
                None if c.unnormalized && v.check_text(&path, &c.value, 64) => {
                    Some((c.value.clone(), c.value.clone(), true))
                }
                None if c.unnormalized => continue,
                None => None,
            },
        };
        match normalised {
            None if phones.is_none() => v.push(
                &path,
                "invalid_format",
                "must be an e-mail address of at most 254 characters",
            ),
            None => v.push(
                &path,
                "invalid_format",
                "must be a phone number in E.164 form, e.g. +4930901820",
            ),
            Some((key, _, _)) if !seen.insert(key.clone()) => {
                v.push(&path, "duplicate", "is listed twice")
            }
            Some((_, value, unnormalized)) => out.push(Contact { value, unnormalized, ..c }),
        }
    }
    out
}

fn address(v: &mut Checker, field: &str, a: Address) -> Address {
    let f = |name: &str| format!("{field}.{name}");
    Address {
        line1: v.text(&f("line1"), a.line1, MAX_TEXT),
        line2: v.text(&f("line2"), a.line2, MAX_TEXT),
        postcode: v.text(&f("postcode"), a.postcode, 40),
        city: v.text(&f("city"), a.city, MAX_TEXT),
        state: v.text(&f("state"), a.state, MAX_TEXT),
        country: a.country.and_then(|c| v.country(&f("country"), &c)),
    }
}

fn external_ids(v: &mut Checker, e: ExternalIds) -> ExternalIds {
    ExternalIds {
        external_user_id: v.text("external_ids.external_user_id", e.external_user_id, MAX_TEXT),
        external_account_id: v.text(
            "external_ids.external_account_id",
            e.external_account_id,
            MAX_TEXT,
        ),
    }
}

/// Most identity links a user holds.
pub const MAX_IDENTITIES: usize = 20;
/// Longest subject of an identity link (OpenID Connect's bound).
pub const MAX_SUBJECT: usize = 255;

/// Identity links: an absolute http(s) URL as given, a subject of 1 to 255 characters, each
/// pair once.
fn identities(v: &mut Checker, identities: Vec<Identity>) -> Vec<Identity> {
    if identities.len() > MAX_IDENTITIES {
        v.push("identities", "too_many", format!("at most {MAX_IDENTITIES} identities"));
        return Vec::new();
    }
    let mut kept: Vec<Identity> = Vec::with_capacity(identities.len());
    for (i, identity) in identities.into_iter().enumerate() {
        let url = identity.provider.len() <= 2048
            && identity.provider.trim() == identity.provider
            && url::Url::parse(&identity.provider)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        if !url {
            let field = format!("identities[{i}].provider");
            v.push(&field, "invalid_format", "must be an absolute http(s) URL");
        }
        let subject =
            v.check_text(&format!("identities[{i}].subject"), &identity.subject, MAX_SUBJECT);
        if kept.contains(&identity) {
            v.push(&format!("identities[{i}]"), "duplicate", "links the same account twice");
        } else if url && subject {
            kept.push(identity);
        }
    }
    kept
}

/// Most aliases a user holds.
pub const MAX_ALIASES: usize = 20;

/// Aliases: a namespace names a system (`zitadel`), the value is that system's id, kept as
/// given (ids compare exactly).
fn aliases(v: &mut Checker, aliases: BTreeMap<String, String>) -> BTreeMap<String, String> {
    if aliases.len() > MAX_ALIASES {
        v.push("aliases", "too_many", format!("at most {MAX_ALIASES} aliases"));
        return BTreeMap::new();
    }
    aliases
        .into_iter()
        .filter(|(namespace, value)| {
            let field = format!("aliases.{namespace}");
            let named = namespace.len() <= 32
                && namespace.starts_with(|c: char| c.is_ascii_lowercase())
                && namespace.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
                });
            if !named {
                v.push(
                    &field,
                    "invalid_format",
                    "a namespace has 1 to 32 of a-z, 0-9, _ and -, starting with a letter",
                );
                return false;
            }
            v.check_text(&field, value, MAX_TEXT)
        })
        .collect()
}

fn attributes(
    v: &mut Checker,
    attrs: BTreeMap<String, Vec<String>>,
) -> BTreeMap<String, Vec<String>> {
    if attrs.len() > MAX_ATTRIBUTES {
        v.push("attributes", "too_many", format!("at most {MAX_ATTRIBUTES} attributes"));
    }
    let mut out = BTreeMap::new();
    for (name, values) in attrs {
        let field = format!("attributes.{name}");
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            v.push(&field, "invalid_format", "attribute names have 1 to 100 printable characters");
            continue;
        }
        if values.len() > MAX_ATTRIBUTE_VALUES {
            v.push(&field, "too_many", format!("at most {MAX_ATTRIBUTE_VALUES} values"));
            continue;
        }
        let values: Vec<String> = values
            .into_iter()
            .enumerate()
            .filter_map(|(i, s)| v.text(&format!("{field}[{i}]"), Some(s), MAX_ATTRIBUTE_VALUE))
            .collect();
        out.insert(name, values);
    }
    out
}

fn machine(v: &mut Checker, m: MachineInput) -> Option<Machine> {
    let name = match m.name {
        None => {
            v.push("machine.name", "required", "is required");
            None
        }
        name => v.text("machine.name", name, MAX_TEXT),
    };
    let description = v.text("machine.description", m.description, 500);
    let access_token_type = match m.access_token_type.as_deref() {
        None | Some("bearer") => AccessTokenType::Bearer,
        Some("jwt") => AccessTokenType::Jwt,
        Some(_) => {
            v.push("machine.access_token_type", "invalid_value", "must be `bearer` or `jwt`");
            AccessTokenType::Bearer
        }
    };
    name.map(|name| Machine { name, description, access_token_type })
}

/// The password policy alone: at least the minimum length, at most the bytes hashing accepts.
pub fn check_password(p: &SecretString) -> crate::Result<()> {
    let mut v = Checker::default();
    if password(&mut v, p) { Ok(()) } else { Err(crate::Error::Invalid(v.0)) }
}

fn password(v: &mut Checker, p: &SecretString) -> bool {
    let p = p.expose_secret();
    if p.chars().count() < MIN_PASSWORD_CHARS {
        v.push(
            "password",
            "too_short",
            format!("must have at least {MIN_PASSWORD_CHARS} characters"),
        );
        false
    } else if p.len() > MAX_PASSWORD_BYTES {
        v.push("password", "too_long", format!("must have at most {MAX_PASSWORD_BYTES} bytes"));
        false
    } else {
        true
    }
}

fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Longest technical name of an organization.
pub const MAX_TECHNICAL_NAME: usize = 128;

/// An organization's writable fields, checked; `None` where the input left a field out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidOrganization {
    pub technical_name: Option<String>,
    pub friendly_name: Option<String>,
    pub parent_id: Option<OrgId>,
    pub is_virtual: Option<bool>,
    pub kind: Option<String>,
    pub attributes: BTreeMap<String, Vec<String>>,
}

/// Checks an organization document, reporting every error at once. `types` is the configured
/// set of organization types.
pub fn organization(
    input: crate::organizations::OrganizationInput,
    types: &[String],
) -> Result<ValidOrganization> {
    let mut v = Checker::default();
    let technical_name = input.technical_name.filter(|name| v.entity_name("technical_name", name));
    let friendly_name = v.text("friendly_name", input.friendly_name, MAX_TEXT);
    let parent_id = input.parent_id.and_then(|id| match id.parse() {
        Ok(id) => Some(id),
        Err(_) => {
            v.push("parent_id", "invalid_format", "must be an organization id (a UUID)");
            None
        }
    });
    let kind = input.kind.filter(|k| {
        let known = types.iter().any(|t| t == k);
        if !known {
            let names: Vec<String> = types.iter().map(|n| format!("`{n}`")).collect();
            v.push("type", "invalid_value", format!("must be one of {}", names.join(", ")));
        }
        known
    });
    let attributes = attributes(&mut v, input.attributes.unwrap_or_default());
    v.finish()?;
    Ok(ValidOrganization {
        technical_name,
        friendly_name,
        parent_id,
        is_virtual: input.is_virtual,
        kind,
        attributes,
    })
}

/// A group's fields, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidGroup {
    pub name: String,
    pub description: Option<String>,
    pub external_id: Option<String>,
    pub custom_data: Value,
}

/// Longest group description.
pub const MAX_DESCRIPTION: usize = 1000;

/// Checks a group document, reporting every error at once.
pub fn group(input: crate::groups::GroupInput) -> Result<ValidGroup> {
    let mut v = Checker::default();
    if input.name.is_none() {
        v.push("name", "required", "is required");
    }
    let name = v.text("name", input.name, MAX_TEXT);
    let description = v.text("description", input.description, MAX_DESCRIPTION);
    let external_id = v.text("external_id", input.external_id, MAX_TEXT);
    let custom_data = input.custom_data.unwrap_or_else(|| Value::Object(Default::default()));
    if !custom_data.is_object() {
        v.push("custom_data", "invalid_type", "must be a JSON object");
    } else {
        v.json("custom_data", &custom_data);
    }
    v.finish()?;
    Ok(ValidGroup { name: name.unwrap_or_default(), description, external_id, custom_data })
}

/// Checks a role document: its name.
pub fn role(input: crate::roles::RoleInput) -> Result<String> {
    let mut v = Checker::default();
    let name = match input.name {
        None => {
            v.push("name", "required", "is required");
            None
        }
        Some(name) => v.entity_name("name", &name).then_some(name),
    };
    v.finish()?;
    Ok(name.unwrap_or_default())
}

/// Checks an application document: its name and description.
pub fn application(
    input: crate::applications::ApplicationInput,
) -> Result<(String, Option<String>)> {
    let mut v = Checker::default();
    if input.name.is_none() {
        v.push("name", "required", "is required");
    }
    let name = v.text("name", input.name, MAX_TEXT);
    let description = v.text("description", input.description, MAX_DESCRIPTION);
    v.finish()?;
    Ok((name.unwrap_or_default(), description))
}

/// Checks a user's application membership: its data and account id.
pub fn app_membership(
    input: crate::applications::MembershipInput,
) -> Result<(Value, Option<String>)> {
    let mut v = Checker::default();
    let app_data = input.app_data.unwrap_or_else(|| Value::Object(Default::default()));
    if !app_data.is_object() {
        v.push("app_data", "invalid_type", "must be a JSON object");
    } else {
        v.json("app_data", &app_data);
    }
    let account = v.text("external_account_id", input.external_account_id, MAX_TEXT);
    v.finish()?;
    Ok((app_data, account))
}

/// A credential record's fields, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidCredential {
    pub kind: String,
    pub format: Option<String>,
    pub issuer: Option<String>,
    pub issued_at: Option<time::OffsetDateTime>,
    pub valid_from: Option<time::OffsetDateTime>,
    pub valid_until: Option<time::OffsetDateTime>,
    pub status: crate::credentials::CredentialStatus,
    pub metadata: Value,
}

/// Checks a credential record, reporting every error at once.
pub fn credential(input: crate::credentials::CredentialInput) -> Result<ValidCredential> {
    use crate::credentials::CredentialStatus;
    let mut v = Checker::default();
    if input.kind.is_none() {
        v.push("type", "required", "is required");
    }
    let kind = v.text("type", input.kind, MAX_TEXT);
    let format = v.text("format", input.format, MAX_TEXT);
    let issuer = v.text("issuer", input.issuer, 2048);
    let mut instant = |field: &str, value: Option<String>| {
        value.and_then(|s| {
            let parsed =
                time::OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339);
            if parsed.is_err() {
                v.push(field, "invalid_format", "must be an RFC 3339 date and time");
            }
            parsed.ok()
        })
    };
    let issued_at = instant("issued_at", input.issued_at);
    let valid_from = instant("valid_from", input.valid_from);
    let valid_until = instant("valid_until", input.valid_until);
    if let (Some(from), Some(until)) = (valid_from, valid_until)
        && until < from
    {
        v.push("valid_until", "out_of_range", "must not be before valid_from");
    }
    let status = match input.status.as_deref() {
        None => Some(CredentialStatus::Valid),
        Some(s) => v.choice("status", s, &CredentialStatus::ALL),
    };
    let metadata = input.metadata.unwrap_or_else(|| Value::Object(Default::default()));
    if !metadata.is_object() {
        v.push("metadata", "invalid_type", "must be a JSON object");
    } else {
        v.json("metadata", &metadata);
    }
    v.finish()?;
    Ok(ValidCredential {
        kind: kind.unwrap_or_default(),
        format,
        issuer,
        issued_at,
        valid_from,
        valid_until,
        status: status.unwrap_or(CredentialStatus::Valid),
        metadata,
    })
}

/// Collects field errors.
#[derive(Default)]
struct Checker(Vec<FieldError>);

impl Checker {
    fn push(&mut self, field: &str, code: &'static str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, code, message));
    }

    /// A short text: 1 to `max` characters, no control characters.
    fn text(&mut self, field: &str, value: Option<String>, max: usize) -> Option<String> {
        value.filter(|s| self.check_text(field, s, max))
    }

    fn check_text(&mut self, field: &str, s: &str, max: usize) -> bool {
        let chars = s.chars().count();
        if chars == 0 {
            self.push(field, "too_short", "must not be empty");
        } else if chars > max {
            self.push(field, "too_long", format!("must have at most {max} characters"));
        } else if s.chars().any(char::is_control) {
            self.push(field, "invalid_format", "must not contain control characters");
        } else {
            return true;
        }
        false
    }

    /// An entity name (as Ubisecure's): 1 to [`MAX_TECHNICAL_NAME`] letters, digits, spaces and
    /// `,`, `.`, `_`, `-`, not starting or ending with a space.
    fn entity_name(&mut self, field: &str, name: &str) -> bool {
        let valid = !name.is_empty()
            && name.chars().count() <= MAX_TECHNICAL_NAME
            && name.trim() == name
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, ' ' | ',' | '.' | '_' | '-'));
        if !valid {
            let message = format!(
                "1 to {MAX_TECHNICAL_NAME} letters, digits, spaces and `,` `.` `_` `-`, without spaces around"
            );
            self.push(field, "invalid_format", message);
        }
        valid
    }

    fn country(&mut self, field: &str, code: &str) -> Option<String> {
        if is_country(code) {
            Some(code.to_owned())
        } else {
            self.push(
                field,
                "invalid_value",
                "must be an ISO 3166-1 alpha-2 country code such as `DE`",
            );
            None
        }
    }

    fn choice<T: Copy>(&mut self, field: &str, value: &str, options: &[(&str, T)]) -> Option<T> {
        let found = options.iter().find(|(name, _)| *name == value).map(|(_, t)| *t);
        if found.is_none() {
            let names: Vec<String> = options.iter().map(|(n, _)| format!("`{n}`")).collect();
            self.push(field, "invalid_value", format!("must be one of {}", names.join(", ")));
        }
        found
    }

    /// Free-form JSON within the size and depth budgets.
    fn json(&mut self, field: &str, value: &Value) -> bool {
        if depth(value) > MAX_JSON_DEPTH {
            self.push(field, "too_deep", format!("must nest at most {MAX_JSON_DEPTH} levels"));
            false
        } else if serde_json::to_vec(value).map_or(usize::MAX, |b| b.len()) > MAX_JSON_BYTES {
            self.push(
                field,
                "too_large",
                format!("must serialise to at most {MAX_JSON_BYTES} bytes"),
            );
            false
        } else {
            true
        }
    }

    fn finish(self) -> Result<()> {
        if self.0.is_empty() { Ok(()) } else { Err(Error::Invalid(self.0)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;

    /// JSON shaped like user documents: the model's field names (and some others) holding
    /// scalars, arrays and objects of any kind, nested a few levels.
    fn document() -> impl Strategy<Value = Value> {
        let key = prop_oneof![
            prop::sample::select(vec![
                "username",
                "name",
                "given",
                "family",
                "emails",
                "phones",
                "value",
                "primary",
                "verified",
                "birth",
                "date",
                "country",
                "nationalities",
                "locale",
                "picture",
                "address",
                "attributes",
                "claims",
                "external_ids",
                "external_user_id",
                "kind",
                "machine",
                "password",
                "national_id",
                "organization_id",
                "state",
                "gender",
            ])
            .prop_map(str::to_owned),
            "[a-z_]{1,8}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            "\\PC{0,40}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(key.clone(), inner, 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_document_is_parsed_and_validated_without_panicking(doc in document()) {
            if let Ok(input) = crate::input::parse_document::<UserInput>(doc) {
                let _ = user(input, Mode::Create, today(), &Rules::default());
            }
        }

        #[test]
        fn any_merge_patch_applies_without_panicking(patch in document()) {
            let current = parse(serde_json::json!({
                "username": "karl", "emails": [{ "value": "karl@example.org", "primary": true }],
                "attributes": { "team": ["a"] }, "claims": { "tier": "gold" },
            }))
            .unwrap();
            let now = time::macros::datetime!(2026-01-01 0:00 UTC);
            let current = crate::User {
                id: crate::UserId::from_uuid(uuid::Uuid::from_u128(1)),
                kind: current.kind,
                state: crate::UserState::Active,
                username: current.username,
                organization_id: crate::OrgId::from_uuid(uuid::Uuid::from_u128(2)),
                profile: current.profile,
                password: Default::default(),
                national_id: Default::default(),
                has_secret: None,
                created_at: now,
                updated_at: now,
                last_auth_at: None,
                version: 1,
            };
            if let Ok(input) = crate::input::merged(&current, &patch) {
                let _ = user(input, Mode::Replace, today(), &Rules::default());
            }
        }
    }

    fn today() -> Date {
        time::macros::date!(2026 - 01 - 01)
    }

    fn parse(json: serde_json::Value) -> Result<ValidUser> {
        user(serde_json::from_value(json).unwrap(), Mode::Create, today(), &Rules::default())
    }

    fn codes(json: serde_json::Value) -> Vec<(String, &'static str)> {
        match parse(json) {
            Err(Error::Invalid(errors)) => errors.into_iter().map(|e| (e.field, e.code)).collect(),
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn reports_every_error_at_once() {
        let errors = codes(serde_json::json!({
            "username": " padded",
            "salutation": "mr",
            "birth": { "date": "2030-01-01", "country": "XX" },
            "emails": [{ "value": "not-an-email", "primary": true }, { "value": "a@b.example", "primary": true }],
            "locale": "!!",
            "picture": "ftp://example.org/p.png",
        }));
        let fields: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "username",
                "salutation",
                "birth.date",
                "birth.country",
                "emails",
                "emails[0].value",
                "locale",
                "picture"
            ]
        );
    }

    #[test]
    fn normalises_contacts() {
        let user = parse(serde_json::json!({
            "username": "k",
            "emails": [{ "value": "Karl@Example.ORG" }],
            "phones": [{ "value": "+49 30 901820" }],
        }))
        .unwrap();
        assert_eq!(user.profile.emails[0].value, "Karl@example.org");
        assert_eq!(user.profile.phones[0].value, "+4930901820");
    }

    #[test]
    fn phones_are_e164() {
        assert_eq!(phone("+4915100000000").as_deref(), Some("+4915100000000"));
        assert_eq!(phone("+1 (415) 555-2671").as_deref(), Some("+14155552671"));
        assert_eq!(phone("0301234567"), None);
        assert_eq!(phone("+1234567"), None);
        assert_eq!(phone("+1234567890123456"), None);
    }

    #[test]
    fn machine_users_have_no_person_fields() {
        let errors = codes(serde_json::json!({
            "kind": "machine", "username": "ci", "name": { "given": "X" }, "emails": [{ "value": "a@b.example" }]
        }));
        assert_eq!(
            errors,
            [
                ("name".to_owned(), "not_allowed"),
                ("emails".to_owned(), "not_allowed"),
                ("machine".to_owned(), "required")
            ]
        );
    }

    #[test]
    fn json_budgets() {
        let mut deep = serde_json::json!(1);
        for _ in 0..40 {
            deep = serde_json::json!({ "a": deep });
        }
        let big = serde_json::json!({ "x": "y".repeat(MAX_JSON_BYTES) });
        let errors = codes(
            serde_json::json!({ "username": "k", "claims": deep, "app_data": { "crm": big } }),
        );
        assert_eq!(
            errors,
            [("claims".to_owned(), "too_deep"), ("app_data.crm".to_owned(), "too_large")]
        );
    }
}
