//! A strict reader for incoming XML: a small tree with resolved namespaces. It refuses DTDs
//! (so no XXE and no entity expansion), unknown entities, and malformed XML, each with a
//! message a shop developer understands.

use quick_xml::NsReader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;

/// An element: namespace, local name, attributes, children and text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    /// The namespace URI, if bound.
    pub ns: Option<String>,
    /// The local name.
    pub name: String,
    /// Attributes other than namespace declarations: (namespace, local name, value).
    pub attributes: Vec<(Option<String>, String, String)>,
    /// Child elements, in order.
    pub children: Vec<Element>,
    /// The text directly inside (entities resolved).
    pub text: String,
}

impl Element {
    /// Whether it is `name` in namespace `ns`.
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns.as_deref() == Some(ns) && self.name == name
    }

    /// An attribute's value by local name (any namespace).
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(_, n, _)| n == name).map(|(_, _, v)| v.as_str())
    }
}

fn namespace(result: &ResolveResult<'_>) -> Result<Option<String>, String> {
    match result {
        ResolveResult::Bound(ns) => Ok(Some(ns.0.to_owned())),
        ResolveResult::Unbound => Ok(None),
        ResolveResult::Unknown(prefix) => Err(format!("the prefix '{prefix}' is not declared")),
    }
}

/// The reader's error in our own words (a library's text names its internals), with the
/// byte offset where reading stopped.
fn described(error: &quick_xml::Error, at: u64) -> String {
    let what = match error {
        quick_xml::Error::Io(_) => "the body could not be read",
        quick_xml::Error::Syntax(_) => {
            "the XML syntax is broken (a tag, comment or CDATA section is not closed)"
        }
        quick_xml::Error::IllFormed(_) => {
            "the XML is not well-formed (an element is closed that was not open, or not closed)"
        }
        quick_xml::Error::InvalidAttr(_) => "an attribute is malformed",
        quick_xml::Error::Encoding(_) => "the text is not valid UTF-8",
        quick_xml::Error::Escape(_) => "an escape (&...;) is not allowed",
        quick_xml::Error::Namespace(_) => {
            "the namespace declarations are not allowed (a reserved prefix, or too many in scope)"
        }
    };
    format!("the XML is malformed at byte {at}: {what}")
}

fn element(reader: &NsReader<&[u8]>, ns: Option<String>, start: &BytesStart<'_>) -> Result<Element, String> {
    let mut attributes = Vec::new();
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|_| "an attribute is malformed".to_owned())?;
        let key = attribute.key.as_ref();
        if key == "xmlns" || key.starts_with("xmlns:") {
            continue;
        }
        let (resolved, local) = reader.resolver().resolve_attribute(attribute.key);
        let value = attribute
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|_| format!("the attribute {key} holds an escape (&...;) that is not allowed"))?;
        attributes.push((namespace(&resolved)?, local.as_ref().to_owned(), value.into_owned()));
    }
    Ok(Element {
        ns,
        name: start.local_name().as_ref().to_owned(),
        attributes,
        children: Vec::new(),
        text: String::new(),
    })
}

/// The deepest nesting accepted (the contract needs far less); deeper documents are refused
/// before they can exhaust a stack.
pub const MAX_DEPTH: usize = 64;

/// Whether XML 1.0 allows the character at all (its `Char` production): no NUL, no C0
/// control but tab, line feed and carriage return, no U+FFFE or U+FFFF. quick-xml passes
/// such characters through; a value that holds one must never reach the database.
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
}

fn refuse_char(c: char) -> String {
    format!("the character U+{:04X} is not allowed in XML", u32::from(c))
}

