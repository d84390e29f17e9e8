//! Shoppers' personal data at rest. A receiver's name, phone and street address, on an order
//! and in the address book, are sealed with AES-256-GCM under a data key from KMS (envelope
//! encryption), so a console read, an export or a backup of a table shows ciphertext.
//!
//! - A process seals with one data key: one `GenerateDataKey` on its first seal, kept for the
//!   life of the process. The data key as KMS wrapped it is stored beside each ciphertext.
//! - Opening unwraps an item's data key with one `Decrypt`, kept too: a process that reads what
//!   many others sealed calls KMS once per data key it meets, not once per item.
//! - The item's key is the AES-GCM associated data, so a sealed receiver copied onto another
//!   order or address does not open.
//! - Items written before sealing existed (`name`, `phone`, `detail` in clear) still read:
//!   read old, write new; `shopctl personal-data seal` seals what is left of them.
//! - A store given no keys (a function without `kms:Decrypt`) reads the rest of an item and
//!   gets the three fields empty: withheld, never an error.
//!
//! - A phone is found by a keyed hash of its last four digits (HMAC-SHA-256 under the shop's
//!   lookup key: a data key made once for the shop, kept wrapped beside the orders it finds,
//!   `LOOKUP#phone-tail` / `KEY`), never by the number.
//!
//! In the sealed map: `province`, `city`, `district` stay in clear (sales by region add up
//! without a key); `sealed` (binary: format 1, a 12-byte nonce, then the ciphertext and tag of
//! the JSON `{"name", "phone", "detail"}`) and `dataKey` (binary: the wrapped data key) replace
//! the three fields.

use super::{Item, StoreError};
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// The fields sealed; everything else of an address stays in clear.
pub const SEALED_FIELDS: [&str; 3] = ["name", "phone", "detail"];
const SEALED: &str = "sealed";
const DATA_KEY: &str = "dataKey";
const FORMAT: u8 = 1;
/// Bound into every data key KMS makes for us: a key wrapped for anything else does not
/// unwrap here, and IAM policies can name it.
const CONTEXT_KEY: &str = "purpose";
const CONTEXT_VALUE: &str = "shop-personal-data";
/// Unwrapped data keys kept; past this the cache starts again (each miss is one Decrypt).
const MAX_OPENED: usize = 1024;

/// The keys to shoppers' personal data: what seals it and what opens it. Cheap to clone; one
/// per cold start, shared by every store that keeps personal data.
#[derive(Clone)]
pub struct PersonalDataKeys(Arc<Keys>);

struct Keys {
    kms: crate::kms::Kms,
    key_id: String,
    sealing: tokio::sync::OnceCell<Arc<DataKey>>,
    opened: Mutex<HashMap<Vec<u8>, Arc<DataKey>>>,
    lookup: tokio::sync::OnceCell<Arc<aws_lc_rs::hmac::Key>>,
}

/// Where the shop's lookup key is kept (in the orders table).
const LOOKUP_KEY: (&str, &str) = ("LOOKUP#phone-tail", "KEY");

/// A data key: as KMS wrapped it (stored) and in the clear (kept in memory only).
struct DataKey {
    wrapped: Vec<u8>,
    key: LessSafeKey,
}

impl DataKey {
    fn new(wrapped: Vec<u8>, plaintext: &[u8]) -> Result<Self, String> {
        let key = UnboundKey::new(&AES_256_GCM, plaintext)
            .map_err(|_| "the data key is not an AES-256 key".to_string())?;
        Ok(Self {
            wrapped,
            key: LessSafeKey::new(key),
        })
    }
}

fn kms_error(operation: &'static str, err: crate::kms::KmsError) -> StoreError {
    StoreError::PersonalData {
        operation,
        problem: err.to_string(),
    }
}

impl PersonalDataKeys {
    /// Sealing under the KMS key `key_id` (id, ARN or alias).
    pub fn new(kms: crate::kms::Kms, key_id: impl Into<String>) -> Self {
        Self(Arc::new(Keys {
            kms,
            key_id: key_id.into(),
            sealing: tokio::sync::OnceCell::new(),
            opened: Mutex::new(HashMap::new()),
            lookup: tokio::sync::OnceCell::new(),
        }))
    }

