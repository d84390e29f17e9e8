//! Creating the template's tables, queues, buckets and keys in the emulator, and the settings each function
//! gets from them. Re-running keeps what exists.

use crate::template::{EnvValue, FunctionSpec, Resource, Template};
use anyhow::{Context, bail};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    LocalSecondaryIndex, Projection, ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_yaml::Value;
use std::collections::{BTreeMap, HashMap};

/// Local names of the template's resources: table name or queue URL (and ARN) by logical id.
#[derive(Debug, Clone, Default)]
pub struct LocalResources {
    pub tables: BTreeMap<String, String>,
    /// Bucket names by logical id.
    pub buckets: BTreeMap<String, String>,
    /// KMS key ids by logical id.
    pub keys: BTreeMap<String, String>,
    /// SNS topics' ARNs by logical id.
    pub topics: BTreeMap<String, String>,
    pub queue_urls: BTreeMap<String, String>,
    pub queue_arns: BTreeMap<String, String>,
}

/// An SDK error with its service message (the plain Display says only "service error").
fn aws_error<E: std::error::Error>(err: E) -> anyhow::Error {
    anyhow::anyhow!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(err))
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Creates a bucket in the emulator (which takes the S3 REST call unsigned); an existing one is
/// kept.
async fn create_bucket(endpoint: &str, name: &str) -> anyhow::Result<()> {
    let url = format!("{}/{name}", endpoint.trim_end_matches('/'));
    let answer = reqwest::Client::new()
        .put(&url)
        .send()
        .await
        .with_context(|| format!("creating bucket {name}"))?;
    let status = answer.status();
    let body = answer.text().await.unwrap_or_default();
    if status.is_success() || body.contains("BucketAlreadyOwnedByYou") {
        Ok(())
    } else {
        bail!("creating bucket {name}: {status} {body}")
    }
}

/// The bucket's CORS rules as the template writes them (the console uploads product images from
/// the browser straight to the media bucket), given to the emulator, which answers by them.
async fn apply_cors(endpoint: &str, name: &str, properties: &Value) -> anyhow::Result<()> {
    let Some(rules) = properties["CorsConfiguration"]["CorsRules"].as_sequence() else {
        return Ok(());
    };
    let list = |rule: &Value, key: &str, tag: &str| -> String {
        rule[key]
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|v| format!("<{tag}>{v}</{tag}>"))
            .collect()
    };
    let mut xml = String::from("<CORSConfiguration>");
    for rule in rules {
        xml.push_str("<CORSRule>");
        xml.push_str(&list(rule, "AllowedMethods", "AllowedMethod"));
        xml.push_str(&list(rule, "AllowedOrigins", "AllowedOrigin"));
        xml.push_str(&list(rule, "AllowedHeaders", "AllowedHeader"));
        if let Some(age) = rule["MaxAge"].as_u64() {
            xml.push_str(&format!("<MaxAgeSeconds>{age}</MaxAgeSeconds>"));
        }
        xml.push_str("</CORSRule>");
    }
    xml.push_str("</CORSConfiguration>");
    let url = format!("{}/{name}?cors", endpoint.trim_end_matches('/'));
    let answer = reqwest::Client::new()
        .put(&url)
        .body(xml)
        .send()
        .await
        .with_context(|| format!("setting the CORS rules of bucket {name}"))?;
    if !answer.status().is_success() {
        let status = answer.status();
        bail!(
            "setting the CORS rules of bucket {name}: {status} {}",
            answer.text().await.unwrap_or_default()
        );
    }
    Ok(())
}

