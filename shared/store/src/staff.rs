//! The merchant's staff, in the staff table (keys `pk`, `sk`; `expiresAt` TTL), which only the
//! admin function may read:
//! - `STAFF#<id>` / `PROFILE`: username, role, the Argon2id hash of the password, the TOTP
//!   secret once enrolled (`totpSecret`; `pendingTotp` while enrolling), the last TOTP step
//!   used (so a code works once), failed sign-ins and the lock, and whether disabled
//! - `USERNAME#<name>` / `USERNAME`: whose name it is, written with the profile in one
//!   transaction, so a name is taken once
//! - `DIRECTORY` / `STAFF#<id>`: the staff list (name, role, disabled)
//! - `STAFF#<id>` / `SESSION#<sid>`: a signed-in session with the role it acts as, when it
//!   last stepped up, and when it lapses; every staff request reads it, so signing out or
//!   disabling a member (both delete sessions) refuses their tokens at once
//!
//! Failed sign-ins are counted before the password is checked (a claimed try), conditional on
//! fewer than five and no lock, so parallel guesses get five tries in all.

use super::{Item, StoreError, get_i64, get_s, n, s};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem, Update};
use base64::Engine;
use domain::ids::random_token;
use domain::staff::{LOCK_SECONDS, MAX_FAILED_SIGN_INS, Role, SignInGuard, Username};

fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    Item::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

fn profile_key(id: &str) -> Item {
    key(format!("STAFF#{id}"), "PROFILE")
}

fn session_key(id: &str, sid: &str) -> Item {
    key(format!("STAFF#{id}"), format!("SESSION#{sid}"))
}

fn build_err(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::dynamo("build staff write", e)
}

/// A staff member as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffMember {
    pub id: String,
    pub username: Username,
    pub role: Role,
    pub password_hash: String,
    pub totp_secret: Option<Vec<u8>>,
    pub pending_totp: Option<Vec<u8>>,
    pub last_totp_step: Option<i64>,
    pub guard: SignInGuard,
    pub disabled: bool,
    pub created_at: i64,
    /// A password handed out (a new member's first) must be changed at the first sign-in.
    pub must_change_password: bool,
}

impl StaffMember {
    pub fn new(username: Username, role: Role, password_hash: String, now: i64) -> Self {
        Self {
            id: format!("st_{}", random_token(12)),
            username,
            role,
            password_hash,
            totp_secret: None,
            pending_totp: None,
            last_totp_step: None,
            guard: SignInGuard::default(),
            disabled: false,
            created_at: now,
            must_change_password: true,
        }
    }
}

fn secret_of(item: &Item, name: &str) -> Option<Vec<u8>> {
    get_s(item, name).and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
}

fn read_member(item: &Item) -> Result<StaffMember, StoreError> {
    let corrupt = |problem: &str| StoreError::Corrupt {
        key: format!("{}/PROFILE", get_s(item, "pk").unwrap_or_default()),
        problem: problem.to_string(),
    };
    Ok(StaffMember {
        id: get_s(item, "id")
            .ok_or_else(|| corrupt("no id"))?
            .to_string(),
        username: Username::parse(get_s(item, "username").unwrap_or_default())
            .map_err(|_| corrupt("bad username"))?,
        role: Role::parse(get_s(item, "role").unwrap_or_default())
            .map_err(|_| corrupt("bad role"))?,
        password_hash: get_s(item, "passwordHash")
            .ok_or_else(|| corrupt("no password hash"))?
            .to_string(),
        totp_secret: secret_of(item, "totpSecret"),
        pending_totp: secret_of(item, "pendingTotp"),
        last_totp_step: get_i64(item, "lastTotpStep"),
        guard: SignInGuard {
            failures: get_i64(item, "failures")
                .and_then(|f| u32::try_from(f).ok())
                .unwrap_or(0),
            locked_until: get_i64(item, "lockedUntil"),
        },
        disabled: matches!(item.get("disabled"), Some(AttributeValue::Bool(true))),
        created_at: get_i64(item, "createdAt").unwrap_or(0),
        must_change_password: matches!(
            item.get("mustChangePassword"),
            Some(AttributeValue::Bool(true))
        ),
    })
}