/// Reads a document into its root element.
pub fn parse(text: &str) -> Result<Element, String> {
    if let Some(c) = text.chars().find(|c| !xml_char(*c)) {
        return Err(refuse_char(c));
    }
    let mut reader = NsReader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let (result, event) = match reader.read_resolved_event() {
            Ok(read) => read,
            Err(e) => return Err(described(&e, reader.error_position())),
        };
        let ns = namespace(&result);
        match event {
            Event::Start(e) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(format!("the XML is nested more than {MAX_DEPTH} levels deep"));
                }
                let node = element(&reader, ns?, &e)?;
                stack.push(node);
            }
            Event::Empty(e) => {
                let node = element(&reader, ns?, &e)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None if root.is_none() => root = Some(node),
                    None => return Err("there is more than one root element".to_owned()),
                }
            }
            Event::End(_) => {
                let node = stack.pop().ok_or("an end tag has no start tag")?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None if root.is_none() => root = Some(node),
                    None => return Err("there is more than one root element".to_owned()),
                }
            }
            Event::Text(t) => {
                let text = t.xml_content(quick_xml::XmlVersion::Implicit1_0);
                match stack.last_mut() {
                    Some(parent) => parent.text.push_str(&text),
                    None if text.trim().is_empty() => {}
                    None => return Err("there is text outside the root element".to_owned()),
                }
            }
            Event::CData(t) => {
                let text = t.into_inner().into_owned();
                stack.last_mut().ok_or("CDATA outside the root element")?.text.push_str(&text);
            }
            Event::GeneralRef(r) => {
                let resolved = if r.is_char_ref() {
                    r.resolve_char_ref().ok().flatten().map(String::from)
                } else {
                    quick_xml::escape::resolve_predefined_entity(&r.into_inner()).map(str::to_owned)
                };
                let resolved =
                    resolved.ok_or("an entity other than the five predefined ones is not allowed")?;
                if let Some(c) = resolved.chars().find(|c| !xml_char(*c)) {
                    return Err(refuse_char(c));
                }
                stack.last_mut().ok_or("an entity outside the root element")?.text.push_str(&resolved);
            }
            Event::DocType(_) => {
                return Err("a DTD or entity declaration is not allowed".to_owned());
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err("the document ends before its elements are closed".to_owned());
    }
    root.ok_or_else(|| "the document is empty".to_owned())
}

/// Escapes text for element content.
pub fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_resolve_on_elements_and_attributes() {
        let doc = parse(r#"<a:x xmlns:a="urn:a" xmlns:b="urn:b" b:k="v"><a:y>1 &amp; 2</a:y></a:x>"#);
        let doc = doc.unwrap_or_default();
        assert!(doc.is("urn:a", "x"));
        assert_eq!(doc.attributes, vec![(Some("urn:b".to_owned()), "k".to_owned(), "v".to_owned())]);
        assert_eq!(doc.children[0].text, "1 & 2");
    }

    #[test]
    fn a_dtd_is_refused() {
        let err = parse(r#"<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>"#).err();
        assert_eq!(err.as_deref(), Some("a DTD or entity declaration is not allowed"));
    }

    #[test]
    fn a_deeply_nested_document_is_refused_without_exhausting_the_stack() {
        let deep = format!("{}{}", "<a>".repeat(100_000), "</a>".repeat(100_000));
        assert_eq!(parse(&deep).err().as_deref(), Some("the XML is nested more than 64 levels deep"));
    }

    #[test]
    fn characters_xml_does_not_allow_are_refused_raw_or_referenced() {
        assert_eq!(
            parse("<x>a\u{0}b</x>").err().as_deref(),
            Some("the character U+0000 is not allowed in XML")
        );
        assert_eq!(
            parse("<x>a&#1;b</x>").err().as_deref(),
            Some("the character U+0001 is not allowed in XML")
        );
        assert!(parse("<x>a&#0;b</x>").is_err());
        assert!(parse("<x>tab\tand\nline</x>").is_ok());
    }

    #[test]
    fn an_undeclared_prefix_and_broken_xml_are_refused() {
        assert!(parse("<a:x/>").is_err());
        assert!(parse("<x><y></x>").is_err());
        assert!(parse("<x>&custom;</x>").is_err());
    }
}
