//! Seed files: the users, organizations, roles and other-device sessions an
//! instance starts with. TOML, readable by people (`seeds/demo.toml`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::model::{JwtTemplate, Location};

/// A parsed seed file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// Application name and instance settings.
    #[serde(default)]
    pub instance: SeedInstance,
    /// Users, in the order the hosted page lists them.
    #[serde(default)]
    pub users: Vec<SeedUser>,
    /// Organization roles and their permissions.
    #[serde(default)]
    pub roles: Vec<SeedRole>,
    /// Organizations and their members.
    #[serde(default)]
    pub organizations: Vec<SeedOrganization>,
    /// Sessions on other devices (each on a client of its own), so the
    /// active-devices list has something to show.
    #[serde(default)]
    pub other_devices: Vec<SeedDevice>,
    /// City and country per IP address, for `latest_activity`.
    #[serde(default)]
    pub ip_locations: BTreeMap<String, Location>,
    /// JWT templates by name (Clerk has no endpoint that lists them).
    #[serde(default)]
    pub jwt_templates: BTreeMap<String, SeedTemplate>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedInstance {
    #[serde(default = "default_app_name")]
    pub application_name: String,
    #[serde(default)]
    pub single_session_mode: bool,
}

impl Default for SeedInstance {
    fn default() -> Self {
        Self {
            application_name: default_app_name(),
            single_session_mode: false,
        }
    }
}

fn default_app_name() -> String {
    "Local Clerk".to_owned()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedUser {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: String,
    pub username: Option<String>,
    pub password: Option<String>,
    #[serde(default)]
    pub oauth: Vec<String>,
    pub avatar_color: Option<String>,
    /// A second factor is set up (the code is `424242`).
    #[serde(default)]
    pub mfa: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedRole {
    pub key: String,
    pub name: String,
    #[serde(default)]
    pub permissions: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedOrganization {
    pub name: String,
    pub slug: String,
    #[serde(default)]
    pub members: Vec<SeedMember>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedMember {
    pub email: String,
    pub role: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedDevice {
    pub email: String,
    pub user_agent: String,
    pub ip_address: String,
    #[serde(default)]
    pub last_active_minutes_ago: i64,
    pub actor: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedTemplate {
    #[serde(default = "default_template_lifetime")]
    pub lifetime: i64,
    #[serde(default)]
    pub claims: serde_json::Map<String, Value>,
}

fn default_template_lifetime() -> i64 {
    60
}

impl From<SeedTemplate> for JwtTemplate {
    fn from(t: SeedTemplate) -> Self {
        JwtTemplate {
            lifetime: t.lifetime,
            claims: t.claims,
        }
    }
}

/// Why a seed could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The seed file cannot be read.
    #[error("cannot read seed file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The seed is not valid TOML of the expected shape.
    #[error("invalid seed {name}: {message}")]
    Parse {
        /// The seed's name or file.
        name: String,
        /// What is wrong, from the parser.
        message: String,
    },
}

impl Seed {
    /// The built-in demo seed (users, two organizations, other devices).
    pub fn demo() -> Self {
        // The file ships inside the crate and is parsed by a test, so this
        // cannot fail at run time.
        Self::parse("demo", include_str!("../seeds/demo.toml")).unwrap_or_default()
    }

    /// An instance with no users.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Parses TOML seed text; `name` is used in error messages.
    pub fn parse(name: &str, text: &str) -> Result<Self, SeedError> {
        let seed: Seed = toml::from_str(text).map_err(|e| SeedError::Parse {
            name: name.to_owned(),
            message: e.to_string(),
        })?;
        seed.check().map_err(|message| SeedError::Parse {
            name: name.to_owned(),
            message,
        })?;
        Ok(seed)
    }

    /// `demo`, `empty`, or a path to a TOML file.
    pub fn load(spec: &str) -> Result<Self, SeedError> {
        match spec {
            "demo" => Ok(Self::demo()),
            "empty" => Ok(Self::empty()),
            path => {
                let text =
                    std::fs::read_to_string(Path::new(path)).map_err(|source| SeedError::Read {
                        path: path.to_owned(),
                        source,
                    })?;
                Self::parse(path, &text)
            }
        }
    }

    fn check(&self) -> Result<(), String> {
        let emails: Vec<&str> = self.users.iter().map(|u| u.email.as_str()).collect();
        for (i, e) in emails.iter().enumerate() {
            if !e.contains('@') {
                return Err(format!("user email {e:?} is not an email address"));
            }
            if emails[..i].contains(e) {
                return Err(format!("user email {e:?} appears twice"));
            }
        }
        let known = |e: &str| emails.contains(&e);
        for org in &self.organizations {
            for m in &org.members {
                if !known(&m.email) {
                    return Err(format!(
                        "organization {:?} names unknown user {:?}",
                        org.slug, m.email
                    ));
                }
                if !self.roles.iter().any(|r| r.key == m.role) {
                    return Err(format!(
                        "organization {:?} uses unknown role {:?}",
                        org.slug, m.role
                    ));
                }
            }
        }
        for d in &self.other_devices {
            if !known(&d.email) {
                return Err(format!("other device names unknown user {:?}", d.email));
            }
        }
        Ok(())
    }
}
