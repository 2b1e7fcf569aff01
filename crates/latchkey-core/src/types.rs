//! Typed identifiers. Clerk ids are strings with a type prefix (`sess_…`,
//! `user_…`); keeping them apart in the type system stops a user id from
//! being passed where a session id belongs.

use serde::{Deserialize, Serialize};

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// The id as Clerk sends it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }
    };
}

id!(
    /// `sess_…`
    SessionId
);
id!(
    /// `user_…`
    UserId
);
id!(
    /// `client_…`
    ClientId
);
id!(
    /// `org_…`
    OrganizationId
);
id!(
    /// `sia_…` (a sign-in attempt)
    SignInId
);

/// Which organization a session token is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OrgSel {
    /// The session's active organization (what Clerk uses when the request
    /// names none).
    Active,
    /// The personal account: no organization.
    Personal,
    /// This organization (the user must belong to it).
    Org(OrganizationId),
}
