//! Reading a WSDL into the model the generator writes from.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

/// An XML element with its attributes and children (whitespace text dropped).
#[derive(Debug, Clone, Default)]
struct Node {
    name: String,
    attributes: Vec<(String, String)>,
    children: Vec<Node>,
}

impl Node {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn kids<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
}

fn local(name: &str) -> String {
    name.rsplit(':').next().unwrap_or_default().to_owned()
}

fn start(e: &BytesStart<'_>) -> Result<Node, String> {
    let mut attributes = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|e| format!("bad attribute: {e}"))?;
        let value = a.normalized_value(quick_xml::XmlVersion::Implicit1_0).map_err(|e| e.to_string())?;
        attributes.push((a.key.as_ref().to_owned(), value.into_owned()));
    }
    Ok(Node { name: local(e.name().as_ref()), attributes, children: Vec::new() })
}

fn parse_tree(text: &str) -> Result<Node, String> {
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Node> = vec![Node::default()];
    loop {
        match reader.read_event().map_err(|e| format!("the WSDL is not well-formed XML: {e}"))? {
            Event::Start(e) => stack.push(start(&e)?),
            Event::Empty(e) => {
                let node = start(&e)?;
                stack.last_mut().ok_or("unbalanced XML")?.children.push(node);
            }
            Event::End(_) => {
                let node = stack.pop().ok_or("unbalanced XML")?;
                stack.last_mut().ok_or("unbalanced XML")?.children.push(node);
            }
            Event::DocType(_) => return Err("the WSDL must not contain a DTD".to_owned()),
            Event::Eof => break,
            _ => {}
        }
    }
    let mut root = stack.pop().ok_or("empty document")?;
    root.children.pop().ok_or_else(|| "empty document".to_owned())
}

/// The type of a child element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldType {
    /// `xsd:string`.
    String,
    /// `xsd:int`.
    Int,
    /// `xsd:boolean`.
    Boolean,
    /// `xsd:dateTime`.
    DateTime,
    /// A named simple (enumeration) type of the target namespace.
    Enum(String),
    /// A named complex type of the target namespace.
    Complex(String),
}

/// A child element of a sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The element name.
    pub name: String,
    /// Its type.
    pub ty: FieldType,
    /// `minOccurs`.
    pub min: u32,
    /// `maxOccurs`; `None` for unbounded.
    pub max: Option<u32>,
}

/// A complex type: a sequence of child elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplexType {
    /// The type's (or top-level element's) name.
    pub name: String,
    /// Whether it is a top-level element (a request, response or fault).
    pub is_element: bool,
    /// The children, in order.
    pub fields: Vec<Field>,
}

/// An enumeration of strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimpleType {
    /// Its name.
    pub name: String,
    /// The allowed values, in order.
    pub values: Vec<String>,
}

/// A document/literal operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// Its name.
    pub name: String,
    /// The request element.
    pub input: String,
    /// The response element.
    pub output: String,
    /// The SOAP action.
    pub soap_action: String,
    /// The fault elements it declares.
    pub faults: Vec<String>,
}

/// Everything the generator writes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contract {
    /// The schema's target namespace.
    pub namespace: String,
    /// Enumerations.
    pub simple_types: Vec<SimpleType>,
    /// Complex types and top-level elements.
    pub complex_types: Vec<ComplexType>,
    /// Operations, in the port type's order.
    pub operations: Vec<Operation>,
    /// The names clients bind to: `portType P`, `binding B`, `service S`, `port S/P`.
    pub endpoints: Vec<String>,
}

const SUPPORTED_IN_SCHEMA: [&str; 3] = ["simpleType", "complexType", "element"];

fn strip_prefix(qname: &str) -> &str {
    qname.rsplit(':').next().unwrap_or(qname)
}

fn occurs(node: &Node, attr: &str) -> Result<Option<u32>, String> {
    match node.attr(attr) {
        None => Ok(Some(1)),
        Some("unbounded") => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| format!("{attr}=\"{v}\" is not a number")),
    }
}

fn sequence(owner: &str, complex: &Node, simple_names: &[String]) -> Result<Vec<Field>, String> {
    let mut fields = Vec::new();
    for child in &complex.children {
        match child.name.as_str() {
            "sequence" => {}
            "annotation" => continue,
            other => return Err(format!("{owner}: <xsd:{other}> is not supported (only xsd:sequence)")),
        }
        for el in &child.children {
            if el.name != "element" {
                return Err(format!("{owner}: <xsd:{}> in a sequence is not supported", el.name));
            }
            if el.attr("ref").is_some() {
                return Err(format!("{owner}: element references (ref=) are not supported"));
            }
            let name = el.attr("name").ok_or_else(|| format!("{owner}: an element has no name"))?.to_owned();
            let ty = el
                .attr("type")
                .ok_or_else(|| format!("{owner}.{name}: anonymous child types are not supported"))?;
            let ty = match ty {
                "xsd:string" | "xs:string" => FieldType::String,
                "xsd:int" | "xs:int" => FieldType::Int,
                "xsd:boolean" | "xs:boolean" => FieldType::Boolean,
                "xsd:dateTime" | "xs:dateTime" => FieldType::DateTime,
                other if other.starts_with("tns:") => {
                    let n = strip_prefix(other).to_owned();
                    if simple_names.contains(&n) { FieldType::Enum(n) } else { FieldType::Complex(n) }
                }
                other => return Err(format!("{owner}.{name}: the type {other} is not supported")),
            };
            let min = occurs(el, "minOccurs")?.unwrap_or(1);
            fields.push(Field { name, ty, min, max: occurs(el, "maxOccurs")? });
        }
    }
    Ok(fields)
}

