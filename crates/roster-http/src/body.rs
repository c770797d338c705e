//! One body reader for the formats the surfaces take — JSON, `application/x-www-form-urlencoded`
//! and XML — each read into a JSON value, so a surface's wire types stay serde structs whatever
//! the format; the raw bytes and their SHA-256 are kept (idempotency fingerprints, content
//! digests).
//!
//! XML is read with quick-xml, which expands no entity but the five predefined ones and
//! character references; a document with a DOCTYPE is refused before anything in it is read, so
//! no entity can be declared (no bombs, no external entities). An element becomes an object of
//! its attributes (`@name`), its children by name (an array when one repeats) and its text
//! (`$text`), or a string when it holds only text; names are kept as written, prefixes
//! included, and `xmlns` declarations are attributes like any other.

use std::marker::PhantomData;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use quick_xml::events::Event;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::extract::{json_error, parse_json, read_body};
use crate::surface::{Native, Rejection, Surface};

/// Deepest element nesting an XML body may have.
const MAX_XML_DEPTH: usize = 64;

/// The formats a body may come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Form,
    Xml,
}

impl Format {
    /// The format a `Content-Type` names: `application/json` or `…+json`, the form type,
    /// `application/xml`, `text/xml` or `…+xml`.
    pub fn of(content_type: &str) -> Option<Format> {
        let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match essence.as_str() {
            "application/json" => Some(Format::Json),
            "application/x-www-form-urlencoded" => Some(Format::Form),
            "application/xml" | "text/xml" => Some(Format::Xml),
            e if e.starts_with("application/") && e.ends_with("+json") => Some(Format::Json),
            e if e.starts_with("application/") && e.ends_with("+xml") => Some(Format::Xml),
            _ => None,
        }
    }

    /// Reads `bytes` in this format.
    pub fn read(self, bytes: &[u8]) -> Result<Value, String> {
        match self {
            Format::Json => parse_json(bytes).map_err(|e| json_error("the body", &e)),
            Format::Form => Ok(form(bytes)),
            Format::Xml => xml(bytes),
        }
    }
}

/// Content negotiation (RFC 9110 §12.5.1) for a surface that answers in more than one format:
/// the first of `offered` (in the surface's order of preference) that `accept` rates highest,
/// by `q` (absent: 1, `q=0`: not acceptable) and then by specificity (`application/xml` over
/// `application/*` over `*/*`). No `Accept` takes the first offered; `None` when nothing offered
/// is acceptable (a 406).
pub fn negotiate(accept: Option<&str>, offered: &[Format]) -> Option<Format> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return offered.first().copied();
    };
    let media = |format: Format| match format {
        Format::Json => ["application/json", "application/*"],
        Format::Xml => ["application/xml", "application/*"],
        Format::Form => ["application/x-www-form-urlencoded", "application/*"],
    };
    // For each offered format: the rating of the most specific range that matches it.
    let rate = |format: Format| -> Option<(u16, u8)> {
        let [exact, family] = media(format);
        let mut best: Option<(u16, u8)> = None;
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let name = parts.next().unwrap_or("").to_ascii_lowercase();
            let specificity = match name.as_str() {
                n if n == exact || (format == Format::Xml && n == "text/xml") => 3,
                n if n == family => 2,
                "*/*" => 1,
                _ => continue,
            };
            let q = parts
                .find_map(|p| p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")))
                .and_then(|q| q.parse::<f32>().ok())
                .map_or(1000, |q| (q.clamp(0.0, 1.0) * 1000.0) as u16);
            if best.is_none_or(|(_, s)| specificity > s) {
                best = Some((q, specificity));
            }
        }
        best.filter(|(q, _)| *q > 0)
    };
    let mut chosen: Option<(Format, u16)> = None;
    for format in offered {
        if let Some((q, _)) = rate(*format)
            && chosen.is_none_or(|(_, best)| q > best)
        {
            chosen = Some((*format, q));
        }
    }
    chosen.map(|(format, _)| format)
}

/// A request body in JSON, form or XML, read into a value; refused in surface `X`'s shape.
pub struct Body<X = Native> {
    pub value: Value,
    pub format: Format,
    pub bytes: Bytes,
    pub sha256: [u8; 32],
    _surface: PhantomData<X>,
}

