//! XML and SOAP: answers read as the tree the mapping expressions read
//! (SPEC section 10), request bodies checked before they are sent, and
//! search values escaped for XML.
//!
//! The tree: the document's root element under its local name; in each
//! element, its child elements by local name (namespace prefixes dropped),
//! its attributes as `@name`, and its text as `#text`; an element with
//! neither attributes nor child elements is its text itself. A child
//! element repeated under one parent is a list; written once, it is the
//! element itself, and the `as_list` filter reads either as a list (the
//! `offers` and `segments` expressions of an XML answer do so on their own).
//!
//! roxmltree refuses any DTD, so no entity can expand (no XML bomb); the
//! answer's size is bounded where it is read ([`super::send`]), its nodes
//! and nesting here.

use std::collections::HashMap;
use std::fmt::Write as _;

use minijinja::Value;

use crate::providers::definition::AnswerFormat;

/// Deepest nesting of elements read (SOAP envelopes of NDC answers are
/// about 15 deep).
pub const MAX_DEPTH: usize = 100;

/// Most nodes (elements, attributes' owners, text) in one answer.
pub const MAX_NODES: u32 = 2_000_000;

/// Why an XML document cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum XmlError {
    /// It is not UTF-8.
    #[error("it is not UTF-8 text")]
    NotUtf8,
    /// It declares a DTD, whose entities could expand without bound.
    #[error("it declares a DTD, which is refused (its entities could expand without bound)")]
    Dtd,
    /// It has too many nodes.
    #[error("it has more than {MAX_NODES} nodes")]
    TooManyNodes,
    /// It nests elements too deep.
    #[error("it nests elements deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// It is not well-formed.
    #[error("it is not well-formed XML ({0})")]
    Malformed(roxmltree::Error),
}

/// The format of an answer: the file's `response.format`, else what its
/// `Content-Type` says (XML for any `…xml` type), else JSON.
pub fn answer_format(declared: Option<AnswerFormat>, content_type: Option<&str>) -> AnswerFormat {
    declared.unwrap_or_else(|| match content_type {
        Some(t) if is_xml_type(t) => AnswerFormat::Xml,
        _ => AnswerFormat::Json,
    })
}

/// Whether a media type is XML: `application/xml`, `text/xml`,
/// `application/soap+xml` and the like.
pub fn is_xml_type(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    let essence = essence.to_ascii_lowercase();
    essence.ends_with("/xml") || essence.ends_with("+xml")
}

/// Parses an XML document with the limits of this module.
fn document(bytes: &[u8]) -> Result<roxmltree::Document<'_>, XmlError> {
    let text = std::str::from_utf8(bytes).map_err(|_| XmlError::NotUtf8)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..Default::default()
    };
    roxmltree::Document::parse_with_options(text, options).map_err(|e| match e {
        roxmltree::Error::DtdDetected => XmlError::Dtd,
        roxmltree::Error::NodesLimitReached => XmlError::TooManyNodes,
        e => XmlError::Malformed(e),
    })
}

/// An XML answer as the tree expressions read, or, when it is a SOAP
/// fault, the fault's text (for the log, never for a client).
pub fn parse(bytes: &[u8]) -> Result<Result<Value, String>, XmlError> {
    let doc = document(bytes)?;
    let root = doc.root_element();
    if let Some(fault) = soap_fault(root) {
        return Ok(Err(fault));
    }
    let tree = element(root, 1)?;
    Ok(Ok(Value::from_iter([(root.tag_name().name(), tree)])))
}

/// Checks that a rendered request body is well-formed XML without a DTD.
pub fn check_body(body: &str) -> Result<(), XmlError> {
    document(body.as_bytes()).map(|_| ())
}

/// One element as a value: its text when it has nothing else, else a map.
fn element(node: roxmltree::Node<'_, '_>, depth: usize) -> Result<Value, XmlError> {
    if depth > MAX_DEPTH {
        return Err(XmlError::TooDeep);
    }
    let mut fields: Vec<(String, Value)> = node
        .attributes()
        .map(|a| (format!("@{}", a.name()), Value::from(a.value())))
        .collect();
    // Children by name, in the order they first appear.
    let mut children: Vec<(&str, Vec<Value>)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut text = String::new();
    for child in node.children() {
        if child.is_element() {
            let name = child.tag_name().name();
            let value = element(child, depth + 1)?;
            match index.get(name) {
                Some(&at) => children[at].1.push(value),
                None => {
                    index.insert(name, children.len());
                    children.push((name, vec![value]));
                }
            }
        } else if let Some(t) = child.text().filter(|_| child.is_text()) {
            text.push_str(t);
        }
    }
    let text = text.trim();
    if fields.is_empty() && children.is_empty() {
        return Ok(Value::from(text));
    }
    if !text.is_empty() {
        fields.push(("#text".to_string(), Value::from(text)));
    }
    for (name, mut values) in children {
        let value = match values.len() {
            1 => values.pop().unwrap_or_default(),
            _ => Value::from(values),
        };
        fields.push((name.to_string(), value));
    }
    Ok(Value::from_iter(fields))
}

