//! The merchant's door: staff signing in (password, then a TOTP code for anyone enrolled and
//! always for owners), stepping up for high-risk actions, enrolling a second factor, and the
//! owner adding and disabling staff. The admin API and shopctl (`staff create-owner`) share
//! these; tokens themselves are the edge's.

use crate::credentials::{
    burn_a_check, hash_password, new_totp_secret, one_time_password, otpauth_uri, password_matches,
    totp_step_of,
};
use domain::audit::AuditEntry;
use domain::field::FieldError;
use domain::staff::{Role, STAFF_TOKEN_SECONDS, Username};
use serde_json::json;
use store::StoreError;
use store::audit::{AuditLog, Committed};
use store::staff::{Attempt, StaffMember, StaffStore};

/// The issuer authenticator apps show beside the code.
pub const TOTP_ISSUER: &str = "wechat-shop";

#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    #[error("the username or password is wrong")]
    BadCredentials,
    #[error("too many wrong passwords: the account is locked")]
    Locked { until: Option<i64> },
    #[error("this account needs a code from the authenticator app")]
    CodeRequired,
    #[error("the code is wrong, expired or used already")]
    BadCode,
    #[error("the username is taken")]
    UsernameTaken,
    #[error("no such staff member")]
    NotFound,
    #[error("no second factor is being enrolled: start with POST /admin/v1/me/totp")]
    NotEnrolling,
    /// Owners always sign in with a code: a member becomes one only once enrolled.
    #[error("an owner signs in with a code: this member must enrol a second factor first")]
    SecondFactorRequired,
    #[error("{}: {}", .0.field, .0.problem)]
    Invalid(FieldError),
    #[error(transparent)]
    Hash(#[from] crate::credentials::HashError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A session opened by signing in.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub member: StaffMember,
    pub sid: String,
    pub expires_at: i64,
}

/// A new second factor to scan.
#[derive(Debug, Clone)]
pub struct Enrolment {
    pub secret_base32: String,
    pub otpauth_uri: String,
}

/// Who is acting, for the audit record: a staff member through the admin API, or shopctl.
#[derive(Debug, Clone)]
pub struct Actor {
    pub staff_id: String,
    pub role: String,
    pub request_id: String,
}

impl Actor {
    /// The merchant at the command line (`shopctl`), before any staff exists.
    pub fn shopctl() -> Self {
        Self {
            staff_id: "shopctl".into(),
            role: "bootstrap".into(),
            request_id: format!("shopctl-{}", domain::ids::random_token(8)),
        }
    }

    /// The audit log's entry for this actor doing `action` to `target`.
    pub fn entry(
        &self,
        action: &str,
        target: String,
        before: serde_json::Value,
        after: serde_json::Value,
        at: i64,
    ) -> AuditEntry {
        AuditEntry {
            staff_id: self.staff_id.clone(),
            role: self.role.clone(),
            action: action.to_string(),
            target,
            before,
            after,
            request_id: self.request_id.clone(),
            at,
        }
    }
}

pub struct StaffDesk {
    pub store: StaffStore,
    pub audit: AuditLog,
}

impl StaffDesk {
    pub fn new(store: StaffStore, audit: AuditLog) -> Self {
        Self { store, audit }
    }

    /// Adds `member`, audited as `by` adding them; the name taken refuses both.
    async fn create(&self, member: &StaffMember, by: &Actor, now: i64) -> Result<(), StaffError> {
        let entry = by.entry(
            "staff.add",
            format!("staff:{}", member.id),
            serde_json::Value::Null,
            json!({"username": member.username.as_str(), "role": member.role.as_str()}),
            now,
        );
        match self
            .audit
            .commit(self.store.create_writes(member)?, entry)
            .await?
        {
            Committed::Done(_) => Ok(()),
            Committed::Refused(_) => Err(StaffError::UsernameTaken),
        }
    }

    /// Disables a member, audited, and closes their sessions; false when there is none.
    pub async fn disable(&self, id: &str, by: &Actor, now: i64) -> Result<bool, StaffError> {
        let entry = by.entry(
            "staff.disable",
            format!("staff:{id}"),
            json!({"disabled": false}),
            json!({"disabled": true}),
            now,
        );
        match self
            .audit
            .commit(self.store.disable_writes(id)?, entry)
            .await?
        {
            Committed::Done(_) => {
                self.store.close_sessions(id, None).await?;
                Ok(true)
            }
            Committed::Refused(_) => Ok(false),
        }
    }

    /// Moves a member to another role, audited; their sessions close, so their next sign-in
    /// acts as the new role. The same role again changes nothing.
    pub async fn change_role(
        &self,
        id: &str,
        to: Role,
        by: &Actor,
        now: i64,
    ) -> Result<StaffMember, StaffError> {
        let member = self.store.get(id).await?.ok_or(StaffError::NotFound)?;
        if member.disabled {
            return Err(StaffError::NotFound);
        }
        if member.role == to {
            return Ok(member);
        }
        if to.requires_second_factor() && member.totp_secret.is_none() {
            return Err(StaffError::SecondFactorRequired);
        }
        let entry = by.entry(
            "staff.role",
            format!("staff:{id}"),
            json!({"role": member.role.as_str()}),
            json!({"role": to.as_str()}),
            now,
        );
        match self
            .audit
            .commit(self.store.role_writes(id, member.role, to)?, entry)
            .await?
        {
            Committed::Done(_) => {
                self.store.close_sessions(id, None).await?;
                Ok(StaffMember { role: to, ..member })
            }
            // Changed, disabled or removed meanwhile.
            Committed::Refused(_) => Err(StaffError::NotFound),
        }
    }

