//! The API document (`openapi.yaml`) as the local gateway serves it: the YAML, the same as JSON,
//! and a browsable page rendered here from the document (plain HTML and CSS, nothing fetched
//! from a CDN, so it works offline).

use serde_json::Value;
use std::fmt::Write as _;

pub struct ApiDocs {
    pub yaml: String,
    pub json: String,
    pub html: String,
}

impl ApiDocs {
    /// Reads and renders the project's `openapi.yaml`.
    pub fn project() -> anyhow::Result<Self> {
        let path = crate::project_root().join("openapi.yaml");
        let yaml = std::fs::read_to_string(&path)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        Self::from_yaml(yaml)
    }

    pub fn from_yaml(yaml: String) -> anyhow::Result<Self> {
        let doc: Value = serde_yaml::from_str(&yaml)?;
        Ok(Self {
            json: serde_json::to_string_pretty(&doc)?,
            html: render(&doc),
            yaml,
        })
    }
}

/// Every operation of the document as `METHOD /path`.
pub fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut out = Vec::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            for method in ["get", "put", "post", "delete", "patch"] {
                if let Some(op) = item.get(method) {
                    out.push((method.to_uppercase(), path.clone(), op));
                }
            }
        }
    }
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A schema as indented JSON, its `$ref`s linked to the schema they name.
fn schema_html(schema: &Value) -> String {
    let text = escape(&serde_json::to_string_pretty(schema).unwrap_or_default());
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    let marker = "&quot;#/components/";
    while let Some(at) = rest.find(marker) {
        out.push_str(&rest[..at]);
        let after = &rest[at + marker.len()..];
        let end = after.find("&quot;").unwrap_or(after.len());
        let target = &after[..end];
        let _ = write!(
            out,
            "&quot;<a href=\"#{}\">#/components/{target}</a>&quot;",
            anchor(target)
        );
        rest = &after[(end + "&quot;".len()).min(after.len())..];
    }
    out.push_str(rest);
    out
}

fn anchor(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

fn render(doc: &Value) -> String {
    let title = doc["info"]["title"].as_str().unwrap_or("API");
    let mut page = String::new();
    let _ = write!(
        page,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><style>\
         body{{font:15px/1.5 system-ui,sans-serif;margin:0;display:flex}}\
         nav{{width:320px;height:100vh;overflow:auto;position:sticky;top:0;background:#f6f7f9;padding:12px;box-sizing:border-box;font-size:13px}}\
         nav a{{display:block;color:#234;text-decoration:none;padding:2px 0}} main{{flex:1;padding:16px 32px;max-width:1100px}}\
         .m{{display:inline-block;min-width:48px;font-weight:600;font-family:monospace}} .get{{color:#06c}} .post{{color:#080}}\
         section.op{{border-top:1px solid #ddd;padding:8px 0 16px}} pre{{background:#f4f4f4;padding:8px;overflow:auto;font-size:12px}}\
         table{{border-collapse:collapse}} td,th{{border:1px solid #ddd;padding:2px 8px;text-align:left;vertical-align:top}}</style></head><body>",
        escape(title)
    );
    let ops = operations(doc);
    page.push_str("<nav><b>Operations</b>");
    for (method, path, op) in &ops {
        let id = op["operationId"].as_str().unwrap_or(path);
        let _ = write!(
            page,
            "<a href=\"#op-{}\"><span class=\"m {}\">{method}</span> {}</a>",
            anchor(id),
            method.to_lowercase(),
            escape(path)
        );
    }
    page.push_str("<b>Schemas</b>");
    if let Some(schemas) = doc["components"]["schemas"].as_object() {
        for name in schemas.keys() {
            let _ = write!(
                page,
                "<a href=\"#{}\">{}</a>",
                anchor(&format!("schemas/{name}")),
                escape(name)
            );
        }
    }
    page.push_str(
        "<p><a href=\"/openapi.yaml\">openapi.yaml</a> · <a href=\"/openapi.json\">openapi.json</a></p></nav><main>",
    );
    let _ = write!(
        page,
        "<h1>{}</h1><p>OpenAPI {} · version {}</p><pre>{}</pre>",
        escape(title),
        escape(doc["openapi"].as_str().unwrap_or("")),
        escape(doc["info"]["version"].as_str().unwrap_or("")),
        escape(doc["info"]["description"].as_str().unwrap_or(""))
    );
    for (method, path, op) in &ops {
        let id = op["operationId"].as_str().unwrap_or(path);
        let public = op["security"].as_array().is_some_and(|s| {
            s.iter()
                .any(|r| r.as_object().is_some_and(|o| o.is_empty()))
        });
        let auth = if public && op["security"].as_array().is_some_and(|s| s.len() > 1) {
            "token optional"
        } else if public {
            "no token"
        } else {
            "Bearer token"
        };
        let _ = write!(
            page,
            "<section class=\"op\" id=\"op-{}\"><h3><span class=\"m {}\">{method}</span> {}</h3><p>{}</p><p><i>{auth}</i></p>",
            anchor(id),
            method.to_lowercase(),
            escape(path),
            escape(op["summary"].as_str().unwrap_or(""))
        );
        if let Some(description) = op["description"].as_str() {
            let _ = write!(page, "<pre>{}</pre>", escape(description));
        }
        if let Some(params) = op["parameters"].as_array() {
            page.push_str("<table><tr><th>parameter</th><th>in</th><th>schema</th></tr>");
            for p in params {
                let _ = write!(
                    page,
                    "<tr><td>{}</td><td>{}</td><td><pre>{}</pre></td></tr>",
                    escape(p["name"].as_str().unwrap_or("")),
                    escape(p["in"].as_str().unwrap_or("")),
                    schema_html(p)
                );
            }
            page.push_str("</table>");
        }
        if !op["requestBody"].is_null() {
            let _ = write!(
                page,
                "<h4>Request body</h4><pre>{}</pre>",
                schema_html(&op["requestBody"])
            );
        }
        if let Some(responses) = op["responses"].as_object() {
            page.push_str("<h4>Responses</h4><table>");
            for (status, response) in responses {
                let _ = write!(
                    page,
                    "<tr><td>{}</td><td><pre>{}</pre></td></tr>",
                    escape(status),
                    schema_html(response)
                );
            }
            page.push_str("</table>");
        }
        page.push_str("</section>");
    }
    for kind in ["schemas", "responses", "parameters"] {
        if let Some(items) = doc["components"][kind].as_object() {
            let _ = write!(page, "<h2>{kind}</h2>");
            for (name, schema) in items {
                let _ = write!(
                    page,
                    "<section id=\"{}\"><h3>{}</h3><pre>{}</pre></section>",
                    anchor(&format!("{kind}/{name}")),
                    escape(name),
                    schema_html(schema)
                );
            }
        }
    }
    page.push_str("</main></body></html>");
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_lists_every_operation_and_links_its_schemas() {
        let docs = ApiDocs::project().unwrap();
        let doc: Value = serde_yaml::from_str(&docs.yaml).unwrap();
        for (method, path, _) in operations(&doc) {
            assert!(
                docs.html
                    .contains(&format!("{method}</span> {}", escape(&path))),
                "{method} {path}"
            );
        }
        assert!(
            docs.html
                .contains("<a href=\"#schemas-Order\">#/components/schemas/Order</a>")
        );
        assert!(!docs.html.contains("<script"), "a static page");
    }
}