/// The text of a SOAP fault (`Envelope/Body/Fault`, SOAP 1.1 or 1.2).
fn soap_fault(root: roxmltree::Node<'_, '_>) -> Option<String> {
    fn named<'a, 'i>(node: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
        node.children()
            .find(|c| c.is_element() && c.tag_name().name() == name)
    }
    if root.tag_name().name() != "Envelope" {
        return None;
    }
    let fault = named(named(root, "Body")?, "Fault")?;
    let text: Vec<&str> = fault
        .descendants()
        .filter_map(|n| n.text().filter(|_| n.is_text()))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    Some(text.join(" "))
}

/// A value for an XML body: inside text, an attribute (either quote) or a
/// CDATA section it reads back as itself or, in CDATA, at worst altered,
/// and it can never end the element, the attribute or the section
/// (`& < > " '` become entities). A character XML 1.0 cannot carry
/// becomes a character reference that makes the body ill-formed, so it is
/// refused before sending.
pub fn escape_xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Kept as references so attribute normalization cannot turn
            // them into spaces.
            '\t' | '\n' | '\r' => {
                let _ = write!(out, "&#x{:X};", c as u32);
            }
            c if matches!(c as u32, 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..) => out.push(c),
            c => {
                let _ = write!(out, "&#x{:X};", c as u32);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(xml: &str) -> serde_json::Value {
        let value = parse(xml.as_bytes()).expect("parses").expect("no fault");
        serde_json::to_value(&value).expect("serializes")
    }

    #[test]
    fn the_tree_drops_prefixes_and_keeps_attributes_text_and_repeats() {
        let t = tree(
            r#"<?xml version="1.0"?>
            <s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">
              <s:Body><ns1:RS xmlns:ns1="urn:x" Version="19.2">
                <Offer OfferID="A"><Price CurCode="EUR">999.90</Price><Seg>1</Seg></Offer>
                <Offer OfferID="B"><Price CurCode="EUR">10</Price><Seg>1</Seg><Seg>2</Seg><Empty/></Offer>
              </ns1:RS></s:Body>
            </s:Envelope>"#,
        );
        let rs = &t["Envelope"]["Body"]["RS"];
        assert_eq!(rs["@Version"], "19.2");
        assert_eq!(rs["Offer"][0]["@OfferID"], "A");
        assert_eq!(rs["Offer"][0]["Price"]["#text"], "999.90");
        assert_eq!(rs["Offer"][0]["Price"]["@CurCode"], "EUR");
        assert_eq!(rs["Offer"][0]["Seg"], "1");
        assert_eq!(rs["Offer"][1]["Seg"], serde_json::json!(["1", "2"]));
        assert_eq!(rs["Offer"][1]["Empty"], "");
    }

    #[test]
    fn limits_and_faults() {
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><lolz>&lol2;</lolz>"#;
        assert!(matches!(parse(bomb.as_bytes()), Err(XmlError::Dtd)));
        let deep = "<a>".repeat(MAX_DEPTH + 1) + &"</a>".repeat(MAX_DEPTH + 1);
        assert!(matches!(parse(deep.as_bytes()), Err(XmlError::TooDeep)));
        assert!(matches!(parse(b"<a><b></a>"), Err(XmlError::Malformed(_))));
        assert!(matches!(parse(b"\xff<a/>"), Err(XmlError::NotUtf8)));
        let fault = r#"<Envelope><Body><Fault><faultcode>Client</faultcode><faultstring>bad date</faultstring></Fault></Body></Envelope>"#;
        assert_eq!(
            parse(fault.as_bytes()).unwrap().unwrap_err(),
            "Client bad date"
        );
    }

    #[test]
    fn escaped_values_read_back_and_bad_characters_are_refused() {
        let hostile = r#"a<b>&c"d'e]]>"#;
        let body = format!(
            "<r a=\"{0}\" b='{0}'><t>{0}</t><c><![CDATA[{0}]]></c></r>",
            escape_xml(hostile)
        );
        let doc = roxmltree::Document::parse(&body).expect("well-formed");
        let r = doc.root_element();
        assert_eq!(r.attribute("a"), Some(hostile));
        assert_eq!(r.attribute("b"), Some(hostile));
        assert_eq!(r.children().count(), 2);
        assert_eq!(r.first_child().unwrap().text(), Some(hostile));
        assert!(check_body(&format!("<r>{}</r>", escape_xml("a\u{0}b"))).is_err());
        assert!(is_xml_type("application/soap+xml; charset=utf-8"));
        assert!(is_xml_type("text/XML"));
        assert!(!is_xml_type("application/json"));
    }
}
