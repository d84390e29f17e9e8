//! The merchant's staff: who they are, what each role may do, and the rules of their sign-in.
//! [`Role::allows`] is the one table of who may do what; every admin route names the
//! [`Permission`] it needs and nothing else decides.

use crate::field::FieldError;
use serde::{Deserialize, Serialize};

/// Wrong passwords in a row that lock an account.
pub const MAX_FAILED_SIGN_INS: u32 = 5;
/// How long a locked account stays locked.
pub const LOCK_SECONDS: i64 = 15 * 60;
/// How long a staff token lives; renewed while its holder is active.
pub const STAFF_TOKEN_SECONDS: i64 = 30 * 60;
/// A high-risk action needs a TOTP code entered this recently.
pub const STEP_UP_SECONDS: i64 = 5 * 60;
/// The shortest password a staff member may choose.
pub const MIN_PASSWORD_CHARS: usize = 12;
const MAX_PASSWORD_CHARS: usize = 128;

/// A staff member's sign-in name: 3 to 32 of lowercase letters, digits, `.`, `_` or `-`,
/// starting with a letter. Names are compared lowercased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let name = raw.trim().to_ascii_lowercase();
        let ok = (3..=32).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
        if ok {
            Ok(Self(name))
        } else {
            Err(FieldError::new(
                "username",
                "must be 3 to 32 letters, digits, '.', '_' or '-', starting with a letter",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Username {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        Self::parse(&raw).map_err(|e| e.problem)
    }
}

impl From<Username> for String {
    fn from(name: Username) -> String {
        name.0
    }
}

/// A password a staff member chose: 12 to 128 characters, not all of one kind of character.
pub fn new_password(raw: &str) -> Result<&str, FieldError> {
    let chars = raw.chars().count();
    let kinds = [
        raw.chars().any(|c| c.is_ascii_lowercase()),
        raw.chars().any(|c| c.is_ascii_uppercase()),
        raw.chars().any(|c| c.is_ascii_digit()),
        raw.chars().any(|c| !c.is_ascii_alphanumeric()),
    ]
    .into_iter()
    .filter(|k| *k)
    .count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars) {
        return Err(FieldError::new(
            "password",
            format!("must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"),
        ));
    }
    if kinds < 2 {
        return Err(FieldError::new(
            "password",
            "must mix at least two of lowercase, uppercase, digits and symbols",
        ));
    }
    Ok(raw)
}

/// What a staff member is there to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, staff and the audit log included.
    Owner,
    /// Catalog, prices, stock and promotions.
    Operator,
    /// Orders and after-sales; sees phones and addresses masked.
    Service,
    /// Shipping and the stock of their warehouses.
    Warehouse,
}

/// One thing an admin route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Their own session and second factor: every signed-in staff member.
    OwnAccount,
    StaffManage,
    AuditRead,
    CatalogWrite,
    StockWrite,
    PromotionsWrite,
    OrdersRead,
    OrdersWrite,
    AfterSalesApprove,
    Shipping,
    ReviewsModerate,
    ReportsRead,
    /// A shopper's full phone or address.
    PersonalDataReveal,
    DataExport,
}

impl Permission {
    pub const ALL: [Permission; 14] = [
        Permission::OwnAccount,
        Permission::StaffManage,
        Permission::AuditRead,
        Permission::CatalogWrite,
        Permission::StockWrite,
        Permission::PromotionsWrite,
        Permission::OrdersRead,
        Permission::OrdersWrite,
        Permission::AfterSalesApprove,
        Permission::Shipping,
        Permission::ReviewsModerate,
        Permission::ReportsRead,
        Permission::PersonalDataReveal,
        Permission::DataExport,
    ];