impl<S: Send + Sync, X: Surface> FromRequest<S> for Body<X> {
    type Rejection = X::Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
        let Some(format) = content_type.and_then(Format::of) else {
            let expected = "JSON, application/x-www-form-urlencoded or XML";
            return Err(Rejection::UnsupportedMediaType(expected).into());
        };
        let bytes = read_body(req, state).await?;
        let value = format.read(&bytes).map_err(Rejection::Malformed)?;
        roster_core::input::reject_nul(&value).map_err(Rejection::Core)?;
        let sha256 = Sha256::digest(&bytes).into();
        Ok(Body { value, format, bytes, sha256, _surface: PhantomData })
    }
}

/// A form as an object: a name given once is a string, a repeated one an array in order.
pub fn form(bytes: &[u8]) -> Value {
    let mut fields = Map::new();
    for (name, value) in url::form_urlencoded::parse(bytes) {
        let value = Value::String(value.into_owned());
        match fields.get_mut(name.as_ref()) {
            None => {
                fields.insert(name.into_owned(), value);
            }
            Some(Value::Array(values)) => values.push(value),
            Some(first) => *first = Value::Array(vec![first.take(), value]),
        }
    }
    Value::Object(fields)
}

/// An element being read: its name and what it holds so far.
struct Element {
    name: String,
    fields: Map<String, Value>,
    text: String,
}

impl Element {
    fn new(start: &quick_xml::events::BytesStart<'_>) -> Result<Element, String> {
        let name = start.name().as_ref().to_owned();
        let mut fields = Map::new();
        for attribute in start.attributes() {
            let attribute =
                attribute.map_err(|e| format!("malformed attribute in <{name}>: {e}"))?;
            let key = format!("@{}", attribute.key.as_ref());
            let value = attribute
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|e| format!("attribute {key} of <{name}>: {e}"))?;
            fields.insert(key, Value::String(value.into_owned()));
        }
        Ok(Element { name, fields, text: String::new() })
    }

    fn into_value(self) -> Value {
        let text = self.text.trim();
        if self.fields.is_empty() {
            return Value::String(text.to_owned());
        }
        let mut fields = self.fields;
        if !text.is_empty() {
            fields.insert("$text".to_owned(), Value::String(text.to_owned()));
        }
        Value::Object(fields)
    }
}

/// Adds `value` under `name`, making an array when the name repeats.
fn add(fields: &mut Map<String, Value>, name: String, value: Value) {
    match fields.get_mut(&name) {
        None => {
            fields.insert(name, value);
        }
        Some(Value::Array(values)) => values.push(value),
        Some(first) => *first = Value::Array(vec![first.take(), value]),
    }
}

