//! template.yaml as the local stack reads it: the tables, queues, functions, their HTTP routes
//! and environment. Nothing here repeats what the template says.

use anyhow::{Context, bail};
use serde_yaml::Value;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone)]
pub struct Template {
    pub tables: Vec<Resource>,
    pub queues: Vec<Resource>,
    pub buckets: Vec<Resource>,
    /// KMS keys (`AWS::KMS::Key`).
    pub keys: Vec<Resource>,
    /// SNS topics (`AWS::SNS::Topic`).
    pub topics: Vec<Resource>,
    pub functions: Vec<FunctionSpec>,
    /// Parameter defaults, by parameter name.
    pub parameters: BTreeMap<String, Option<String>>,
}

/// A resource's logical id and its `Properties`.
#[derive(Debug, Clone)]
pub struct Resource {
    pub logical_id: String,
    pub properties: Value,
}

#[derive(Debug, Clone)]
pub struct FunctionSpec {
    pub logical_id: String,
    /// The cargo binary SAM builds (`Metadata.BuildProperties.Binary`).
    pub binary: Option<String>,
    pub routes: Vec<Route>,
    /// SQS event sources: the queue's logical id.
    pub queues: Vec<String>,
    /// CloudWatch Logs subscriptions: the log group's logical id.
    pub log_groups: Vec<String>,
    pub environment: BTreeMap<String, EnvValue>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub method: String,
    pub path: String,
}

impl Route {
    /// `GET /v1/products/{id}`, as API Gateway puts it in `routeKey`.
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// The path parameters when `path` matches this route.
    pub fn matches(&self, method: &str, path: &str) -> Option<BTreeMap<String, String>> {
        if !(self.method.eq_ignore_ascii_case(method) || self.method == "ANY") {
            return None;
        }
        let mut params = BTreeMap::new();
        let mut want = self.path.trim_matches('/').split('/');
        let mut got = path.trim_matches('/').split('/');
        loop {
            match (want.next(), got.next()) {
                (None, None) => return Some(params),
                (Some(w), Some(g)) if w.starts_with('{') && w.ends_with("+}") => {
                    let rest: Vec<&str> = std::iter::once(g).chain(got.by_ref()).collect();
                    params.insert(w[1..w.len() - 2].to_string(), rest.join("/"));
                    return Some(params);
                }
                (Some(w), Some(g)) if w.starts_with('{') && w.ends_with('}') && !g.is_empty() => {
                    params.insert(
                        w[1..w.len() - 1].to_string(),
                        crate::server::percent_decode(g, false),
                    );
                }
                (Some(w), Some(g)) if w == g => {}
                _ => return None,
            }
        }
    }

    /// Literal routes win over ones with parameters, as in API Gateway.
    pub fn specificity(&self) -> usize {
        self.path.split('/').filter(|s| !s.starts_with('{')).count()
    }
}

/// An environment variable's value as written in the template.
#[derive(Debug, Clone, PartialEq)]
pub enum EnvValue {
    Literal(String),
    Ref(String),
    GetAtt(String, String),
    /// `!Sub` text: URLs built at deploy time from parameters (the notify URLs); the local stack
    /// sets these itself.
    Sub(String),
}

fn tagged(value: &Value) -> Option<(String, &Value)> {
    match value {
        Value::Tagged(t) => Some((
            t.tag.to_string().trim_start_matches('!').to_string(),
            &t.value,
        )),
        _ => None,
    }
}