    /// The same, calling KMS with the region, endpoint and credentials of `config`.
    pub fn from_config(
        config: &aws_config::SdkConfig,
        key_id: impl Into<String>,
    ) -> Result<Self, String> {
        Ok(Self::new(crate::kms::Kms::from_config(config)?, key_id))
    }

    async fn sealing_key(&self) -> Result<Arc<DataKey>, StoreError> {
        self.0
            .sealing
            .get_or_try_init(|| async {
                let (wrapped, plaintext) = self.generate().await?;
                let key = Arc::new(DataKey::new(wrapped, &plaintext).map_err(|problem| {
                    StoreError::PersonalData {
                        operation: "KMS GenerateDataKey",
                        problem,
                    }
                })?);
                self.remember(key.clone());
                Ok(key)
            })
            .await
            .cloned()
    }

    fn remember(&self, key: Arc<DataKey>) {
        let mut opened = self.0.opened.lock().unwrap_or_else(|e| e.into_inner());
        if opened.len() >= MAX_OPENED {
            opened.clear();
        }
        opened.insert(key.wrapped.clone(), key);
    }

    fn known(&self, wrapped: &[u8]) -> Option<Arc<DataKey>> {
        let opened = self.0.opened.lock().unwrap_or_else(|e| e.into_inner());
        opened.get(wrapped).cloned()
    }

    /// A new data key: as KMS wrapped it, and in the clear.
    async fn generate(&self) -> Result<(Vec<u8>, Vec<u8>), StoreError> {
        self.0
            .kms
            .generate_data_key(&self.0.key_id, (CONTEXT_KEY, CONTEXT_VALUE))
            .await
            .map_err(|e| kms_error("KMS GenerateDataKey", e))
    }

    /// A data key KMS wrapped, in the clear.
    async fn decrypt(&self, wrapped: &[u8]) -> Result<Vec<u8>, StoreError> {
        self.0
            .kms
            .decrypt(wrapped, (CONTEXT_KEY, CONTEXT_VALUE))
            .await
            .map_err(|e| kms_error("KMS Decrypt", e))
    }