/// The emulator's KMS key under the alias `alias/<name>`, created with the alias the first
/// time, so a stack started again over the same emulator opens what it sealed before.
async fn create_key(kms: &aws_sdk_kms::Client, name: &str) -> anyhow::Result<String> {
    let alias = format!("alias/{name}");
    if let Ok(found) = kms.describe_key().key_id(&alias).send().await
        && let Some(id) = found.key_metadata().map(|m| m.key_id())
    {
        return Ok(id.to_string());
    }
    let created = kms
        .create_key()
        .description(format!("local {name}"))
        .send()
        .await
        .map_err(aws_error)
        .with_context(|| format!("creating KMS key {name}"))?;
    let id = created
        .key_metadata()
        .map(|m| m.key_id().to_string())
        .context("CreateKey gave no key id")?;
    kms.create_alias()
        .alias_name(&alias)
        .target_key_id(&id)
        .send()
        .await
        .map_err(aws_error)
        .with_context(|| format!("naming KMS key {name}"))?;
    Ok(id)
}

/// An index's `Projection` as the template writes it.
fn projection(projection: Option<&Value>) -> Projection {
    let kind = match text(projection.and_then(|p| p.get("ProjectionType"))).as_deref() {
        Some("KEYS_ONLY") => ProjectionType::KeysOnly,
        Some("INCLUDE") => ProjectionType::Include,
        _ => ProjectionType::All,
    };
    let non_key: Option<Vec<String>> = projection
        .and_then(|p| p.get("NonKeyAttributes"))
        .and_then(Value::as_sequence)
        .map(|s| s.iter().filter_map(|v| text(Some(v))).collect());
    Projection::builder()
        .projection_type(kind)
        .set_non_key_attributes(non_key)
        .build()
}

fn key_schema(node: Option<&Value>) -> anyhow::Result<Vec<KeySchemaElement>> {
    let mut keys = Vec::new();
    for k in node
        .and_then(Value::as_sequence)
        .context("KeySchema missing")?
    {
        let kind = match text(k.get("KeyType")).as_deref() {
            Some("HASH") => KeyType::Hash,
            Some("RANGE") => KeyType::Range,
            other => bail!("unknown KeyType {other:?}"),
        };
        keys.push(
            KeySchemaElement::builder()
                .attribute_name(text(k.get("AttributeName")).context("AttributeName")?)
                .key_type(kind)
                .build()?,
        );
    }
    Ok(keys)
}

async fn create_table(
    dynamodb: &aws_sdk_dynamodb::Client,
    name: &str,
    table: &Resource,
) -> anyhow::Result<()> {
    let p = &table.properties;
    let mut request = dynamodb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest);
    for a in p
        .get("AttributeDefinitions")
        .and_then(Value::as_sequence)
        .context("AttributeDefinitions missing")?
    {
        let kind = match text(a.get("AttributeType")).as_deref() {
            Some("S") => ScalarAttributeType::S,
            Some("N") => ScalarAttributeType::N,
            Some("B") => ScalarAttributeType::B,
            other => bail!("unknown AttributeType {other:?}"),
        };
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(text(a.get("AttributeName")).context("AttributeName")?)
                .attribute_type(kind)
                .build()?,
        );
    }
    request = request.set_key_schema(Some(key_schema(p.get("KeySchema"))?));
    for index in p
        .get("GlobalSecondaryIndexes")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(text(index.get("IndexName")).context("IndexName")?)
                .set_key_schema(Some(key_schema(index.get("KeySchema"))?))
                .projection(projection(index.get("Projection")))
                .build()?,
        );
    }
    for index in p
        .get("LocalSecondaryIndexes")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        request = request.local_secondary_indexes(
            LocalSecondaryIndex::builder()
                .index_name(text(index.get("IndexName")).context("IndexName")?)
                .set_key_schema(Some(key_schema(index.get("KeySchema"))?))
                .projection(projection(index.get("Projection")))
                .build()?,
        );
    }
    match request.send().await {
        Ok(_) => {}
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            return Ok(());
        }
        Err(err) => return Err(aws_error(err)).context(format!("creating table {name}")),
    }
    if let Some(ttl) = p.get("TimeToLiveSpecification")
        && text(ttl.get("Enabled")).as_deref() == Some("true")
    {
        dynamodb
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(text(ttl.get("AttributeName")).context("TTL AttributeName")?)
                    .enabled(true)
                    .build()?,
            )
            .send()
            .await
            .map_err(aws_error)
            .with_context(|| format!("enabling TTL on {name}"))?;
    }
    Ok(())
}