fn env_value(value: &Value) -> anyhow::Result<EnvValue> {
    if let Some((tag, inner)) = tagged(value) {
        return Ok(match (tag.as_str(), inner) {
            ("Ref", Value::String(s)) => EnvValue::Ref(s.clone()),
            ("GetAtt", Value::String(s)) => {
                let (id, attr) = s
                    .split_once('.')
                    .context("!GetAtt needs Resource.Attribute")?;
                EnvValue::GetAtt(id.into(), attr.into())
            }
            ("Sub", Value::String(s)) => EnvValue::Sub(s.clone()),
            (other, _) => bail!("unsupported intrinsic !{other} in an environment variable"),
        });
    }
    if let Value::Mapping(m) = value
        && let Some(Value::String(s)) = m.get("Ref")
    {
        return Ok(EnvValue::Ref(s.clone()));
    }
    match value {
        Value::String(s) => Ok(EnvValue::Literal(s.clone())),
        Value::Number(n) => Ok(EnvValue::Literal(n.to_string())),
        Value::Bool(b) => Ok(EnvValue::Literal(b.to_string())),
        other => bail!("unsupported environment value {other:?}"),
    }
}

fn environment_of(node: Option<&Value>) -> anyhow::Result<BTreeMap<String, EnvValue>> {
    let mut env = BTreeMap::new();
    if let Some(Value::Mapping(vars)) = node.and_then(|e| e.get("Variables")) {
        for (k, v) in vars {
            let name = k
                .as_str()
                .context("environment variable names are strings")?;
            env.insert(
                name.to_string(),
                env_value(v).with_context(|| format!("environment variable {name}"))?,
            );
        }
    }
    Ok(env)
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl Template {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// The project's own template.yaml, found from this crate's location.
    pub fn project() -> anyhow::Result<Self> {
        Self::load(&crate::project_root().join("template.yaml"))
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let doc: Value = serde_yaml::from_str(text)?;
        let resources = doc
            .get("Resources")
            .and_then(Value::as_mapping)
            .context("template has no Resources")?;
        let global_env = environment_of(
            doc.get("Globals")
                .and_then(|g| g.get("Function"))
                .and_then(|f| f.get("Environment")),
        )?;
        let parameters = doc
            .get("Parameters")
            .and_then(Value::as_mapping)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| {
                        Some((k.as_str()?.to_string(), v.get("Default").and_then(scalar)))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut template = Template {
            tables: Vec::new(),
            queues: Vec::new(),
            buckets: Vec::new(),
            keys: Vec::new(),
            topics: Vec::new(),
            functions: Vec::new(),
            parameters,
        };
        for (id, resource) in resources {
            let id = id.as_str().context("resource ids are strings")?.to_string();
            let kind = resource.get("Type").and_then(Value::as_str).unwrap_or("");
            let properties = resource.get("Properties").cloned().unwrap_or(Value::Null);
            match kind {
                "AWS::DynamoDB::Table" => template.tables.push(Resource {
                    logical_id: id,
                    properties,
                }),
                "AWS::SQS::Queue" => template.queues.push(Resource {
                    logical_id: id,
                    properties,
                }),
                "AWS::S3::Bucket" => template.buckets.push(Resource {
                    logical_id: id,
                    properties,
                }),
                "AWS::KMS::Key" => template.keys.push(Resource {
                    logical_id: id,
                    properties,
                }),
                "AWS::SNS::Topic" => template.topics.push(Resource {
                    logical_id: id,
                    properties,
                }),
                "AWS::Serverless::Function" => {
                    let binary = resource
                        .get("Metadata")
                        .and_then(|m| m.get("BuildProperties"))
                        .and_then(|b| b.get("Binary"))
                        .and_then(scalar);
                    let mut environment = global_env.clone();
                    environment.extend(
                        environment_of(properties.get("Environment"))
                            .with_context(|| id.clone())?,
                    );
                    let mut routes = Vec::new();
                    let mut queues = Vec::new();
                    let mut log_groups = Vec::new();
                    if let Some(Value::Mapping(events)) = properties.get("Events") {
                        for event in events.values() {
                            let props = event.get("Properties");
                            match event.get("Type").and_then(Value::as_str) {
                                Some("HttpApi") => {
                                    let method = props
                                        .and_then(|p| p.get("Method"))
                                        .and_then(scalar)
                                        .context("HttpApi event needs Method")?;
                                    let path = props
                                        .and_then(|p| p.get("Path"))
                                        .and_then(scalar)
                                        .context("HttpApi event needs Path")?;
                                    routes.push(Route {
                                        method: method.to_uppercase(),
                                        path,
                                    });
                                }
                                Some("SQS") => {
                                    let queue = props
                                        .and_then(|p| p.get("Queue"))
                                        .context("SQS event needs Queue")?;
                                    let id = match tagged(queue) {
                                        Some((tag, Value::String(s)))
                                            if tag == "GetAtt" || tag == "Ref" =>
                                        {
                                            s.split('.').next().unwrap_or("").to_string()
                                        }
                                        _ => bail!("SQS event Queue must be !GetAtt Queue.Arn"),
                                    };
                                    queues.push(id);
                                }
                                Some("CloudWatchLogs") => {
                                    let group = props
                                        .and_then(|p| p.get("LogGroupName"))
                                        .context("CloudWatchLogs event needs LogGroupName")?;
                                    match tagged(group) {
                                        Some((tag, Value::String(s))) if tag == "Ref" => {
                                            log_groups.push(s.clone())
                                        }
                                        _ => bail!(
                                            "CloudWatchLogs event LogGroupName must be !Ref LogGroup"
                                        ),
                                    }
                                }
                                _ => {}
                            }
                        }
                    }
                    template.functions.push(FunctionSpec {
                        logical_id: id,
                        binary,
                        routes,
                        queues,
                        log_groups,
                        environment,
                    });
                }
                _ => {}
            }
        }
        Ok(template)
    }

    pub fn routes(&self) -> impl Iterator<Item = (&FunctionSpec, &Route)> {
        self.functions
            .iter()
            .flat_map(|f| f.routes.iter().map(move |r| (f, r)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_with_parameters() {
        let r = Route {
            method: "GET".into(),
            path: "/v1/products/{id}".into(),
        };
        assert_eq!(r.matches("GET", "/v1/products/p1").unwrap()["id"], "p1");
        assert_eq!(
            r.matches("GET", "/v1/products/%E8%8C%B6").unwrap()["id"],
            "茶"
        );
        assert!(r.matches("POST", "/v1/products/p1").is_none());
        assert!(r.matches("GET", "/v1/products").is_none());
        assert!(r.matches("GET", "/v1/products/p1/x").is_none());
        assert!(r.matches("GET", "/v1/products/").is_none());
    }

    #[test]
    fn reads_functions_routes_environment_and_queues() {
        let t = Template::parse(
            r#"
Parameters:
  AppId: {Type: String, Default: wx1}
Globals:
  Function:
    Environment:
      Variables:
        APPID: !Ref AppId
Resources:
  Jobs: {Type: AWS::SQS::Queue, Properties: {VisibilityTimeout: 60}}
  T: {Type: AWS::DynamoDB::Table, Properties: {}}
  Fn:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: fnbin}}
    Properties:
      Environment:
        Variables:
          TABLE: !Ref T
          QUEUE_URL: !GetAtt Jobs.QueueUrl
          NOTIFY_URL: !Sub "${Base}/v1/notify"
      Events:
        A: {Type: HttpApi, Properties: {Method: get, Path: /a}}
        Q: {Type: SQS, Properties: {Queue: !GetAtt Jobs.Arn}}
"#,
        )
        .unwrap();
        let f = &t.functions[0];
        assert_eq!(f.binary.as_deref(), Some("fnbin"));
        assert_eq!(f.routes[0].key(), "GET /a");
        assert_eq!(f.queues, vec!["Jobs".to_string()]);
        assert_eq!(f.environment["TABLE"], EnvValue::Ref("T".into()));
        assert_eq!(f.environment["APPID"], EnvValue::Ref("AppId".into()));
        assert_eq!(
            f.environment["QUEUE_URL"],
            EnvValue::GetAtt("Jobs".into(), "QueueUrl".into())
        );
        assert!(matches!(f.environment["NOTIFY_URL"], EnvValue::Sub(_)));
        assert_eq!(t.parameters["AppId"].as_deref(), Some("wx1"));
        assert_eq!((t.tables.len(), t.queues.len()), (1, 1));
    }
}