    /// The shop's lookup key, kept wrapped in `table`: read and unwrapped once per process;
    /// made by the first process that needs it (`create`), whoever wins the conditional put.
    /// `None` when it does not exist yet and `create` is false: nothing was hashed under it.
    pub(crate) async fn lookup_key(
        &self,
        client: &aws_sdk_dynamodb::Client,
        table: &str,
        create: bool,
    ) -> Result<Option<Arc<aws_lc_rs::hmac::Key>>, StoreError> {
        if let Some(key) = self.0.lookup.get() {
            return Ok(Some(key.clone()));
        }
        let key_item = || -> Item {
            [
                ("pk".to_string(), AttributeValue::S(LOOKUP_KEY.0.into())),
                ("sk".to_string(), AttributeValue::S(LOOKUP_KEY.1.into())),
            ]
            .into()
        };
        for _ in 0..2 {
            let found = client
                .get_item()
                .table_name(table)
                .set_key(Some(key_item()))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| StoreError::dynamo("GetItem lookup key", e))?
                .item;
            let plaintext = match found.as_ref().and_then(|i| i.get(DATA_KEY)) {
                Some(AttributeValue::B(wrapped)) => self.decrypt(wrapped.as_ref()).await?,
                _ if !create => return Ok(None),
                _ => {
                    let (wrapped, plaintext) = self.generate().await?;
                    let mut item = key_item();
                    item.insert(DATA_KEY.into(), AttributeValue::B(Blob::new(wrapped)));
                    let put = client
                        .put_item()
                        .table_name(table)
                        .set_item(Some(item))
                        .condition_expression("attribute_not_exists(pk)")
                        .send()
                        .await;
                    match put {
                        Ok(_) => plaintext,
                        // Another process made it first: use theirs.
                        Err(err) if super::condition_failed(&err) => continue,
                        Err(err) => return Err(StoreError::dynamo("PutItem lookup key", err)),
                    }
                }
            };
            let key = Arc::new(aws_lc_rs::hmac::Key::new(
                aws_lc_rs::hmac::HMAC_SHA256,
                &plaintext,
            ));
            let _ = self.0.lookup.set(key.clone());
            return Ok(Some(key));
        }
        Err(StoreError::PersonalData {
            operation: "lookup key",
            problem: "the lookup key kept changing".into(),
        })
    }

    async fn unwrap_key(&self, wrapped: Vec<u8>) -> Result<Arc<DataKey>, StoreError> {
        let plaintext = self.decrypt(&wrapped).await?;
        let key = Arc::new(DataKey::new(wrapped, &plaintext).map_err(|problem| {
            StoreError::PersonalData {
                operation: "KMS Decrypt",
                problem,
            }
        })?);
        self.remember(key.clone());
        Ok(key)
    }

    /// Seals `fields`' name, phone and street address in place, bound to `binding` (the key of
    /// the item they are stored in).
    pub(crate) async fn seal(&self, fields: &mut Item, binding: &str) -> Result<(), StoreError> {
        let key = self.sealing_key().await?;
        seal_with(&key, fields, binding)
    }

    /// Opens the sealed fields of every map in `sealed` in place (each with the binding it was
    /// sealed with); maps in clear are left as they are.
    pub(crate) async fn open(&self, sealed: Vec<(&mut Item, String)>) -> Result<(), StoreError> {
        let mut missing = HashSet::new();
        for (fields, _) in &sealed {
            if let Some(wrapped) = wrapped_key(fields)
                && self.known(wrapped).is_none()
            {
                missing.insert(wrapped.to_vec());
            }
        }
        futures::future::try_join_all(missing.into_iter().map(|w| self.unwrap_key(w))).await?;
        for (fields, binding) in sealed {
            let Some(wrapped) = wrapped_key(fields) else {
                continue;
            };
            let key = self
                .known(wrapped)
                .ok_or_else(|| StoreError::PersonalData {
                    operation: "open personal data",
                    problem: "a data key was forgotten while opening".into(),
                })?;
            open_with(&key, fields, &binding)?;
        }
        Ok(())
    }
}

/// The keyed hash that finds a phone by its last four digits: `None` for a phone without four
/// digits at its end (one revoked and blanked, say).
pub(crate) fn phone_tail_hash(key: &aws_lc_rs::hmac::Key, phone: &str) -> Option<String> {
    let digits: Vec<u8> = phone.bytes().filter(u8::is_ascii_digit).collect();
    let tail = digits.get(digits.len().checked_sub(4)?..)?;
    let tag = aws_lc_rs::hmac::sign(key, &[b"phone-tail:".as_slice(), tail].concat());
    Some(
        tag.as_ref()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

/// What binds a sealed map to its item: the item's table key.
fn binding(item: &Item) -> String {
    let part = |name: &str| super::get_s(item, name).unwrap_or("");
    format!("{}|{}", part("pk"), part("sk"))
}

/// The map of `item` that holds personal data: its `attribute` map, or the item itself.
fn personal_map<'a>(item: &'a mut Item, attribute: Option<&str>) -> Option<&'a mut Item> {
    match attribute {
        None => Some(item),
        Some(name) => match item.get_mut(name) {
            Some(AttributeValue::M(map)) => Some(map),
            _ => None,
        },
    }
}

/// Seals the personal data of an item about to be written (keys `pk`, `sk` set): in its
/// `attribute` map, or at its top level. A store without keys cannot write personal data.
pub(crate) async fn seal_item(
    keys: Option<&PersonalDataKeys>,
    item: &mut Item,
    attribute: Option<&str>,
) -> Result<(), StoreError> {
    let keys = keys.ok_or(StoreError::PersonalData {
        operation: "seal personal data",
        problem: "this function was given no key for personal data".into(),
    })?;
    let bound = binding(item);
    match personal_map(item, attribute) {
        Some(map) => keys.seal(map, &bound).await,
        None => Ok(()),
    }
}

/// Opens the personal data of items as read (or withholds it, for a store without keys).
pub(crate) async fn open_items(
    keys: Option<&PersonalDataKeys>,
    items: &mut [Item],
    attribute: Option<&str>,
) -> Result<(), StoreError> {
    let targets = items
        .iter_mut()
        .filter_map(|item| {
            let bound = binding(item);
            personal_map(item, attribute).map(|map| (map, bound))
        })
        .collect();
    open_or_withhold(keys, targets).await
}

