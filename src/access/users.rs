//! The server's users: who may log in, with which role, and the SCRAM verifier of their password
//! (never the password). Kept in the warehouse (`_access/users.json`, readable by its owner only)
//! and read at every login, so `pophub user add` and `remove` take effect without a restart.

use serde::{Deserialize, Serialize};

use super::AccessError;
use super::scram::Verifier;
use crate::warehouse::{Warehouse, WarehouseError, WriterLock};

const SCHEMA_VERSION: u32 = 1;

/// One user.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// Login name.
    pub name: String,
    /// Role (built-in or declared in the pipeline's `[[access.role]]`).
    pub role: String,
    /// SCRAM-SHA-256 verifier of the password.
    pub verifier: Verifier,
    /// When and by whom (`user@host`) the user was added.
    pub added_at: String,
    /// Who added the user.
    pub added_by: String,
}

/// Every user of a warehouse.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Users {
    /// Version of this file's layout.
    pub schema_version: u32,
    /// The users, in the order they were added.
    pub users: Vec<User>,
}

impl Users {
    /// The users of the warehouse; none when no user was ever added.
    pub fn load(warehouse: &Warehouse) -> Result<Users, AccessError> {
        let path = warehouse.users();
        let users: Users = crate::warehouse::read_json(&path)?.unwrap_or(Users { schema_version: SCHEMA_VERSION, users: Vec::new() });
        if users.schema_version != SCHEMA_VERSION {
            return Err(WarehouseError::Corrupt { path, message: format!("schema_version {} is not {SCHEMA_VERSION}: written by another pophub", users.schema_version) }.into());
        }
        Ok(users)
    }

    /// The user of that name.
    pub fn get(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }

    /// Adds a user, or replaces the password and role of an existing one.
    pub fn add(warehouse: &Warehouse, name: &str, role: &str, password: &str) -> Result<(), AccessError> {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.') {
            return Err(AccessError::BadInput(format!("user name `{name}`: use ASCII letters, digits, `_`, `-` and `.`")));
        }
        if password.chars().count() < 8 {
            return Err(AccessError::BadInput("the password needs at least 8 characters".into()));
        }
        let lock = WriterLock::acquire(warehouse, "user add")?;
        let mut users = Users::load(warehouse)?;
        users.users.retain(|u| u.name != name);
        users.users.push(User {
            name: name.to_string(),
            role: role.to_string(),
            verifier: Verifier::new(password),
            added_at: chrono::Local::now().to_rfc3339(),
            added_by: crate::warehouse::nights::who(),
        });
        users.save(warehouse, &lock)
    }

    /// Removes a user; an error naming the users there are when there is none of that name.
    pub fn remove(warehouse: &Warehouse, name: &str) -> Result<(), AccessError> {
        let lock = WriterLock::acquire(warehouse, "user remove")?;
        let mut users = Users::load(warehouse)?;
        if users.get(name).is_none() {
            let names: Vec<&str> = users.users.iter().map(|u| u.name.as_str()).collect();
            return Err(AccessError::NotFound(format!("no user `{name}`; the users are: {}", if names.is_empty() { "none".into() } else { names.join(", ") })));
        }
        users.users.retain(|u| u.name != name);
        users.save(warehouse, &lock)
    }

    fn save(&self, warehouse: &Warehouse, _lock: &WriterLock) -> Result<(), AccessError> {
        use std::os::unix::fs::PermissionsExt;
        let path = warehouse.users();
        let json = serde_json::to_vec_pretty(self).expect("users serialise");
        crate::warehouse::write_atomic(&path, &json)?;
        // Verifiers are not passwords, but they are what a guesser works on.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(|source| WarehouseError::Io { path, source })?;
        Ok(())
    }
}
