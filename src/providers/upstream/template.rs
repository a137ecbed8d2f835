//! Request templates: minijinja, compiled once at load, strict about
//! undefined values, and escaping every value that is not trusted for the
//! place it lands. Trusted values are the ones the platform engineer wrote
//! or chose (`env`, `settings`, `provider`, `airstream`); everything from a
//! search is escaped as a URL component in the URL, as a header value in a
//! header, and for JSON or XML in the body (as its `Content-Type` says), so
//! no search value can change the
//! structure of a request. The `safe` filter is removed so a template cannot
//! opt a search value out of escaping. [`RequestShape::render`] makes one
//! search's request out of them.

use std::fmt::Write as _;

use minijinja::{AutoEscape, Environment, Error, Output, State, UndefinedBehavior, Value};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

use super::error::UpstreamError;

/// Where a template's output goes, which decides how values are escaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// The URL: values become URL components.
    Url,
    /// A header value.
    Header,
    /// The body: values become JSON string content.
    Body,
    /// An XML body: values become XML text (entities for markup).
    XmlBody,
}

impl Place {
    fn tag(self) -> &'static str {
        match self {
            Place::Url => "url",
            Place::Header => "header",
            Place::Body => "json",
            Place::XmlBody => "xml",
        }
    }

    /// The template name for this place (`header:<name>` for headers).
    pub fn template_name(self, header: &str) -> String {
        match self {
            Place::Url => "url".to_string(),
            Place::Header => format!("header:{header}"),
            Place::Body => "body".to_string(),
            Place::XmlBody => "body:xml".to_string(),
        }
    }
}

/// Everything but the URL's unreserved characters is percent-encoded.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A value as a URL component: `/`, `?`, `&`, `#` and the rest are encoded.
pub fn escape_url(text: &str) -> String {
    utf8_percent_encode(text, COMPONENT).to_string()
}

/// A value for a header: control characters (CR and LF above all) and
/// non-ASCII bytes are percent-encoded, so a value stays one header.
pub fn escape_header(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if (' '..='~').contains(&c) {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// A value for JSON: inside a string literal it reads back as itself;
/// anything that could end the string or start structure (quotes,
/// backslashes, brackets, braces, commas, colons) is written as `\uXXXX`,
/// so outside a string literal it can at most make one scalar or invalid
/// JSON, which is refused before sending.
pub fn escape_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || " -._+@".contains(c) {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        }
    }
    out
}

fn format(out: &mut Output<'_>, state: &State<'_, '_>, value: &Value) -> Result<(), Error> {
    let text = value.to_string();
    let escaped = if value.is_safe() {
        text
    } else {
        match state.auto_escape() {
            AutoEscape::Custom("url") => escape_url(&text),
            AutoEscape::Custom("header") => escape_header(&text),
            AutoEscape::Custom("json") => escape_json(&text),
            AutoEscape::Custom("xml") => super::xml::escape_xml(&text),
            _ => text,
        }
    };
    out.write_str(&escaped)
        .map_err(|e| Error::new(minijinja::ErrorKind::WriteFailure, e.to_string()))
}

/// The environment every provider's templates and expressions live in.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.remove_filter("safe");
    env.set_auto_escape_callback(|name| {
        let place = if name == "url" {
            Place::Url
        } else if name.starts_with("header:") {
            Place::Header
        } else if name == "body:xml" {
            Place::XmlBody
        } else {
            Place::Body
        };
        AutoEscape::Custom(place.tag())
    });
    env.set_formatter(format);
    env.add_filter("as_list", super::convert::as_list);
    env.add_filter("decimals", super::convert::decimals);
    env
}

/// A trusted JSON value for templates: its strings are not escaped.
pub fn trusted(value: &serde_json::Value) -> Value {
    match value {
        serde_json::Value::String(s) => Value::from_safe_string(s.clone()),
        serde_json::Value::Array(items) => {
            Value::from(items.iter().map(trusted).collect::<Vec<_>>())
        }
        serde_json::Value::Object(map) => {
            Value::from_iter(map.iter().map(|(k, v)| (k.clone(), trusted(v))))
        }
        other => Value::from_serialize(other),
    }
}

/// What a provider's request has besides its URL template: the headers
/// it sets (each a `header:<name>` template) and whether it has a body.
pub struct RequestShape {
    /// The headers set, each as written in the file (which names its
    /// template).
    pub headers: Vec<(HeaderName, String)>,
    /// What the body is, when a `body` template exists.
    pub body: Option<BodyKind>,
}

/// What a request's body is, as its `Content-Type` header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// JSON (no `Content-Type`, or one naming JSON): checked before
    /// sending, and sent as `application/json`.
    Json,
    /// XML (a `Content-Type` naming XML, SOAP's too): checked to be
    /// well-formed before sending.
    Xml,
    /// Anything else, sent as rendered.
    Other,
}