/// Opens `sealed` with `keys`, or, for a store that has none, withholds the sealed fields.
async fn open_or_withhold(
    keys: Option<&PersonalDataKeys>,
    sealed: Vec<(&mut Item, String)>,
) -> Result<(), StoreError> {
    match keys {
        Some(keys) => keys.open(sealed).await,
        None => {
            for (fields, _) in sealed {
                if fields.remove(SEALED).is_some() {
                    fields.remove(DATA_KEY);
                    for name in SEALED_FIELDS {
                        fields.insert(name.into(), AttributeValue::S(String::new()));
                    }
                }
            }
            Ok(())
        }
    }
}

/// What `seal_what_is_clear` did to one table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Migrated {
    /// Items found with personal data in clear, and sealed now.
    pub sealed: usize,
    /// Items found in clear that changed before they could be sealed (read again next run).
    pub changed_meanwhile: usize,
}

/// Where a table keeps personal data for [`seal_what_is_clear`].
pub(crate) struct ClearItems<'a> {
    pub table: &'a str,
    /// Which items: `begins_with(sk, :sk)` or `sk = :sk`.
    pub sort_key: &'a str,
    pub sort_key_is_prefix: bool,
    /// The map holding the fields, or `None` for the item's top level.
    pub attribute: Option<&'a str>,
}

/// Seals the personal data that items written before sealing existed still hold in clear,
/// one scanned page at a time. Each item is sealed conditionally on its fields being as read,
/// so an address edited or erased meanwhile is left to its new state; running it again seals
/// nothing twice.
pub(crate) async fn seal_what_is_clear(
    client: &aws_sdk_dynamodb::Client,
    keys: Option<&PersonalDataKeys>,
    items: ClearItems<'_>,
) -> Result<Migrated, StoreError> {
    let field = |name: &str| match items.attribute {
        Some(_) => format!("#a.{name}"),
        None => name.to_string(),
    };
    let (phone, person, detail) = (field("phone"), field("#n"), field("detail"));
    let which = if items.sort_key_is_prefix {
        "begins_with(sk, :sk)"
    } else {
        "sk = :sk"
    };
    let mut migrated = Migrated::default();
    let mut start = None;
    loop {
        let mut scan = client
            .scan()
            .table_name(items.table)
            .filter_expression(format!(
                "{which} AND attribute_exists({phone}) AND attribute_not_exists({})",
                field(SEALED)
            ))
            .expression_attribute_values(":sk", AttributeValue::S(items.sort_key.into()))
            .set_exclusive_start_key(start.take());
        if let Some(attribute) = items.attribute {
            scan = scan.expression_attribute_names("#a", attribute);
        }
        let page = scan
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Scan for personal data in clear", e))?;
        for mut item in page.items.unwrap_or_default() {
            let Some(clear) = personal_map(&mut item, items.attribute).cloned() else {
                continue;
            };
            let text = |name: &str| match clear.get(name) {
                Some(AttributeValue::S(v)) => Some(AttributeValue::S(v.clone())),
                _ => None,
            };
            let (Some(p), Some(n), Some(d)) = (text("phone"), text("name"), text("detail")) else {
                continue;
            };
            let erased = matches!(&n, AttributeValue::S(v) if v == domain::order::ERASED_RECEIVER);
            if erased {
                continue;
            }
            seal_item(keys, &mut item, items.attribute).await?;
            let key: Item = ["pk", "sk"]
                .into_iter()
                .filter_map(|k| item.get(k).map(|v| (k.to_string(), v.clone())))
                .collect();
            let mut update = client
                .update_item()
                .table_name(items.table)
                .set_key(Some(key))
                .condition_expression(format!("{phone} = :p AND {person} = :n AND {detail} = :d"))
                .expression_attribute_names("#n", "name")
                .expression_attribute_values(":p", p)
                .expression_attribute_values(":n", n)
                .expression_attribute_values(":d", d);
            update = match items.attribute {
                Some(attribute) => update
                    .update_expression("SET #a = :sealed")
                    .expression_attribute_names("#a", attribute)
                    .expression_attribute_values(
                        ":sealed",
                        item.remove(attribute).unwrap_or(AttributeValue::Null(true)),
                    ),
                None => update
                    .update_expression("SET sealed = :s, dataKey = :k REMOVE #n, phone, detail")
                    .expression_attribute_values(
                        ":s",
                        item.remove(SEALED).unwrap_or(AttributeValue::Null(true)),
                    )
                    .expression_attribute_values(
                        ":k",
                        item.remove(DATA_KEY).unwrap_or(AttributeValue::Null(true)),
                    ),
            };
            match update.send().await {
                Ok(_) => migrated.sealed += 1,
                Err(err) if super::condition_failed(&err) => migrated.changed_meanwhile += 1,
                Err(err) => return Err(StoreError::dynamo("UpdateItem seal personal data", err)),
            }
        }
        start = page.last_evaluated_key;
        if start.is_none() {
            return Ok(migrated);
        }
    }
}