    /// Password first (each try counted before it is checked), then the code where one is
    /// needed; a code opens the session stepped up.
    pub async fn sign_in(
        &self,
        username: &str,
        password: &str,
        code: Option<&str>,
        now: i64,
    ) -> Result<SignedIn, StaffError> {
        let name = Username::parse(username).map_err(|_| StaffError::BadCredentials)?;
        let Some(member) = self.store.by_username(&name).await? else {
            burn_a_check(password);
            return Err(StaffError::BadCredentials);
        };
        let failures = match self.store.claim_attempt(&member.id, now).await? {
            Attempt::Counted(failures) => failures,
            Attempt::Locked(until) => return Err(StaffError::Locked { until }),
        };
        if member.disabled || !password_matches(password, &member.password_hash) {
            let locked = self.store.record_failure(&member.id, failures, now).await?;
            if locked {
                tracing::warn!(staff_id = %member.id, "staff account locked after five wrong passwords");
            }
            return Err(StaffError::BadCredentials);
        }
        self.store.record_success(&member.id).await?;
        let needs_code = member.totp_secret.is_some() || member.role.requires_second_factor();
        let stepped_up_at = match (needs_code, code) {
            (false, _) => None,
            (true, None) => return Err(StaffError::CodeRequired),
            (true, Some(code)) => {
                self.check_code(&member, code, now).await?;
                Some(now)
            }
        };
        let expires_at = now + STAFF_TOKEN_SECONDS;
        let sid = self
            .store
            .open_session(&member, stepped_up_at, expires_at)
            .await?;
        Ok(SignedIn {
            member,
            sid,
            expires_at,
        })
    }

    /// A right code of the member's second factor, used once.
    pub async fn check_code(
        &self,
        member: &StaffMember,
        code: &str,
        now: i64,
    ) -> Result<(), StaffError> {
        let secret = member.totp_secret.as_deref().ok_or(StaffError::BadCode)?;
        let step = totp_step_of(secret, code, now).ok_or(StaffError::BadCode)?;
        if !self.store.use_totp_step(&member.id, step).await? {
            return Err(StaffError::BadCode);
        }
        Ok(())
    }

    /// A fresh secret to scan; it replaces nothing until a code from it confirms it.
    pub async fn start_enrolment(&self, member: &StaffMember) -> Result<Enrolment, StaffError> {
        let secret = new_totp_secret();
        self.store.start_enrolment(&member.id, &secret).await?;
        Ok(Enrolment {
            secret_base32: crate::credentials::base32(&secret),
            otpauth_uri: otpauth_uri(TOTP_ISSUER, member.username.as_str(), &secret),
        })
    }

    pub async fn confirm_enrolment(
        &self,
        member: &StaffMember,
        code: &str,
        now: i64,
    ) -> Result<(), StaffError> {
        let pending = member
            .pending_totp
            .as_deref()
            .ok_or(StaffError::NotEnrolling)?;
        let step = totp_step_of(pending, code, now).ok_or(StaffError::BadCode)?;
        if !self.store.use_totp_step(&member.id, step).await? {
            return Err(StaffError::BadCode);
        }
        if !self.store.confirm_enrolment(&member.id, pending).await? {
            return Err(StaffError::NotEnrolling);
        }
        Ok(())
    }

    /// The owner adds a member: answers the member, the one-time password to hand them and,
    /// for another owner (who always signs in with a code), the `otpauth://` URI to scan.
    pub async fn add(
        &self,
        username: &str,
        role: Role,
        by: &Actor,
        now: i64,
    ) -> Result<(StaffMember, String, Option<String>), StaffError> {
        let name = Username::parse(username).map_err(StaffError::Invalid)?;
        let password = one_time_password();
        let mut member = StaffMember::new(name, role, hash_password(&password)?, now);
        let uri = role.requires_second_factor().then(|| {
            let secret = new_totp_secret();
            member.totp_secret = Some(secret.to_vec());
            otpauth_uri(TOTP_ISSUER, member.username.as_str(), &secret)
        });
        self.create(&member, by, now).await?;
        Ok((member, password, uri))
    }

    /// The shop's first owner (`shopctl staff create-owner`): enrolled in a second factor
    /// from the start, since owners always need one. Answers the owner, their one-time
    /// password and the `otpauth://` URI to scan.
    pub async fn create_owner(
        &self,
        username: &str,
        now: i64,
    ) -> Result<(StaffMember, String, String), StaffError> {
        let name = Username::parse(username).map_err(StaffError::Invalid)?;
        let password = one_time_password();
        let secret = new_totp_secret();
        let mut member = StaffMember::new(name, Role::Owner, hash_password(&password)?, now);
        member.totp_secret = Some(secret.to_vec());
        self.create(&member, &Actor::shopctl(), now).await?;
        let uri = otpauth_uri(TOTP_ISSUER, member.username.as_str(), &secret);
        Ok((member, password, uri))
    }

    /// A new password, after the current one is proven; every other session of the member
    /// is signed out, and this one may do all its role allows.
    pub async fn change_password(
        &self,
        member: &StaffMember,
        sid: &str,
        current: &str,
        new: &str,
    ) -> Result<(), StaffError> {
        if !password_matches(current, &member.password_hash) {
            return Err(StaffError::BadCredentials);
        }
        let new = domain::staff::new_password(new).map_err(StaffError::Invalid)?;
        if password_matches(new, &member.password_hash) {
            return Err(StaffError::Invalid(FieldError::new(
                "newPassword",
                "must differ from the current one",
            )));
        }
        self.store
            .set_password(&member.id, &hash_password(new)?)
            .await?;
        self.store.close_sessions(&member.id, Some(sid)).await?;
        self.store.password_changed(&member.id, sid).await?;
        Ok(())
    }
}