/// Reads the contract from WSDL text.
pub fn read(wsdl: &str) -> Result<Contract, String> {
    let root = parse_tree(wsdl)?;
    if root.name != "definitions" {
        return Err("the root element must be wsdl:definitions".to_owned());
    }
    let types = root.kids("types").next().ok_or("the WSDL has no wsdl:types")?;
    let schema = types.kids("schema").next().ok_or("wsdl:types holds no xsd:schema")?;
    let namespace = schema.attr("targetNamespace").ok_or("the schema has no targetNamespace")?.to_owned();
    if schema.attr("elementFormDefault") != Some("qualified") {
        return Err("the schema must say elementFormDefault=\"qualified\"".to_owned());
    }
    let mut simple_types = Vec::new();
    for st in schema.kids("simpleType") {
        let name = st.attr("name").ok_or("a simpleType has no name")?.to_owned();
        let restriction = st
            .kids("restriction")
            .next()
            .ok_or_else(|| format!("{name}: only restrictions are supported"))?;
        if restriction.attr("base").map(strip_prefix) != Some("string") {
            return Err(format!("{name}: only enumerations of xsd:string are supported"));
        }
        let values =
            restriction.kids("enumeration").filter_map(|e| e.attr("value").map(str::to_owned)).collect();
        simple_types.push(SimpleType { name, values });
    }
    let simple_names: Vec<String> = simple_types.iter().map(|s| s.name.clone()).collect();
    let mut complex_types = Vec::new();
    for node in &schema.children {
        if !SUPPORTED_IN_SCHEMA.contains(&node.name.as_str()) && node.name != "annotation" {
            return Err(format!("<xsd:{}> in the schema is not supported", node.name));
        }
        let Some(name) = node.attr("name") else { continue };
        match node.name.as_str() {
            "complexType" => complex_types.push(ComplexType {
                name: name.to_owned(),
                is_element: false,
                fields: sequence(name, node, &simple_names)?,
            }),
            "element" => {
                let complex = node
                    .kids("complexType")
                    .next()
                    .ok_or_else(|| format!("{name}: top-level elements need an anonymous complexType"))?;
                complex_types.push(ComplexType {
                    name: name.to_owned(),
                    is_element: true,
                    fields: sequence(name, complex, &simple_names)?,
                });
            }
            _ => {}
        }
    }
    let messages: Vec<(String, String)> = root
        .kids("message")
        .filter_map(|m| {
            let part = m.kids("part").next()?;
            Some((m.attr("name")?.to_owned(), strip_prefix(part.attr("element")?).to_owned()))
        })
        .collect();
    let element_of = |message: Option<&str>| -> Result<String, String> {
        let message = strip_prefix(message.ok_or("an operation message is missing")?);
        messages
            .iter()
            .find(|(n, _)| n == message)
            .map(|(_, e)| e.clone())
            .ok_or_else(|| format!("the message {message} is not defined"))
    };
    let port_type = root.kids("portType").next().ok_or("the WSDL has no portType")?;
    let binding = root.kids("binding").next().ok_or("the WSDL has no binding")?;
    let mut operations = Vec::new();
    for op in port_type.kids("operation") {
        let name = op.attr("name").ok_or("an operation has no name")?.to_owned();
        let input = element_of(op.kids("input").next().and_then(|i| i.attr("message")))?;
        let output = element_of(op.kids("output").next().and_then(|o| o.attr("message")))?;
        let soap_action = binding
            .kids("operation")
            .find(|b| b.attr("name") == Some(name.as_str()))
            .and_then(|b| b.kids("operation").next())
            .and_then(|s| s.attr("soapAction"))
            .ok_or_else(|| format!("{name}: the binding has no soapAction"))?
            .to_owned();
        let faults =
            op.kids("fault").map(|f| element_of(f.attr("message"))).collect::<Result<Vec<_>, _>>()?;
        operations.push(Operation { name, input, output, soap_action, faults });
    }
    let mut endpoints = Vec::new();
    for (kind, node) in [("portType", port_type), ("binding", binding)] {
        endpoints.push(format!("{kind} {}", node.attr("name").unwrap_or_default()));
    }
    for service in root.kids("service") {
        let name = service.attr("name").unwrap_or_default();
        endpoints.push(format!("service {name}"));
        for port in service.kids("port") {
            endpoints.push(format!("port {name}/{}", port.attr("name").unwrap_or_default()));
        }
    }
    Ok(Contract { namespace, simple_types, complex_types, operations, endpoints })
}