/// The logical id a `!GetAtt X.Arn` (or a `Ref`) inside a queue property points at.
fn referenced_id(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Tagged(t) => {
            text(Some(&t.value)).map(|s| s.split('.').next().unwrap_or("").to_string())
        }
        _ => None,
    }
}

async fn create_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    queue: &Resource,
    arns: &BTreeMap<String, String>,
) -> anyhow::Result<String> {
    let p = &queue.properties;
    let mut attributes = HashMap::new();
    for (property, attribute) in [
        ("VisibilityTimeout", QueueAttributeName::VisibilityTimeout),
        (
            "MessageRetentionPeriod",
            QueueAttributeName::MessageRetentionPeriod,
        ),
        ("DelaySeconds", QueueAttributeName::DelaySeconds),
        (
            "ReceiveMessageWaitTimeSeconds",
            QueueAttributeName::ReceiveMessageWaitTimeSeconds,
        ),
        ("FifoQueue", QueueAttributeName::FifoQueue),
        (
            "ContentBasedDeduplication",
            QueueAttributeName::ContentBasedDeduplication,
        ),
    ] {
        if let Some(v) = text(p.get(property)) {
            attributes.insert(attribute, v);
        }
    }
    if let Some(redrive) = p.get("RedrivePolicy") {
        let dlq = referenced_id(redrive.get("deadLetterTargetArn"))
            .context("RedrivePolicy.deadLetterTargetArn must be !GetAtt Queue.Arn")?;
        let arn = arns
            .get(&dlq)
            .with_context(|| format!("dead-letter queue {dlq} is not declared before use"))?;
        let max = text(redrive.get("maxReceiveCount")).unwrap_or_else(|| "5".into());
        attributes.insert(
            QueueAttributeName::RedrivePolicy,
            serde_json::json!({"deadLetterTargetArn": arn, "maxReceiveCount": max}).to_string(),
        );
    }
    let out = sqs
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(attributes))
        .send()
        .await
        .map_err(aws_error)
        .with_context(|| format!("creating queue {name}"))?;
    out.queue_url.context("CreateQueue gave no URL")
}

