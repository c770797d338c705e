//! Identifiers. Every id is a UUID v7 (time-ordered), wrapped so that a user id cannot be passed
//! where a tenant id is expected.

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(Uuid);

        impl $name {
            /// A new time-ordered id for something created at `now`.
            pub fn generate(now: OffsetDateTime) -> Self {
                Self(new_v7(now))
            }

            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// An isolation boundary: nothing crosses tenants.
    TenantId
);
id_type!(
    /// A user, human or machine.
    UserId
);
id_type!(
    /// An organization inside a tenant.
    OrgId
);
id_type!(
    /// An API token.
    TokenId
);
id_type!(
    /// An asynchronous job.
    JobId
);
id_type!(
    /// A webhook: where a tenant's events are pushed.
    WebhookId
);
id_type!(
    /// A group of users and groups.
    GroupId
);
id_type!(
    /// A role, defined in an organization.
    RoleId
);
id_type!(
    /// A registered application (client).
    ApplicationId
);
id_type!(
    /// The record of a credential issued to a user.
    CredentialId
);
id_type!(
    /// An invitation of an e-mail address to an organization.
    InvitationId
);
id_type!(
    /// A mandate: a grantor authorises a grantee for roles.
    MandateId
);
id_type!(
    /// Roles of a mandate delegated onward to a user.
    DelegationId
);

/// Ids made in one process are strictly increasing, even within one millisecond (where a v7
/// UUID's time part is equal): the context counts on from the last id it made. Listings break
/// ties by id, so "in creation order" holds exactly.
static CONTEXT: Mutex<uuid::ContextV7> = Mutex::new(uuid::ContextV7::new());

fn new_v7(now: OffsetDateTime) -> Uuid {
    let nanos = now.unix_timestamp_nanos();
    let secs = u64::try_from(nanos.div_euclid(1_000_000_000)).unwrap_or(0);
    let subsec = u32::try_from(nanos.rem_euclid(1_000_000_000)).unwrap_or(0);
    let context = CONTEXT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    Uuid::new_v7(uuid::Timestamp::from_unix(&*context, secs, subsec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_of_one_instant_still_increase() {
        let now = time::macros::datetime!(2026-01-01 0:00 UTC);
        let ids: Vec<UserId> = (0..1000).map(|_| UserId::generate(now)).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
    }
}