    /// The name the admin API shows (the console decides from it which pages a member sees).
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::OwnAccount => "own_account",
            Permission::StaffManage => "staff_manage",
            Permission::AuditRead => "audit_read",
            Permission::CatalogWrite => "catalog_write",
            Permission::StockWrite => "stock_write",
            Permission::PromotionsWrite => "promotions_write",
            Permission::OrdersRead => "orders_read",
            Permission::OrdersWrite => "orders_write",
            Permission::AfterSalesApprove => "after_sales_approve",
            Permission::Shipping => "shipping",
            Permission::ReviewsModerate => "reviews_moderate",
            Permission::ReportsRead => "reports_read",
            Permission::PersonalDataReveal => "personal_data_reveal",
            Permission::DataExport => "data_export",
        }
    }
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Owner, Role::Operator, Role::Service, Role::Warehouse];

    /// What this role may do, by name.
    pub fn permission_names(self) -> Vec<&'static str> {
        Permission::ALL
            .into_iter()
            .filter(|p| self.allows(*p))
            .map(Permission::as_str)
            .collect()
    }

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == raw)
            .ok_or_else(|| FieldError::new("role", "must be owner, operator, service or warehouse"))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Operator => "operator",
            Role::Service => "service",
            Role::Warehouse => "warehouse",
        }
    }

    /// Who may do what: least privilege, the owner everything.
    pub fn allows(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Owner => true,
            Role::Operator => matches!(
                permission,
                OwnAccount
                    | CatalogWrite
                    | StockWrite
                    | PromotionsWrite
                    | ReviewsModerate
                    | ReportsRead
            ),
            Role::Service => matches!(
                permission,
                OwnAccount | OrdersRead | OrdersWrite | AfterSalesApprove | ReviewsModerate
            ),
            Role::Warehouse => {
                matches!(permission, OwnAccount | Shipping | StockWrite | OrdersRead)
            }
        }
    }

    /// Owners always sign in with a second factor; others once they enrol.
    pub fn requires_second_factor(self) -> bool {
        self == Role::Owner
    }
}

/// Where a staff member's failed sign-ins stand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SignInGuard {
    pub failures: u32,
    pub locked_until: Option<i64>,
}

impl SignInGuard {
    /// Locked at `now`: the lock has not run out.
    pub fn locked(&self, now: i64) -> bool {
        self.locked_until.is_some_and(|until| now < until)
    }

    /// A lock that ran out: the count starts again.
    pub fn lapsed(&self, now: i64) -> bool {
        self.locked_until.is_some_and(|until| now >= until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_shows_the_permissions_it_has_by_name() {
        assert_eq!(Role::Owner.permission_names().len(), Permission::ALL.len());
        let service = Role::Service.permission_names();
        assert!(service.contains(&"after_sales_approve"));
        assert!(!service.contains(&"staff_manage") && !service.contains(&"personal_data_reveal"));
        let mut names: Vec<_> = Permission::ALL.iter().map(|p| p.as_str()).collect();
        names.dedup();
        assert_eq!(names.len(), Permission::ALL.len());
    }

    #[test]
    fn usernames_are_lowercased_and_kept_to_a_safe_alphabet() {
        assert_eq!(Username::parse(" Mei.Li ").unwrap().as_str(), "mei.li");
        for bad in ["ab", "1abc", "a b c", "张三丰", &"a".repeat(33), "a#b"] {
            assert_eq!(Username::parse(bad).unwrap_err().field, "username", "{bad}");
        }
    }

    #[test]
    fn a_new_password_is_long_and_mixed() {
        assert!(new_password("correct-horse-7").is_ok());
        assert!(new_password("short1!").is_err());
        assert!(new_password("alllowercaseletters").is_err());
        assert!(new_password(&"aB".repeat(65)).is_err());
    }

    #[test]
    fn each_role_may_do_what_it_is_for_and_nothing_else() {
        use Permission::*;
        assert!(Role::Owner.allows(StaffManage) && Role::Owner.allows(AuditRead));
        assert!(Role::Operator.allows(CatalogWrite) && Role::Operator.allows(PromotionsWrite));
        assert!(!Role::Operator.allows(OrdersRead) && !Role::Operator.allows(StaffManage));
        assert!(
            Role::Service.allows(AfterSalesApprove) && !Role::Service.allows(PersonalDataReveal)
        );
        assert!(Role::Warehouse.allows(Shipping) && !Role::Warehouse.allows(PromotionsWrite));
        for role in Role::ALL {
            assert!(role.allows(OwnAccount), "{role:?}");
            assert_eq!(Role::parse(role.as_str()).unwrap(), role);
        }
        assert!(Role::parse("admin").is_err());
    }

    #[test]
    fn a_lock_holds_fifteen_minutes_then_lapses() {
        let guard = SignInGuard {
            failures: 5,
            locked_until: Some(1_000 + LOCK_SECONDS),
        };
        assert!(guard.locked(1_000) && !guard.lapsed(1_000));
        assert!(!guard.locked(1_000 + LOCK_SECONDS) && guard.lapsed(1_000 + LOCK_SECONDS));
        assert!(!SignInGuard::default().locked(0));
    }
}