/// Whether a map holds sealed fields.
pub fn is_sealed(fields: &Item) -> bool {
    fields.contains_key(SEALED)
}

fn wrapped_key(fields: &Item) -> Option<&[u8]> {
    match fields.get(DATA_KEY) {
        Some(AttributeValue::B(blob)) if fields.contains_key(SEALED) => Some(blob.as_ref()),
        _ => None,
    }
}

fn seal_with(key: &DataKey, fields: &mut Item, binding: &str) -> Result<(), StoreError> {
    let clear: BTreeMap<&str, String> = SEALED_FIELDS
        .iter()
        .filter_map(|name| match fields.get(*name) {
            Some(AttributeValue::S(value)) => Some((*name, value.clone())),
            _ => None,
        })
        .collect();
    let mut sealed = serde_json::to_vec(&clear).map_err(|e| StoreError::PersonalData {
        operation: "seal personal data",
        problem: e.to_string(),
    })?;
    let mut nonce = [0u8; NONCE_LEN];
    aws_lc_rs::rand::fill(&mut nonce).map_err(|_| StoreError::PersonalData {
        operation: "seal personal data",
        problem: "no randomness for a nonce".into(),
    })?;
    key.key
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(binding.as_bytes()),
            &mut sealed,
        )
        .map_err(|_| StoreError::PersonalData {
            operation: "seal personal data",
            problem: "AES-GCM refused the fields".into(),
        })?;
    let mut blob = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
    blob.push(FORMAT);
    blob.extend_from_slice(&nonce);
    blob.extend_from_slice(&sealed);
    for name in SEALED_FIELDS {
        fields.remove(name);
    }
    fields.insert(SEALED.into(), AttributeValue::B(Blob::new(blob)));
    fields.insert(
        DATA_KEY.into(),
        AttributeValue::B(Blob::new(key.wrapped.clone())),
    );
    Ok(())
}

