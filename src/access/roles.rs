//! Roles: what each may see. Built in: `admin` (every table, unmasked, the audit log), `analyst`
//! (every published table, personal data masked, a row limit) and `auditor` (the audit log and
//! row counts only); a pipeline's `[[access.role]]` adds more.

use std::collections::BTreeMap;

use crate::config::access::{AccessOptions, MaskKind};

/// Which published tables a role sees.
#[derive(Debug, Clone, PartialEq)]
pub enum Tables {
    /// Every table of the night.
    All,
    /// These only.
    Only(Vec<String>),
}

/// One role, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    /// Its name.
    pub name: String,
    /// The published tables it sees.
    pub tables: Tables,
    /// What it sees masked.
    pub masked: Vec<MaskKind>,
    /// A condition on `person` restricting the persons (and their rows elsewhere) it sees.
    pub row_filter: Option<String>,
    /// Rows one statement may return.
    pub max_rows: Option<u64>,
    /// Whether it reads the audit log (`audit_log`) and row counts (`table_rows`).
    pub audits: bool,
}

impl Role {
    /// Whether the role sees the night's table.
    pub fn sees(&self, table: &str) -> bool {
        match &self.tables {
            Tables::All => true,
            Tables::Only(names) => names.iter().any(|n| n == table),
        }
    }

    /// Whether the role sees this kind of data masked.
    pub fn masks(&self, kind: MaskKind) -> bool {
        self.masked.contains(&kind)
    }
}

/// Every role of a deployment by name.
#[derive(Debug, Clone)]
pub struct Roles {
    roles: BTreeMap<String, Role>,
}

impl Roles {
    /// The built-in roles and those the `[access]` options declare.
    pub fn new(options: &AccessOptions) -> Roles {
        let mut roles = BTreeMap::new();
        let mut add = |role: Role| {
            roles.insert(role.name.clone(), role);
        };
        add(Role { name: "admin".into(), tables: Tables::All, masked: Vec::new(), row_filter: None, max_rows: None, audits: true });
        add(Role {
            name: "analyst".into(),
            tables: Tables::All,
            masked: MaskKind::ALL.to_vec(),
            row_filter: None,
            max_rows: Some(options.analyst_max_rows),
            audits: false,
        });
        add(Role { name: "auditor".into(), tables: Tables::Only(Vec::new()), masked: MaskKind::ALL.to_vec(), row_filter: None, max_rows: None, audits: true });
        for r in &options.role {
            add(Role {
                name: r.name.clone(),
                tables: r.tables.clone().map_or(Tables::All, Tables::Only),
                masked: r.masked.clone().unwrap_or_else(|| MaskKind::ALL.to_vec()),
                row_filter: r.row_filter.clone(),
                max_rows: r.max_rows,
                audits: false,
            });
        }
        Roles { roles }
    }

    /// The role of that name.
    pub fn get(&self, name: &str) -> Option<&Role> {
        self.roles.get(name)
    }

    /// Every role.
    pub fn iter(&self) -> impl Iterator<Item = &Role> {
        self.roles.values()
    }

    /// The role names, for messages.
    pub fn names(&self) -> String {
        self.roles.keys().cloned().collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::access::RoleConfig;

    #[test]
    fn built_in_and_declared_roles() {
        let mut options = AccessOptions::default();
        options.role.push(RoleConfig {
            name: "district".into(),
            tables: Some(vec!["person".into()]),
            masked: Some(vec![MaskKind::CitizenId]),
            row_filter: Some("district_code = '420502'".into()),
            max_rows: Some(10),
        });
        let roles = Roles::new(&options);
        assert_eq!(roles.names(), "admin, analyst, auditor, district");
        let analyst = roles.get("analyst").unwrap();
        assert!(analyst.sees("pension_payment") && analyst.masks(MaskKind::Name) && !analyst.audits);
        assert!(!roles.get("admin").unwrap().masks(MaskKind::CitizenId));
        assert!(!roles.get("auditor").unwrap().sees("person"));
        let district = roles.get("district").unwrap();
        assert!(district.sees("person") && !district.sees("house") && !district.masks(MaskKind::Name));
    }
}