impl BodyKind {
    /// The kind a `Content-Type` (as written in the file) gives.
    pub fn of(content_type: Option<&str>) -> BodyKind {
        match content_type {
            None => BodyKind::Json,
            Some(t) if super::xml::is_xml_type(t) => BodyKind::Xml,
            Some(t) if t.to_ascii_lowercase().contains("json") => BodyKind::Json,
            Some(_) => BodyKind::Other,
        }
    }

    /// Where its template's values land.
    pub fn place(self) -> Place {
        match self {
            BodyKind::Xml => Place::XmlBody,
            BodyKind::Json | BodyKind::Other => Place::Body,
        }
    }
}

/// One search's request, ready to send.
pub struct Rendered {
    /// Where it goes.
    pub url: reqwest::Url,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body, when the provider has one.
    pub body: Option<String>,
}

impl RequestShape {
    /// Renders the request from the templates in `env`; search values are
    /// escaped where they land.
    pub fn render(&self, env: &Environment<'_>, ctx: &Value) -> Result<Rendered, UpstreamError> {
        let render = |name: String| -> Result<String, UpstreamError> {
            env.get_template(&name)
                .and_then(|t| t.render(ctx))
                .map_err(|source| UpstreamError::Template { name, source })
        };
        let url = render(Place::Url.template_name(""))?;
        if has_dot_segment(url.trim()) {
            return Err(UpstreamError::DotSegment);
        }
        let url = reqwest::Url::parse(url.trim())
            .map_err(|source| UpstreamError::NotAUrl { url, source })?;
        let mut headers = HeaderMap::new();
        for (header, name) in &self.headers {
            let value = render(Place::Header.template_name(name))?;
            let value = HeaderValue::from_str(value.trim()).map_err(|source| {
                UpstreamError::NotAHeaderValue {
                    name: name.clone(),
                    source,
                }
            })?;
            headers.insert(header.clone(), value);
        }
        let body = match self.body {
            None => None,
            Some(kind) => {
                let body = render(kind.place().template_name(""))?;
                match kind {
                    BodyKind::Json => {
                        serde_json::from_str::<serde::de::IgnoredAny>(&body)
                            .map_err(|source| UpstreamError::BodyNotJson { source })?;
                        headers
                            .entry(CONTENT_TYPE)
                            .or_insert(HeaderValue::from_static("application/json"));
                    }
                    BodyKind::Xml => super::xml::check_body(&body)
                        .map_err(|source| UpstreamError::BodyNotXml { source })?,
                    BodyKind::Other => {}
                }
                Some(body)
            }
        };
        Ok(Rendered { url, headers, body })
    }
}

/// Whether a URL's path has a segment that parsing resolves away: `.` or
/// `..`, written plainly or percent-encoded (`%2e`), as the WHATWG URL
/// standard reads them. Escaping cannot help here, as `.` is unreserved.
fn has_dot_segment(url: &str) -> bool {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .split_once('/')
        .map_or("", |(_, path)| path);
    path.split(['/', '\\']).any(|segment| {
        let segment = segment.to_ascii_lowercase().replace("%2e", ".");
        segment == "." || segment == ".."
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments_are_found_however_written() {
        for url in [
            "https://a.example/v1/../admin",
            "https://a.example/v1/./x?q=1",
            "https://a.example/v1/%2E%2e/admin",
            "https://a.example/v1/..",
            "https://a.example/.",
        ] {
            assert!(has_dot_segment(url), "{url}");
        }
        for url in [
            "https://a.example/v1/CGK/fares?to=../x#..",
            "https://a.example/v1/.well-known/x",
            "https://a.example/v1/a..b/...",
            "https://a.example",
        ] {
            assert!(!has_dot_segment(url), "{url}");
        }
    }

    #[test]
    fn escapes_keep_each_place_whole() {
        assert_eq!(
            escape_url("CGK/../admin?x=1&y#z"),
            "CGK%2F..%2Fadmin%3Fx%3D1%26y%23z"
        );
        assert_eq!(escape_header("a\r\nX-Evil: 1"), "a%0D%0AX-Evil: 1");
        assert_eq!(
            escape_json(r#"a","admin":true}"#),
            r#"a\u0022\u002c\u0022admin\u0022\u003atrue\u007d"#
        );
        let parsed: serde_json::Value =
            serde_json::from_str(&format!("\"{}\"", escape_json("é\u{1F600}\"\\\n"))).unwrap();
        assert_eq!(parsed, "é\u{1F600}\"\\\n");
    }
}