impl LocalResources {
    /// Creates every table and queue of the template, named `<prefix><LogicalId>`.
    pub async fn provision(
        template: &Template,
        prefix: &str,
        dynamodb: &aws_sdk_dynamodb::Client,
        sqs: &aws_sdk_sqs::Client,
        endpoint: &str,
    ) -> anyhow::Result<Self> {
        let mut local = LocalResources::default();
        for bucket in &template.buckets {
            // Bucket names are lowercase, and the emulator's buckets are one namespace.
            let name = format!("{prefix}{}", bucket.logical_id)
                .to_ascii_lowercase()
                .replace('_', "-");
            create_bucket(endpoint, &name).await?;
            apply_cors(endpoint, &name, &bucket.properties).await?;
            local.buckets.insert(bucket.logical_id.clone(), name);
        }
        if !template.keys.is_empty() {
            let kms = aws_sdk_kms::Client::new(&crate::aws_config(endpoint).await);
            for key in &template.keys {
                let id = create_key(&kms, &format!("{prefix}{}", key.logical_id)).await?;
                local.keys.insert(key.logical_id.clone(), id);
            }
        }
        if !template.topics.is_empty() {
            let sns = aws_sdk_sns::Client::new(&crate::aws_config(endpoint).await);
            for topic in &template.topics {
                let created = sns
                    .create_topic()
                    .name(format!("{prefix}{}", topic.logical_id))
                    .send()
                    .await
                    .map_err(aws_error)
                    .with_context(|| format!("creating topic {}", topic.logical_id))?;
                let arn = created.topic_arn.context("CreateTopic gave no ARN")?;
                local.topics.insert(topic.logical_id.clone(), arn);
            }
        }
        for table in &template.tables {
            let name = format!("{prefix}{}", table.logical_id);
            create_table(dynamodb, &name, table).await?;
            local.tables.insert(table.logical_id.clone(), name);
        }
        // Dead-letter queues first: their ARNs go into the redrive policies of the others.
        let mut pending: Vec<&Resource> = template.queues.iter().collect();
        while !pending.is_empty() {
            let before = pending.len();
            let mut waiting = Vec::new();
            for queue in pending {
                let dlq = queue
                    .properties
                    .get("RedrivePolicy")
                    .and_then(|r| referenced_id(r.get("deadLetterTargetArn")));
                if dlq
                    .as_ref()
                    .is_some_and(|d| !local.queue_arns.contains_key(d))
                {
                    waiting.push(queue);
                    continue;
                }
                let fifo = text(queue.properties.get("FifoQueue")).as_deref() == Some("true");
                let name = format!(
                    "{prefix}{}{}",
                    queue.logical_id,
                    if fifo { ".fifo" } else { "" }
                );
                let url = create_queue(sqs, &name, queue, &local.queue_arns).await?;
                let arns = sqs
                    .get_queue_attributes()
                    .queue_url(&url)
                    .attribute_names(QueueAttributeName::QueueArn)
                    .send()
                    .await
                    .map_err(aws_error)?;
                let arn = arns
                    .attributes()
                    .and_then(|a| a.get(&QueueAttributeName::QueueArn))
                    .cloned()
                    .context("queue has no ARN")?;
                local.queue_urls.insert(queue.logical_id.clone(), url);
                local.queue_arns.insert(queue.logical_id.clone(), arn);
            }
            if waiting.len() == before {
                bail!(
                    "queues {:?} wait on dead-letter queues that never appear",
                    waiting.iter().map(|q| &q.logical_id).collect::<Vec<_>>()
                );
            }
            pending = waiting;
        }
        Ok(local)
    }

    /// A function's settings as Lambda would see them, with `overrides` (local secrets, sandbox
    /// URLs, whatever the developer exported) taking precedence.
    pub fn settings_for(
        &self,
        template: &Template,
        function: &FunctionSpec,
        overrides: &HashMap<String, String>,
    ) -> anyhow::Result<HashMap<String, String>> {
        let mut settings = HashMap::new();
        for (name, value) in &function.environment {
            let resolved = if let Some(v) = overrides.get(name) {
                v.clone()
            } else {
                match value {
                    EnvValue::Literal(v) => v.clone(),
                    EnvValue::Ref(id) => {
                        if let Some(t) = self.tables.get(id) {
                            t.clone()
                        } else if let Some(b) = self.buckets.get(id) {
                            b.clone()
                        } else if let Some(k) = self.keys.get(id) {
                            k.clone()
                        } else if let Some(t) = self.topics.get(id) {
                            t.clone()
                        } else if let Some(u) = self.queue_urls.get(id) {
                            u.clone()
                        } else if let Some(default) = template.parameters.get(id) {
                            default.clone().with_context(|| {
                                format!("{name}: parameter {id} has no default; set {name}")
                            })?
                        } else {
                            bail!("{name}: !Ref {id} names nothing local")
                        }
                    }
                    EnvValue::GetAtt(id, attr) => match attr.as_str() {
                        "QueueUrl" => self.queue_urls.get(id).cloned(),
                        "Arn" => self.queue_arns.get(id).cloned(),
                        "QueueName" => self
                            .queue_urls
                            .get(id)
                            .and_then(|u| u.rsplit('/').next().map(str::to_string)),
                        _ => None,
                    }
                    .with_context(|| format!("{name}: !GetAtt {id}.{attr} names nothing local"))?,
                    EnvValue::Sub(_) => {
                        bail!("{name} is built at deploy time (!Sub): set it in the environment")
                    }
                }
            };
            settings.insert(name.clone(), resolved);
        }
        Ok(settings)
    }
}
