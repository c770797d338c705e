//! The request messages of ZITADEL's User Service v2 as proto3 JSON: lowerCamelCase names
//! (snake_case accepted), `null` meaning "not set", 64-bit integers as strings or numbers, and
//! each oneof holding at most one of its alternatives. Responses are built in [`super::map`].

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::error::{Result, ZitadelError};

/// Parses a request body: snake_case names become lowerCamelCase and nulls are dropped before
/// the message is read; an unknown field is an error naming it.
pub(crate) fn parse<T: DeserializeOwned>(body: Value) -> Result<T> {
    let body = match normalize(body) {
        Value::Null => Value::Object(Map::new()),
        v => v,
    };
    serde_path_to_error::deserialize(body).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // serde's text quotes the offending value, which may be a secret: keep what was expected.
        let message = match inner.split_once(", expected ") {
            Some((kind, expected)) => {
                format!("{}, expected {expected}", kind.split(':').next().unwrap_or(kind))
            }
            None => inner,
        };
        ZitadelError::invalid(if path == "." { message } else { format!("{path}: {message}") })
    })
}

fn normalize(value: Value) -> Value {
    match value {
        Value::Object(o) => Value::Object(
            o.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (camel(&k), normalize(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(normalize).collect()),
        v => v,
    }
}

fn camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A `uint64` given as a decimal string or a number.
fn u64_any<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Number(u64),
        Text(String),
    }
    match Option::<Either>::deserialize(d)? {
        None => Ok(None),
        Some(Either::Number(n)) => Ok(Some(n)),
        Some(Either::Text(s)) => s.parse().map(Some).map_err(serde::de::Error::custom),
    }
}

/// Takes `userId` out of a request whose other fields are another message (`SetEmail` is
/// `userId` and a `SetHumanEmail`).
pub(crate) fn split_user_id(body: Value) -> Result<(String, Value)> {
    let mut body = normalize(body);
    let id = body.as_object_mut().and_then(|o| o.remove("userId"));
    match id {
        Some(Value::String(id)) => Ok((id, body)),
        _ => Err(ZitadelError::invalid("userId: a string is required")),
    }
}

