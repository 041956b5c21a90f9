//! The schema descriptors the generated code fills, and the strict check of a payload
//! against them: element order, missing and extra elements, namespaces, integers, booleans,
//! dates and enumeration values. yaserde alone accepts all of these silently; a payload
//! only reaches yaserde after this check, rebuilt in a canonical form.

use crate::contract::{TARGET_NAMESPACE, TYPES};
use crate::xml::{Element, escape};

/// What kind of value a child element holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `xsd:string`.
    String,
    /// `xsd:int`.
    Int,
    /// `xsd:boolean`.
    Boolean,
    /// `xsd:dateTime`.
    DateTime,
    /// An enumeration with these values.
    Enum(&'static [&'static str]),
    /// A complex type by name.
    Complex(&'static str),
}

/// A child element of a complex type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldDesc {
    /// Its local name.
    pub name: &'static str,
    /// Its kind.
    pub kind: Kind,
    /// `minOccurs`.
    pub min: u32,
    /// `maxOccurs`; `None` for unbounded.
    pub max: Option<u32>,
}

/// A complex type or top-level element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeDesc {
    /// Its name.
    pub name: &'static str,
    /// Its children, in order.
    pub fields: &'static [FieldDesc],
}

/// An operation of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperationDesc {
    /// The operation.
    pub operation: crate::contract::Operation,
    /// The operation's name.
    pub name: &'static str,
    /// The request element.
    pub input: &'static str,
    /// The response element.
    pub output: &'static str,
    /// The SOAP action.
    pub soap_action: &'static str,
}

fn type_desc(name: &str) -> Option<&'static TypeDesc> {
    TYPES.iter().find(|t| t.name == name)
}

/// Checks `element` against the type `type_name` and writes it canonically (every element
/// prefixed `tns`, the namespace declared on the root) for yaserde. Errors name the path.
pub fn check(element: &Element, type_name: &str) -> Result<String, String> {
    let mut out = format!("<tns:{} xmlns:tns=\"{TARGET_NAMESPACE}\">", element.name);
    check_children(element, type_name, &element.name, &mut out)?;
    out.push_str(&format!("</tns:{}>", element.name));
    Ok(out)
}

fn check_children(element: &Element, type_name: &str, path: &str, out: &mut String) -> Result<(), String> {
    let desc = type_desc(type_name).ok_or_else(|| format!("{path}: the type {type_name} is unknown"))?;
    if !element.attributes.is_empty() {
        return Err(format!("{path}: attributes are not allowed here"));
    }
    if !element.text.trim().is_empty() {
        return Err(format!("{path}: text is not allowed here, only child elements"));
    }
    let mut children = element.children.iter().peekable();
    for field in desc.fields {
        let mut count = 0u32;
        while let Some(child) = children.peek() {
            if child.name != field.name {
                break;
            }
            if child.ns.as_deref() != Some(TARGET_NAMESPACE) {
                return Err(format!("{path}/{}: must be in the namespace {TARGET_NAMESPACE}", child.name));
            }
            count += 1;
            if field.max.is_some_and(|max| count > max) {
                return Err(format!("{path}/{}: appears more often than allowed", field.name));
            }
            check_value(child, field, &format!("{path}/{}", field.name), out)?;
            children.next();
        }
        if count < field.min {
            return Err(format!("{path}: the element {} is missing or out of order", field.name));
        }
    }
    if let Some(extra) = children.next() {
        let known = desc.fields.iter().any(|f| f.name == extra.name);
        return Err(if known {
            format!("{path}/{}: is out of order (the contract's sequence must be kept)", extra.name)
        } else {
            format!("{path}/{}: is not an element of {type_name}", extra.name)
        });
    }
    Ok(())
}

fn check_value(child: &Element, field: &FieldDesc, path: &str, out: &mut String) -> Result<(), String> {
    out.push_str(&format!("<tns:{}>", field.name));
    if let Kind::Complex(type_name) = field.kind {
        check_children(child, type_name, path, out)?;
    } else {
        if !child.children.is_empty() || !child.attributes.is_empty() {
            return Err(format!("{path}: must hold a plain value"));
        }
        let value = child.text.trim();
        if value.chars().count() > keyport_core::text::MAX_TEXT {
            return Err(format!("{path}: must be at most {} characters", keyport_core::text::MAX_TEXT));
        }
        let ok = match field.kind {
            Kind::String => !value.is_empty() || field.min == 0,
            Kind::Int => value.parse::<i32>().is_ok(),
            Kind::Boolean => matches!(value, "true" | "false" | "1" | "0"),
            Kind::DateTime => chrono::DateTime::parse_from_rfc3339(value).is_ok(),
            Kind::Enum(values) => values.contains(&value),
            Kind::Complex(_) => true,
        };
        if !ok {
            return Err(match field.kind {
                Kind::String => format!("{path}: must not be empty"),
                Kind::Int => format!("{path}: '{value}' is not an integer"),
                Kind::Boolean => format!("{path}: '{value}' is not true or false"),
                Kind::DateTime => format!("{path}: '{value}' is not a date and time with offset"),
                Kind::Enum(values) => format!("{path}: '{value}' is not one of {}", values.join(", ")),
                Kind::Complex(_) => String::new(),
            });
        }
        let canonical = match (field.kind, value) {
            (Kind::Boolean, "1") => "true",
            (Kind::Boolean, "0") => "false",
            _ => value,
        };
        out.push_str(&escape(canonical));
    }
    out.push_str(&format!("</tns:{}>", field.name));
    Ok(())
}
