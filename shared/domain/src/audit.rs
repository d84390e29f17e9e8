//! The merchant's audit log: who did what to what, with what it was before and after, kept as
//! one hash chain per day (China time). Each record carries the SHA-256 of the record before
//! it, so deleting or editing any record breaks the chain at that record, which
//! [`verify_chain`] names.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// What the first record of a day follows.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What an action did, before it is placed in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub staff_id: String,
    pub role: String,
    /// `staff.add`, `staff.disable`, `price.set`, `refund.approve`, `phone.reveal`, ...
    pub action: String,
    /// What it was done to: `staff:st_x`, `sku:longjing-1`, `order:2026...`.
    pub target: String,
    /// Personal data masked by the caller before it gets here.
    pub before: Value,
    pub after: Value,
    pub request_id: String,
    pub at: i64,
}

/// A record in its chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    pub day: String,
    pub seq: u64,
    pub at: i64,
    pub staff_id: String,
    pub role: String,
    pub action: String,
    pub target: String,
    #[serde(default)]
    pub before: Value,
    #[serde(default)]
    pub after: Value,
    pub request_id: String,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditRecord {
    /// `entry` as record `seq` of `day`, after the record whose hash is `prev_hash`.
    pub fn chained(entry: AuditEntry, day: &str, seq: u64, prev_hash: &str) -> Self {
        let mut record = Self {
            day: day.to_string(),
            seq,
            at: entry.at,
            staff_id: entry.staff_id,
            role: entry.role,
            action: entry.action,
            target: entry.target,
            before: entry.before,
            after: entry.after,
            request_id: entry.request_id,
            prev_hash: prev_hash.to_string(),
            hash: String::new(),
        };
        record.hash = record.computed_hash();
        record
    }

    /// SHA-256 over the previous hash and every field but its own hash, keys sorted.
    pub fn computed_hash(&self) -> String {
        let fields = json!({
            "day": self.day, "seq": self.seq, "at": self.at, "staffId": self.staff_id,
            "role": self.role, "action": self.action, "target": self.target,
            "before": self.before, "after": self.after, "requestId": self.request_id,
        });
        let mut hasher = Sha256::new();
        hasher.update(self.prev_hash.as_bytes());
        hasher.update(b"\n");
        hasher.update(fields.to_string().as_bytes());
        hex::encode(hasher.finalize())
    }
}

/// Where a day's chain breaks, and how.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokenLink {
    #[error("record {seq} was changed: its hash no longer matches what it holds")]
    Edited { seq: u64 },
    #[error(
        "record {seq} does not follow record {before}: a record between was deleted or replaced"
    )]
    Unlinked { seq: u64, before: u64 },
    #[error("record {seq} is missing (the day's head says {last} records)")]
    Missing { seq: u64, last: u64 },
}

impl BrokenLink {
    /// The record where the chain breaks.
    pub fn seq(&self) -> u64 {
        match self {
            BrokenLink::Edited { seq }
            | BrokenLink::Unlinked { seq, .. }
            | BrokenLink::Missing { seq, .. } => *seq,
        }
    }
}

/// Checks a day's records (in `seq` order) against each other and against the day's head
/// (how many records it holds and the last hash).
pub fn verify_chain(records: &[AuditRecord], head: Option<(u64, &str)>) -> Result<(), BrokenLink> {
    let mut prev_hash = GENESIS.to_string();
    let mut prev_seq = 0;
    for record in records {
        if record.seq != prev_seq + 1 {
            return Err(BrokenLink::Missing {
                seq: prev_seq + 1,
                last: head.map_or(record.seq, |(last, _)| last),
            });
        }
        if record.computed_hash() != record.hash {
            return Err(BrokenLink::Edited { seq: record.seq });
        }
        if record.prev_hash != prev_hash {
            return Err(BrokenLink::Unlinked {
                seq: record.seq,
                before: prev_seq,
            });
        }
        prev_hash = record.hash.clone();
        prev_seq = record.seq;
    }
    match head {
        Some((last, _)) if last > prev_seq => Err(BrokenLink::Missing {
            seq: prev_seq + 1,
            last,
        }),
        Some((last, hash)) if last == prev_seq && hash != prev_hash && last > 0 => {
            Err(BrokenLink::Edited { seq: last })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: i64) -> AuditEntry {
        AuditEntry {
            staff_id: "st_owner".into(),
            role: "owner".into(),
            action: "staff.add".into(),
            target: format!("staff:st_{n}"),
            before: Value::Null,
            after: json!({"role": "service"}),
            request_id: format!("r{n}"),
            at: 1_796_100_000 + n,
        }
    }

    fn chain(n: u64) -> Vec<AuditRecord> {
        let mut records: Vec<AuditRecord> = Vec::new();
        for seq in 1..=n {
            let prev = records
                .last()
                .map_or(GENESIS.to_string(), |r| r.hash.clone());
            records.push(AuditRecord::chained(
                entry(seq as i64),
                "2026-12-01",
                seq,
                &prev,
            ));
        }
        records
    }

    #[test]
    fn an_untouched_day_verifies() {
        let records = chain(4);
        let head = (4, records[3].hash.as_str());
        assert_eq!(verify_chain(&records, Some(head)), Ok(()));
        assert_eq!(verify_chain(&[], None), Ok(()));
    }

    #[test]
    fn an_edited_record_breaks_the_chain_at_itself() {
        let mut records = chain(4);
        records[2].after = json!({"role": "owner"});
        let head = (4, records[3].hash.clone());
        assert_eq!(
            verify_chain(&records, Some((head.0, &head.1))),
            Err(BrokenLink::Edited { seq: 3 })
        );
    }

    #[test]
    fn a_record_edited_with_its_hash_recomputed_breaks_the_next_link() {
        let mut records = chain(4);
        records[1].target = "staff:someone-else".into();
        records[1].hash = records[1].computed_hash();
        let head = (4, records[3].hash.clone());
        assert_eq!(
            verify_chain(&records, Some((head.0, &head.1))),
            Err(BrokenLink::Unlinked { seq: 3, before: 2 })
        );
    }

    #[test]
    fn a_deleted_record_is_named_whether_in_the_middle_or_last() {
        let records = chain(4);
        let head = (4, records[3].hash.clone());
        let mut middle = records.clone();
        middle.remove(1);
        assert_eq!(
            verify_chain(&middle, Some((head.0, &head.1))),
            Err(BrokenLink::Missing { seq: 2, last: 4 })
        );
        let last = &records[..3];
        assert_eq!(
            verify_chain(last, Some((head.0, &head.1))),
            Err(BrokenLink::Missing { seq: 4, last: 4 })
        );
    }
}