/// An XML document as `{ "<root name>": <root> }`.
pub fn xml(bytes: &[u8]) -> Result<Value, String> {
    let mut reader = quick_xml::Reader::from_reader(bytes);
    let mut open: Vec<Element> = Vec::new();
    let mut root: Option<(String, Value)> = None;
    let position = |reader: &quick_xml::Reader<&[u8]>| reader.buffer_position();
    loop {
        let event = reader.read_event().map_err(|e| {
            format!("the body is not well-formed XML at byte {}: {e}", position(&reader))
        })?;
        match event {
            Event::DocType(_) => {
                return Err("a DOCTYPE is not accepted: entities cannot be declared".to_owned());
            }
            Event::Start(start) => {
                if root.is_some() {
                    return Err("the body holds more than one root element".to_owned());
                }
                if open.len() >= MAX_XML_DEPTH {
                    return Err(format!("elements nest deeper than {MAX_XML_DEPTH}"));
                }
                open.push(Element::new(&start)?);
            }
            Event::Empty(start) => {
                let element = Element::new(&start)?;
                let name = element.name.clone();
                close(&mut open, &mut root, name, element.into_value())?;
            }
            Event::End(_) => {
                let element = open.pop().ok_or("an end tag closes nothing")?;
                let name = element.name.clone();
                close(&mut open, &mut root, name, element.into_value())?;
            }
            Event::Text(text) => {
                let content = text.xml10_content();
                match open.last_mut() {
                    Some(element) => element.text.push_str(&content),
                    None if content.trim().is_empty() => {}
                    None => return Err("text outside the root element".to_owned()),
                }
            }
            Event::CData(data) => {
                let content = data.xml10_content();
                open.last_mut().ok_or("CDATA outside the root element")?.text.push_str(&content);
            }
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => match reference.xml10_content().as_ref() {
                        "amp" => "&".to_owned(),
                        "lt" => "<".to_owned(),
                        "gt" => ">".to_owned(),
                        "quot" => "\"".to_owned(),
                        "apos" => "'".to_owned(),
                        other => return Err(format!("the entity &{other}; is not defined")),
                    },
                    Err(e) => return Err(format!("a character reference is invalid: {e}")),
                };
                open.last_mut()
                    .ok_or("a reference outside the root element")?
                    .text
                    .push_str(&resolved);
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !open.is_empty() {
        return Err("the document ends inside an element".to_owned());
    }
    let (name, value) = root.ok_or("the body holds no element")?;
    let mut document = Map::new();
    document.insert(name, value);
    Ok(Value::Object(document))
}

/// Hands a finished element to its parent, or makes it the root.
fn close(
    open: &mut [Element],
    root: &mut Option<(String, Value)>,
    name: String,
    value: Value,
) -> Result<(), String> {
    match open.last_mut() {
        Some(parent) => add(&mut parent.fields, name, value),
        None if root.is_none() => *root = Some((name, value)),
        None => return Err("the body holds more than one root element".to_owned()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn xml_reads_into_a_value_with_namespaces_attributes_and_repeats() {
        let doc = br#"<?xml version="1.0"?>
            <UserRequest xmlns="http://schema.ubisecure.com/customerid/api" id="7">
              <firstname>Ada &amp; Co</firstname>
              <customAttributes>
                <attribute name="a"><value>1</value><value>2&#x21;</value></attribute>
              </customAttributes>
              <empty/>
              <note><![CDATA[<raw>]]></note>
            </UserRequest>"#;
        assert_eq!(
            xml(doc).unwrap(),
            json!({ "UserRequest": {
                "@xmlns": "http://schema.ubisecure.com/customerid/api",
                "@id": "7",
                "firstname": "Ada & Co",
                "customAttributes": { "attribute": { "@name": "a", "value": ["1", "2!"] } },
                "empty": "",
                "note": "<raw>",
            } })
        );
    }

    #[test]
    fn doctypes_entities_and_malformed_xml_are_refused() {
        let bomb = br#"<?xml version="1.0"?>
            <!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>
            <lolz>&lol2;</lolz>"#;
        assert!(xml(bomb).unwrap_err().contains("DOCTYPE"));
        let external = br#"<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"#;
        assert!(xml(external).unwrap_err().contains("DOCTYPE"));
        assert!(xml(b"<r>&undefined;</r>").unwrap_err().contains("not defined"));
        for bad in [&b"<a><b></a>"[..], b"<a>", b"", b"text", b"<a/><b/>", b"<a x='1' x='2'/>"] {
            assert!(xml(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let deep = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100));
        assert!(xml(deep.as_bytes()).unwrap_err().contains("deeper"));
    }

    #[test]
    fn forms_keep_repeated_names_in_order() {
        assert_eq!(
            form(b"a=1&b=x+y&a=2&c=%C3%A9&a=3"),
            json!({ "a": ["1", "2", "3"], "b": "x y", "c": "é" })
        );
    }

    #[test]
    fn accept_chooses_among_the_offered_formats() {
        let both = [Format::Xml, Format::Json];
        assert_eq!(negotiate(None, &both), Some(Format::Xml), "no Accept: the surface's first");
        assert_eq!(negotiate(Some("application/json"), &both), Some(Format::Json));
        assert_eq!(negotiate(Some("text/xml"), &both), Some(Format::Xml));
        assert_eq!(negotiate(Some("*/*"), &both), Some(Format::Xml));
        assert_eq!(
            negotiate(Some("application/xml;q=0.5, application/json"), &both),
            Some(Format::Json)
        );
        assert_eq!(
            negotiate(Some("application/*, application/xml;q=0"), &both),
            Some(Format::Json)
        );
        assert_eq!(negotiate(Some("text/html"), &both), None, "a 406");
        assert_eq!(negotiate(Some("application/json;q=0"), &[Format::Json]), None);
    }

    #[test]
    fn content_types_name_formats() {
        assert_eq!(Format::of("application/json; charset=utf-8"), Some(Format::Json));
        assert_eq!(Format::of("application/scim+json"), Some(Format::Json));
        assert_eq!(Format::of("application/x-www-form-urlencoded"), Some(Format::Form));
        assert_eq!(Format::of("text/xml"), Some(Format::Xml));
        assert_eq!(Format::of("application/soap+xml"), Some(Format::Xml));
        assert_eq!(Format::of("text/plain"), None);
    }
}