/// A signed-in session, as each staff request finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffSession {
    pub staff_id: String,
    pub sid: String,
    pub role: Role,
    /// Signed in with a handed-out password: only their own account until they change it.
    pub must_change_password: bool,
    pub stepped_up_at: Option<i64>,
    pub expires_at: i64,
}

/// What claiming a sign-in try found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// The try is counted (this many so far, it included); check the password now.
    Counted(u32),
    /// Locked until then (or five tries are being checked right now: `None`).
    Locked(Option<i64>),
}

#[derive(Clone)]
pub struct StaffStore {
    client: Client,
    table: String,
}

impl StaffStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The writes that add a staff member, each refused if the name or id is taken: commit
    /// them with their audit record ([`crate::audit::AuditLog::commit`]).
    pub fn create_writes(
        &self,
        member: &StaffMember,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut profile = profile_key(&member.id);
        profile.extend([
            ("id".to_string(), s(&member.id)),
            ("username".to_string(), s(member.username.as_str())),
            ("role".to_string(), s(member.role.as_str())),
            ("passwordHash".to_string(), s(&member.password_hash)),
            ("createdAt".to_string(), n(member.created_at)),
            (
                "mustChangePassword".to_string(),
                AttributeValue::Bool(member.must_change_password),
            ),
        ]);
        if let Some(secret) = &member.totp_secret {
            profile.insert(
                "totpSecret".into(),
                s(base64::engine::general_purpose::STANDARD.encode(secret)),
            );
        }
        let mut name = key(format!("USERNAME#{}", member.username.as_str()), "USERNAME");
        name.insert("staffId".into(), s(&member.id));
        let mut listed = key("DIRECTORY", format!("STAFF#{}", member.id));
        listed.extend([
            ("id".to_string(), s(&member.id)),
            ("username".to_string(), s(member.username.as_str())),
            ("role".to_string(), s(member.role.as_str())),
            ("createdAt".to_string(), n(member.created_at)),
        ]);
        [name, profile, listed]
            .into_iter()
            .map(|item| {
                Ok(TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(&self.table)
                            .set_item(Some(item))
                            .condition_expression("attribute_not_exists(pk)")
                            .build()
                            .map_err(build_err)?,
                    )
                    .build())
            })
            .collect()
    }

    async fn item(&self, key: Item, what: &'static str) -> Result<Option<Item>, StoreError> {
        Ok(self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo(what, e))?
            .item)
    }

    pub async fn get(&self, id: &str) -> Result<Option<StaffMember>, StoreError> {
        self.item(profile_key(id), "GetItem staff")
            .await?
            .as_ref()
            .map(read_member)
            .transpose()
    }

    pub async fn by_username(&self, name: &Username) -> Result<Option<StaffMember>, StoreError> {
        let Some(owner) = self
            .item(
                key(format!("USERNAME#{}", name.as_str()), "USERNAME"),
                "GetItem staff username",
            )
            .await?
        else {
            return Ok(None);
        };
        match get_s(&owner, "staffId") {
            Some(id) => self.get(id).await,
            None => Ok(None),
        }
    }

    /// Every staff member, as listed: (id, username, role, disabled, created at).
    pub async fn directory(&self) -> Result<Vec<(String, String, Role, bool, i64)>, StoreError> {
        let items = super::query_partition(
            &self.client,
            &self.table,
            "DIRECTORY",
            None,
            "Query staff directory",
        )
        .await?;
        Ok(items
            .iter()
            .filter_map(|i| {
                Some((
                    get_s(i, "id")?.to_string(),
                    get_s(i, "username")?.to_string(),
                    Role::parse(get_s(i, "role")?).ok()?,
                    matches!(i.get("disabled"), Some(AttributeValue::Bool(true))),
                    get_i64(i, "createdAt").unwrap_or(0),
                ))
            })
            .collect())
    }

    /// Counts a sign-in try before the password is checked: refused while locked or while
    /// five tries are counted. A lock that ran out starts the count again.
    pub async fn claim_attempt(&self, id: &str, now: i64) -> Result<Attempt, StoreError> {
        for _ in 0..3 {
            let claimed = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(profile_key(id)))
                .update_expression("ADD failures :one")
                .condition_expression(
                    "attribute_exists(pk) AND attribute_not_exists(lockedUntil) \
                     AND (attribute_not_exists(failures) OR failures < :max)",
                )
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":max", n(MAX_FAILED_SIGN_INS))
                .return_values(ReturnValue::UpdatedNew)
                .send()
                .await;
            match claimed {
                Ok(out) => {
                    let failures = out
                        .attributes
                        .as_ref()
                        .and_then(|a| get_i64(a, "failures"))
                        .and_then(|f| u32::try_from(f).ok())
                        .unwrap_or(1);
                    return Ok(Attempt::Counted(failures));
                }
                Err(err) if super::condition_failed(&err) => {
                    let Some(member) = self.get(id).await? else {
                        return Ok(Attempt::Locked(None));
                    };
                    let guard = member.guard;
                    if guard.locked(now) {
                        return Ok(Attempt::Locked(guard.locked_until));
                    }
                    if !guard.lapsed(now) {
                        // Five tries being checked right now.
                        return Ok(Attempt::Locked(None));
                    }
                    // The lock ran out: start again, once, whoever gets here first.
                    let reset = self
                        .client
                        .update_item()
                        .table_name(&self.table)
                        .set_key(Some(profile_key(id)))
                        .update_expression("SET failures = :zero REMOVE lockedUntil")
                        .condition_expression("lockedUntil = :seen")
                        .expression_attribute_values(":zero", n(0))
                        .expression_attribute_values(":seen", n(guard.locked_until.unwrap_or(0)))
                        .send()
                        .await;
                    if let Err(err) = reset
                        && !super::condition_failed(&err)
                    {
                        return Err(StoreError::dynamo("UpdateItem staff lock lapse", err));
                    }
                }
                Err(err) => return Err(StoreError::dynamo("UpdateItem staff attempt", err)),
            }
        }
        Ok(Attempt::Locked(None))
    }

    /// The counted try was wrong: the fifth locks the account for 15 minutes.
    pub async fn record_failure(
        &self,
        id: &str,
        failures: u32,
        now: i64,
    ) -> Result<bool, StoreError> {
        if failures < MAX_FAILED_SIGN_INS {
            return Ok(false);
        }
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(profile_key(id)))
            .update_expression("SET lockedUntil = :until")
            .condition_expression("failures >= :max")
            .expression_attribute_values(":until", n(now + LOCK_SECONDS))
            .expression_attribute_values(":max", n(MAX_FAILED_SIGN_INS))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem staff lock", e))?;
        Ok(true)
    }

    /// The counted try was right: the count starts again.
    pub async fn record_success(&self, id: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(profile_key(id)))
            .update_expression("SET failures = :zero")
            .condition_expression("attribute_not_exists(lockedUntil)")
            .expression_attribute_values(":zero", n(0))
            .send()
            .await
            .map(|_| ())
            .or_else(|err| {
                if super::condition_failed(&err) {
                    Ok(())
                } else {
                    Err(StoreError::dynamo("UpdateItem staff success", err))
                }
            })
    }

    /// Uses TOTP step `step`: false when it (or a later one) was used already, so a code
    /// works once.
    pub async fn use_totp_step(&self, id: &str, step: i64) -> Result<bool, StoreError> {
        let used = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(profile_key(id)))
            .update_expression("SET lastTotpStep = :step")
            .condition_expression("attribute_not_exists(lastTotpStep) OR lastTotpStep < :step")
            .expression_attribute_values(":step", n(step))
            .send()
            .await;
        match used {
            Ok(_) => Ok(true),
            Err(err) if super::condition_failed(&err) => Ok(false),
            Err(err) => Err(StoreError::dynamo("UpdateItem staff totp step", err)),
        }
    }

    /// Keeps a TOTP secret being enrolled, until a code from it confirms it.
    pub async fn start_enrolment(&self, id: &str, secret: &[u8]) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(profile_key(id)))
            .update_expression("SET pendingTotp = :secret")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(
                ":secret",
                s(base64::engine::general_purpose::STANDARD.encode(secret)),
            )
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem staff enrol", e))?;
        Ok(())
    }

    /// The enrolling secret becomes the second factor.
    pub async fn confirm_enrolment(&self, id: &str, secret: &[u8]) -> Result<bool, StoreError> {
        let encoded = base64::engine::general_purpose::STANDARD.encode(secret);
        let confirmed = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(profile_key(id)))
            .update_expression("SET totpSecret = :secret REMOVE pendingTotp")
            .condition_expression("pendingTotp = :secret")
            .expression_attribute_values(":secret", s(encoded))
            .send()
            .await;
        match confirmed {
            Ok(_) => Ok(true),
            Err(err) if super::condition_failed(&err) => Ok(false),
            Err(err) => Err(StoreError::dynamo("UpdateItem staff confirm", err)),
        }
    }

    pub async fn set_password(&self, id: &str, password_hash: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(profile_key(id)))
            .update_expression("SET passwordHash = :hash, mustChangePassword = :no")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":hash", s(password_hash))
            .expression_attribute_values(":no", AttributeValue::Bool(false))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem staff password", e))?;
        Ok(())
    }

    /// Opens a session acting as `role` until `expires_at`; its id.
    pub async fn open_session(
        &self,
        member: &StaffMember,
        stepped_up_at: Option<i64>,
        expires_at: i64,
    ) -> Result<String, StoreError> {
        let sid = random_token(20);
        let mut item = session_key(&member.id, &sid);
        item.extend([
            ("staffId".to_string(), s(&member.id)),
            ("role".to_string(), s(member.role.as_str())),
            ("expiresAt".to_string(), n(expires_at)),
            (
                "mustChangePassword".to_string(),
                AttributeValue::Bool(member.must_change_password),
            ),
        ]);
        if let Some(at) = stepped_up_at {
            item.insert("steppedUpAt".into(), n(at));
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("PutItem staff session", e))?;
        Ok(sid)
    }

    /// The session, while it has not lapsed (TTL deletes lapsed ones late: checked here).
    pub async fn session(
        &self,
        id: &str,
        sid: &str,
        now: i64,
    ) -> Result<Option<StaffSession>, StoreError> {
        let Some(item) = self
            .item(session_key(id, sid), "GetItem staff session")
            .await?
        else {
            return Ok(None);
        };
        let expires_at = get_i64(&item, "expiresAt").unwrap_or(0);
        if expires_at <= now {
            return Ok(None);
        }
        Ok(Some(StaffSession {
            staff_id: id.to_string(),
            sid: sid.to_string(),
            role: Role::parse(get_s(&item, "role").unwrap_or_default()).map_err(|_| {
                StoreError::Corrupt {
                    key: format!("STAFF#{id}/SESSION"),
                    problem: "bad role".into(),
                }
            })?,
            stepped_up_at: get_i64(&item, "steppedUpAt"),
            must_change_password: matches!(
                item.get("mustChangePassword"),
                Some(AttributeValue::Bool(true))
            ),
            expires_at,
        }))
    }

    /// Moves a live session on: a later lapse, or a fresh step-up. False once it is gone.
    pub async fn touch_session(
        &self,
        id: &str,
        sid: &str,
        expires_at: Option<i64>,
        stepped_up_at: Option<i64>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut sets = Vec::new();
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(session_key(id, sid)))
            .condition_expression("expiresAt > :now")
            .expression_attribute_values(":now", n(now));
        if let Some(at) = expires_at {
            sets.push("expiresAt = :until");
            update = update.expression_attribute_values(":until", n(at));
        }
        if let Some(at) = stepped_up_at {
            sets.push("steppedUpAt = :stepped");
            update = update.expression_attribute_values(":stepped", n(at));
        }
        if sets.is_empty() {
            return Ok(true);
        }
        match update
            .update_expression(format!("SET {}", sets.join(", ")))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(err) if super::condition_failed(&err) => Ok(false),
            Err(err) => Err(StoreError::dynamo("UpdateItem staff session", err)),
        }
    }

    pub async fn close_session(&self, id: &str, sid: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(session_key(id, sid)))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("DeleteItem staff session", e))?;
        Ok(())
    }

    /// The writes that disable a member (refused if there is no such member): commit them
    /// with their audit record, then [`StaffStore::close_sessions`].
    pub fn disable_writes(&self, id: &str) -> Result<Vec<TransactWriteItem>, StoreError> {
        let profile = Update::builder()
            .table_name(&self.table)
            .set_key(Some(profile_key(id)))
            .update_expression("SET disabled = :yes")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .build()
            .map_err(build_err)?;
        let listed = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key("DIRECTORY", format!("STAFF#{id}"))))
            .update_expression("SET disabled = :yes")
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .build()
            .map_err(build_err)?;
        Ok(vec![
            TransactWriteItem::builder().update(profile).build(),
            TransactWriteItem::builder().update(listed).build(),
        ])
    }

    /// The writes that move an enabled member from role `from` to `to` (refused if the member
    /// is gone, disabled or no longer `from`): commit them with their audit record, then close
    /// their sessions, which act as the role they signed in with.
    pub fn role_writes(
        &self,
        id: &str,
        from: Role,
        to: Role,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let profile = Update::builder()
            .table_name(&self.table)
            .set_key(Some(profile_key(id)))
            .update_expression("SET #r = :to")
            .condition_expression(
                "attribute_exists(pk) AND #r = :from AND (attribute_not_exists(disabled) OR disabled = :no)",
            )
            .expression_attribute_names("#r", "role")
            .expression_attribute_values(":to", s(to.as_str()))
            .expression_attribute_values(":from", s(from.as_str()))
            .expression_attribute_values(":no", AttributeValue::Bool(false))
            .build()
            .map_err(build_err)?;
        let listed = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key("DIRECTORY", format!("STAFF#{id}"))))
            .update_expression("SET #r = :to")
            .expression_attribute_names("#r", "role")
            .expression_attribute_values(":to", s(to.as_str()))
            .build()
            .map_err(build_err)?;
        Ok(vec![
            TransactWriteItem::builder().update(profile).build(),
            TransactWriteItem::builder().update(listed).build(),
        ])
    }

    /// Closes every session the member has (but `keep`): their tokens are 401 at once.
    pub async fn close_sessions(&self, id: &str, keep: Option<&str>) -> Result<usize, StoreError> {
        let mut sessions = super::query_prefix(
            &self.client,
            &self.table,
            &format!("STAFF#{id}"),
            "SESSION#",
            "Query staff sessions",
        )
        .await?;
        if let Some(keep) = keep {
            let kept = format!("SESSION#{keep}");
            sessions.retain(|item| get_s(item, "sk") != Some(kept.as_str()));
        }
        super::delete_keys(&self.client, &self.table, &sessions).await
    }

    /// The session's password is its own now: the whole admin API opens to it.
    pub async fn password_changed(&self, id: &str, sid: &str) -> Result<(), StoreError> {
        let changed = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(session_key(id, sid)))
            .update_expression("SET mustChangePassword = :no")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":no", AttributeValue::Bool(false))
            .send()
            .await;
        match changed {
            Ok(_) => Ok(()),
            Err(err) if super::condition_failed(&err) => Ok(()),
            Err(err) => Err(StoreError::dynamo("UpdateItem staff session password", err)),
        }
    }
}