/// At most one alternative of a oneof.
pub(crate) fn oneof(name: &str, set: &[bool]) -> Result<()> {
    if set.iter().filter(|s| **s).count() > 1 {
        return Err(ZitadelError::invalid(format!("{name}: set only one of its alternatives")));
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct UserIdRequest {
    pub(crate) user_id: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Profile {
    pub(crate) given_name: Option<String>,
    pub(crate) family_name: Option<String>,
    pub(crate) nick_name: Option<String>,
    pub(crate) display_name: Option<String>,
    pub(crate) preferred_language: Option<String>,
    pub(crate) gender: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct SetEmail {
    pub(crate) email: String,
    pub(crate) send_code: Option<Value>,
    pub(crate) return_code: Option<Value>,
    pub(crate) is_verified: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct SetPhone {
    pub(crate) phone: String,
    pub(crate) send_code: Option<Value>,
    pub(crate) return_code: Option<Value>,
    pub(crate) is_verified: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Password {
    pub(crate) password: String,
    #[serde(default)]
    pub(crate) change_required: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct HashedPassword {
    pub(crate) hash: String,
    #[serde(default)]
    pub(crate) change_required: bool,
}

/// `SetPassword`: a password or a hash, and for a change the current password or a code.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct SetPassword {
    pub(crate) password: Option<Password>,
    pub(crate) hashed_password: Option<HashedPassword>,
    pub(crate) current_password: Option<String>,
    pub(crate) verification_code: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Metadata {
    pub(crate) key: String,
    /// Bytes, base64 on the wire.
    pub(crate) value: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Human {
    pub(crate) profile: Option<Profile>,
    pub(crate) email: Option<SetEmail>,
    pub(crate) phone: Option<SetPhone>,
    pub(crate) password: Option<SetPassword>,
    pub(crate) metadata: Option<Vec<Metadata>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Machine {
    pub(crate) name: Option<String>,
    pub(crate) description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct CreateUserRequest {
    pub(crate) organization_id: Option<String>,
    pub(crate) user_id: Option<String>,
    pub(crate) username: Option<String>,
    pub(crate) human: Option<Human>,
    pub(crate) machine: Option<Machine>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Organization {
    pub(crate) org_id: Option<String>,
    pub(crate) org_domain: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct AddHumanUserRequest {
    pub(crate) user_id: Option<String>,
    pub(crate) username: Option<String>,
    pub(crate) organization: Option<Organization>,
    pub(crate) profile: Option<Profile>,
    pub(crate) email: Option<SetEmail>,
    pub(crate) phone: Option<SetPhone>,
    pub(crate) metadata: Option<Vec<Metadata>>,
    pub(crate) password: Option<Password>,
    pub(crate) hashed_password: Option<HashedPassword>,
    #[serde(default)]
    pub(crate) idp_links: Vec<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct UpdateUserRequest {
    pub(crate) user_id: String,
    pub(crate) username: Option<String>,
    pub(crate) human: Option<Human>,
    pub(crate) machine: Option<Machine>,
}

/// The deprecated `UpdateHumanUser`: the human's fields at the top level.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct UpdateHumanUserRequest {
    pub(crate) user_id: String,
    pub(crate) username: Option<String>,
    pub(crate) profile: Option<Profile>,
    pub(crate) email: Option<SetEmail>,
    pub(crate) phone: Option<SetPhone>,
    pub(crate) password: Option<SetPassword>,
}

/// `ResendEmailCode`, `SendEmailCode`, `ResendPhoneCode`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ResendCodeRequest {
    pub(crate) user_id: String,
    pub(crate) send_code: Option<Value>,
    pub(crate) return_code: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct PasswordResetRequest {
    pub(crate) user_id: String,
    pub(crate) send_link: Option<Value>,
    pub(crate) return_code: Option<Value>,
}

/// `VerifyEmail`, `VerifyPhone`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct VerifyCodeRequest {
    pub(crate) user_id: String,
    pub(crate) verification_code: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct SetPasswordRequest {
    pub(crate) user_id: String,
    pub(crate) new_password: Option<Password>,
    pub(crate) current_password: Option<String>,
    pub(crate) verification_code: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct SetUserMetadataRequest {
    pub(crate) user_id: String,
    #[serde(default)]
    pub(crate) metadata: Vec<Metadata>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct DeleteUserMetadataRequest {
    pub(crate) user_id: String,
    #[serde(default)]
    pub(crate) keys: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ListUserMetadataRequest {
    pub(crate) user_id: String,
    /// Not supported: every key is returned.
    pub(crate) pagination: Option<Value>,
    /// Not supported.
    #[serde(default)]
    pub(crate) filters: Vec<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ListQuery {
    #[serde(default, deserialize_with = "u64_any")]
    pub(crate) offset: Option<u64>,
    #[serde(default, deserialize_with = "u64_any")]
    pub(crate) limit: Option<u64>,
    #[serde(default)]
    pub(crate) asc: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ListUsersRequest {
    pub(crate) query: Option<ListQuery>,
    pub(crate) sorting_column: Option<String>,
    #[serde(default)]
    pub(crate) queries: Vec<SearchQuery>,
}

/// A text query: a value and how to compare it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct TextQuery {
    #[serde(
        alias = "userName",
        alias = "firstName",
        alias = "lastName",
        alias = "nickName",
        alias = "displayName",
        alias = "emailAddress",
        alias = "number",
        alias = "loginName"
    )]
    pub(crate) value: String,
    pub(crate) method: Option<String>,
}

/// One `SearchQuery`: exactly one of its alternatives.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct SearchQuery {
    pub(crate) user_name_query: Option<TextQuery>,
    pub(crate) first_name_query: Option<TextQuery>,
    pub(crate) last_name_query: Option<TextQuery>,
    pub(crate) nick_name_query: Option<TextQuery>,
    pub(crate) display_name_query: Option<TextQuery>,
    pub(crate) email_query: Option<TextQuery>,
    pub(crate) phone_query: Option<TextQuery>,
    pub(crate) login_name_query: Option<TextQuery>,
    pub(crate) state_query: Option<StateQuery>,
    pub(crate) type_query: Option<TypeQuery>,
    pub(crate) organization_id_query: Option<OrganizationIdQuery>,
    pub(crate) in_user_ids_query: Option<InUserIdsQuery>,
    pub(crate) in_user_emails_query: Option<InUserEmailsQuery>,
    pub(crate) and_query: Option<Queries>,
    pub(crate) or_query: Option<Queries>,
    pub(crate) not_query: Option<NotQuery>,
    pub(crate) metadata_key_filter: Option<MetadataKeyFilter>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct StateQuery {
    pub(crate) state: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct TypeQuery {
    #[serde(rename = "type")]
    pub(crate) kind: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct OrganizationIdQuery {
    pub(crate) organization_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct InUserIdsQuery {
    #[serde(default)]
    pub(crate) user_ids: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct InUserEmailsQuery {
    #[serde(default)]
    pub(crate) user_emails: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Queries {
    #[serde(default)]
    pub(crate) queries: Vec<SearchQuery>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NotQuery {
    pub(crate) query: Box<SearchQuery>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct MetadataKeyFilter {
    pub(crate) key: String,
    pub(crate) method: Option<String>,
}

/// Reads `body` as every request message of the service, as the dialect does before an RPC
/// runs (the fuzzers' and property tests' entry point: no input may panic).
pub(crate) fn decode_all(body: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(body) else { return };
    let _ = parse::<UserIdRequest>(value.clone());
    let _ = parse::<CreateUserRequest>(value.clone());
    let _ = parse::<AddHumanUserRequest>(value.clone());
    let _ = parse::<UpdateUserRequest>(value.clone());
    let _ = parse::<UpdateHumanUserRequest>(value.clone());
    let _ = parse::<ResendCodeRequest>(value.clone());
    let _ = parse::<PasswordResetRequest>(value.clone());
    let _ = parse::<VerifyCodeRequest>(value.clone());
    let _ = parse::<SetPasswordRequest>(value.clone());
    let _ = parse::<SetUserMetadataRequest>(value.clone());
    let _ = parse::<DeleteUserMetadataRequest>(value.clone());
    let _ = parse::<ListUserMetadataRequest>(value.clone());
    let _ = parse::<ListUsersRequest>(value.clone());
    let _ = split_user_id(value);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    /// JSON built from the service's own field names (either case), so that generated bodies
    /// reach past the first unknown field.
    fn message() -> impl Strategy<Value = Value> {
        let names = prop::sample::select(vec![
            "userId",
            "user_id",
            "username",
            "human",
            "machine",
            "profile",
            "givenName",
            "email",
            "phone",
            "password",
            "hashedPassword",
            "query",
            "offset",
            "limit",
            "queries",
            "orQuery",
            "andQuery",
            "notQuery",
            "userNameQuery",
            "method",
            "sortingColumn",
            "metadata",
            "key",
            "value",
            "verificationCode",
            "sendCode",
            "returnCode",
            "isVerified",
            "changeRequired",
            "organization",
            "orgId",
            "newPassword",
            "keys",
        ]);
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            "\\PC{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(6, 64, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((names.clone(), inner), 0..6).prop_map(|fields| {
                    Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
                }),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_body_is_decoded_without_panicking(body in message()) {
            decode_all(body.to_string().as_bytes());
        }
    }

    #[test]
    fn proto3_json_is_read_as_zitadel_writes_it() {
        let request: ListUsersRequest = parse(json!({
            "query": { "offset": "20", "limit": 10, "asc": null },
            "sorting_column": "USER_FIELD_NAME_USER_NAME",
            "queries": [{ "emailQuery": { "emailAddress": "a@b.example", "method": null } }],
        }))
        .unwrap();
        let query = request.query.unwrap();
        assert_eq!((query.offset, query.limit, query.asc), (Some(20), Some(10), false));
        assert_eq!(request.queries[0].email_query.as_ref().unwrap().value, "a@b.example");
        let e = parse::<UserIdRequest>(json!({ "userId": "1", "extra": 1 })).unwrap_err();
        assert!(e.message.contains("extra"), "{}", e.message);
        let e = parse::<ListUsersRequest>(json!({ "query": { "offset": "x" } })).unwrap_err();
        assert!(e.message.starts_with("query.offset"), "{}", e.message);
        assert!(oneof("password", &[true, true]).is_err());
    }
}