fn open_with(key: &DataKey, fields: &mut Item, binding: &str) -> Result<(), StoreError> {
    let corrupt = |problem: &str| StoreError::Corrupt {
        key: binding.to_string(),
        problem: format!("sealed personal data {problem}"),
    };
    let Some(AttributeValue::B(blob)) = fields.get(SEALED) else {
        return Err(corrupt("is not binary"));
    };
    let blob = blob.as_ref();
    if blob.len() < 1 + NONCE_LEN || blob[0] != FORMAT {
        return Err(corrupt("has an unknown format"));
    }
    let nonce = Nonce::try_assume_unique_for_key(&blob[1..1 + NONCE_LEN])
        .map_err(|_| corrupt("has no nonce"))?;
    let mut sealed = blob[1 + NONCE_LEN..].to_vec();
    let clear = key
        .key
        .open_in_place(nonce, Aad::from(binding.as_bytes()), &mut sealed)
        .map_err(|_| corrupt("does not open (altered, or moved from another item)"))?;
    let clear: BTreeMap<String, String> =
        serde_json::from_slice(clear).map_err(|_| corrupt("is not the fields"))?;
    fields.remove(SEALED);
    fields.remove(DATA_KEY);
    for (name, value) in clear {
        fields.insert(name, AttributeValue::S(value));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data_key(byte: u8) -> DataKey {
        DataKey::new(vec![byte; 8], &[byte; 32]).unwrap()
    }

    fn receiver() -> Item {
        [
            ("name", "张三"),
            ("phone", "13812345678"),
            ("province", "浙江省"),
            ("city", "杭州市"),
            ("district", "西湖区"),
            ("detail", "文三路1号"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), AttributeValue::S(v.into())))
        .collect()
    }

    #[test]
    fn sealed_fields_are_not_in_clear_and_open_to_what_they_were() {
        let key = data_key(7);
        let mut fields = receiver();
        seal_with(&key, &mut fields, "ORDER#o1|ORDER").unwrap();

        let stored = format!("{fields:?}");
        for clear in ["张三", "13812345678", "文三路1号"] {
            assert!(!stored.contains(clear), "{clear} in {stored}");
        }
        assert!(stored.contains("杭州市"), "the city stays for reports");
        assert!(is_sealed(&fields));
        assert_eq!(wrapped_key(&fields), Some(&[7u8; 8][..]));

        open_with(&key, &mut fields, "ORDER#o1|ORDER").unwrap();
        assert_eq!(fields, receiver());
    }

    #[test]
    fn each_seal_takes_a_fresh_nonce() {
        let key = data_key(1);
        let (mut a, mut b) = (receiver(), receiver());
        seal_with(&key, &mut a, "x").unwrap();
        seal_with(&key, &mut b, "x").unwrap();
        assert_ne!(a[SEALED], b[SEALED]);
    }

    #[test]
    fn a_seal_moved_to_another_item_or_altered_does_not_open() {
        let key = data_key(2);
        let mut fields = receiver();
        seal_with(&key, &mut fields, "ORDER#o1|ORDER").unwrap();

        let mut moved = fields.clone();
        let err = open_with(&key, &mut moved, "ORDER#o2|ORDER").unwrap_err();
        assert!(err.to_string().contains("does not open"), "{err}");

        let mut altered = fields.clone();
        let Some(AttributeValue::B(blob)) = altered.get(SEALED) else {
            panic!("sealed is binary")
        };
        let mut bytes = blob.as_ref().to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        altered.insert(SEALED.into(), AttributeValue::B(Blob::new(bytes)));
        assert!(open_with(&key, &mut altered, "ORDER#o1|ORDER").is_err());

        let other_key = data_key(3);
        assert!(open_with(&other_key, &mut fields, "ORDER#o1|ORDER").is_err());
    }

    #[test]
    fn a_phone_is_found_by_a_keyed_hash_of_its_last_four_digits() {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &[1; 32]);
        let other = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &[2; 32]);
        let full = phone_tail_hash(&key, "13812345678").unwrap();
        assert_eq!(
            phone_tail_hash(&key, "5678").as_deref(),
            Some(full.as_str())
        );
        assert_ne!(phone_tail_hash(&key, "5679").unwrap(), full);
        assert_ne!(phone_tail_hash(&other, "5678").unwrap(), full);
        assert!(!full.contains("5678") && full.len() == 32);
        assert_eq!(phone_tail_hash(&key, "567"), None);
        assert_eq!(phone_tail_hash(&key, ""), None);
    }

    #[tokio::test]
    async fn without_keys_sealed_fields_are_withheld_and_clear_ones_read_as_they_are() {
        let key = data_key(4);
        let mut sealed = receiver();
        seal_with(&key, &mut sealed, "b").unwrap();
        let mut old = receiver();

        open_or_withhold(
            None,
            vec![(&mut sealed, "b".into()), (&mut old, "c".into())],
        )
        .await
        .unwrap();

        assert_eq!(
            old,
            receiver(),
            "an item from before sealing reads as it was"
        );
        for name in SEALED_FIELDS {
            assert_eq!(sealed[name], AttributeValue::S(String::new()), "{name}");
        }
        assert_eq!(sealed["city"], AttributeValue::S("杭州市".into()));
        assert!(!sealed.contains_key(SEALED) && !sealed.contains_key(DATA_KEY));
    }
}
