#![doc = include_str!("../README.md")]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use keyport_wsdl_gen::{ComplexType, Contract, Field, FieldType};

/// One change that breaks a client built from the released contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    /// Where: an operation, `element X` (a request, response or fault), `type X` or `enum X`.
    pub at: String,
    /// What changed, in words.
    pub what: String,
}

/// The outcome of a comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The released contract's namespace.
    pub released: String,
    /// The current contract's namespace.
    pub current: String,
    /// Every breaking change found.
    pub breaks: Vec<Break>,
    /// Additions a client sees: new response elements, new enumeration values in responses,
    /// new operations. Allowed (clients ignore what they do not know), and named so that the
    /// CHANGELOG can list them.
    pub notes: Vec<Break>,
    /// Whether the current contract is a new major version of the released one (`v1` to
    /// `v2`), which may break.
    pub new_major: bool,
}

impl Report {
    /// Whether the current contract may be released: nothing breaks, or it is a new major
    /// version.
    pub fn passes(&self) -> bool {
        self.breaks.is_empty() || self.new_major
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.breaks {
            writeln!(f, "breaking: {}: {}", b.at, b.what)?;
        }
        for n in &self.notes {
            writeln!(f, "added: {}: {}", n.at, n.what)?;
        }
        match (self.breaks.is_empty(), self.new_major) {
            (true, _) => writeln!(f, "wsdl: compatible with the released contract ({})", self.released),
            (false, true) => writeln!(
                f,
                "wsdl: {} breaking change(s), allowed: {} is a new major version of {}",
                self.breaks.len(),
                self.current,
                self.released
            ),
            (false, false) => writeln!(
                f,
                "wsdl: {} breaking change(s). A deliberate break needs a new major version: {}",
                self.breaks.len(),
                next_major(&self.released).map_or_else(
                    || "a new namespace".to_owned(),
                    |ns| format!("change the namespace to {ns}")
                ),
            ),
        }
    }
}

/// A namespace's stem and major version: `urn:keyport:soap:v1` is (`urn:keyport:soap:`, 1).
fn major(namespace: &str) -> Option<(&str, u32)> {
    let at = namespace.rfind(['v', 'V'])?;
    let number = namespace[at + 1..].parse().ok()?;
    let stem = &namespace[..at];
    (stem.ends_with(':') || stem.ends_with('/')).then_some((stem, number))
}

fn next_major(namespace: &str) -> Option<String> {
    major(namespace).map(|(stem, n)| format!("{stem}v{}", n + 1))
}

/// Which side of the wire a type is on.
#[derive(Debug, Clone, Copy, Default)]
struct Sides {
    request: bool,
    response: bool,
}

/// A complex type's key: top-level elements and named types are apart.
fn key(is_element: bool, name: &str) -> (bool, String) {
    (is_element, name.to_owned())
}

struct Index<'a> {
    types: BTreeMap<(bool, String), &'a ComplexType>,
    enums: BTreeMap<&'a str, &'a [String]>,
}

impl<'a> Index<'a> {
    fn of(contract: &'a Contract) -> Index<'a> {
        Index {
            types: contract.complex_types.iter().map(|t| (key(t.is_element, &t.name), t)).collect(),
            enums: contract.simple_types.iter().map(|s| (s.name.as_str(), s.values.as_slice())).collect(),
        }
    }
}

/// The sides every complex type and enumeration of `contract` is on, from the operations'
/// inputs (request) and outputs and every other top-level element, the faults (response).
fn sides(
    contract: &Contract,
    index: &Index<'_>,
) -> (BTreeMap<(bool, String), Sides>, BTreeMap<String, Sides>) {
    let mut types: BTreeMap<(bool, String), Sides> = BTreeMap::new();
    let mut enums: BTreeMap<String, Sides> = BTreeMap::new();
    let inputs: BTreeSet<&str> = contract.operations.iter().map(|o| o.input.as_str()).collect();
    let outputs: BTreeSet<&str> = contract.operations.iter().map(|o| o.output.as_str()).collect();
    for t in contract.complex_types.iter().filter(|t| t.is_element) {
        let request = inputs.contains(t.name.as_str());
        let response = outputs.contains(t.name.as_str()) || !request;
        let mut todo = vec![key(true, &t.name)];
        while let Some(k) = todo.pop() {
            let seen = types.entry(k.clone()).or_default();
            let before = (seen.request, seen.response);
            seen.request |= request;
            seen.response |= response;
            if before == (seen.request, seen.response) && before != (false, false) {
                continue;
            }
            let Some(ty) = index.types.get(&k) else { continue };
            for field in &ty.fields {
                match &field.ty {
                    FieldType::Complex(name) => todo.push(key(false, name)),
                    FieldType::Enum(name) => {
                        let e = enums.entry(name.clone()).or_default();
                        e.request |= request;
                        e.response |= response;
                    }
                    FieldType::String | FieldType::Int | FieldType::Boolean | FieldType::DateTime => {}
                }
            }
        }
    }
    (types, enums)
}

fn type_name(ty: &FieldType) -> String {
    match ty {
        FieldType::String => "xsd:string".to_owned(),
        FieldType::Int => "xsd:int".to_owned(),
        FieldType::Boolean => "xsd:boolean".to_owned(),
        FieldType::DateTime => "xsd:dateTime".to_owned(),
        FieldType::Enum(name) | FieldType::Complex(name) => format!("tns:{name}"),
    }
}

fn occurs(max: Option<u32>) -> String {
    max.map_or_else(|| "unbounded".to_owned(), |n| n.to_string())
}

/// The breaks between an old and a new element of one sequence.
fn compare_field(old: &Field, new: &Field, side: Sides, out: &mut Vec<String>) {
    let name = &old.name;
    if old.ty != new.ty {
        out.push(format!("element {name}: type {} changed to {}", type_name(&old.ty), type_name(&new.ty)));
    }
    if side.request && old.min == 0 && new.min > 0 {
        out.push(format!("element {name}: optional made required in a request"));
    }
    if side.response && old.min > 0 && new.min == 0 {
        out.push(format!("element {name}: may now be absent from a response"));
    }
    // None is unbounded: the largest.
    let lowered = match (old.max, new.max) {
        (None, Some(_)) => true,
        (Some(a), Some(b)) => b < a,
        (_, None) => false,
    };
    let raised = match (old.max, new.max) {
        (Some(_), None) => true,
        (Some(a), Some(b)) => b > a,
        (None, _) => false,
    };
    if side.request && lowered {
        out.push(format!(
            "element {name}: maxOccurs {} lowered to {} in a request",
            occurs(old.max),
            occurs(new.max)
        ));
    }
    if side.response && raised {
        out.push(format!(
            "element {name}: maxOccurs {} raised to {} in a response",
            occurs(old.max),
            occurs(new.max)
        ));
    }
}

/// The breaks (and the additions a client sees) between the released and the current
/// version of one complex type.
fn compare_type(old: &ComplexType, new: &ComplexType, side: Sides) -> (Vec<String>, Vec<String>) {
    let (mut out, mut added_to) = (Vec::new(), Vec::new());
    let mut last = None;
    for field in &old.fields {
        let Some((at, now)) = new.fields.iter().enumerate().find(|(_, f)| f.name == field.name) else {
            out.push(format!("element {} removed", field.name));
            continue;
        };
        if last.is_some_and(|before| at < before) {
            out.push(format!("element {} moved within the sequence", field.name));
        }
        last = Some(at);
        compare_field(field, now, side, &mut out);
    }
    for field in &new.fields {
        let added = !old.fields.iter().any(|f| f.name == field.name);
        if added && side.request && field.min > 0 {
            out.push(format!("element {}: a new required element in a request", field.name));
        }
        if added && side.response {
            added_to.push(format!("element {} added to a response", field.name));
        }
    }
    (out, added_to)
}

/// Every breaking change from `released` to `current`.
pub fn compare(released: &Contract, current: &Contract) -> Report {
    let (old, new) = (Index::of(released), Index::of(current));
    let (mut breaks, mut notes) = (Vec::new(), Vec::new());
    let mut push = |at: String, what: String| breaks.push(Break { at, what });
    for op in current.operations.iter().filter(|o| !released.operations.iter().any(|r| r.name == o.name)) {
        notes.push(Break { at: format!("operation {}", op.name), what: "added".to_owned() });
    }
    let new_major = match (major(&released.namespace), major(&current.namespace)) {
        (Some((a, m)), Some((b, n))) => a == b && n > m,
        _ => false,
    };
    if released.namespace != current.namespace && !new_major {
        push(
            "namespace".to_owned(),
            format!("{} changed to {} (not a new major version)", released.namespace, current.namespace),
        );
    }
    for op in &released.operations {
        let at = format!("operation {}", op.name);
        match current.operations.iter().find(|o| o.name == op.name) {
            None => push(at, "removed".to_owned()),
            Some(now) => {
                if now.input != op.input || now.output != op.output {
                    push(
                        at.clone(),
                        format!(
                            "messages {}/{} changed to {}/{}",
                            op.input, op.output, now.input, now.output
                        ),
                    );
                }
                if now.soap_action != op.soap_action {
                    push(
                        at.clone(),
                        format!("SOAP action {} changed to {}", op.soap_action, now.soap_action),
                    );
                }
                for fault in op.faults.iter().filter(|f| !now.faults.contains(f)) {
                    push(at.clone(), format!("fault {fault} removed"));
                }
            }
        }
    }
    for name in released.endpoints.iter().filter(|e| !current.endpoints.contains(e)) {
        push(name.clone(), "removed or renamed (clients bind to it by name)".to_owned());
    }
    let (types, enums) = sides(released, &old);
    for ((is_element, name), side) in &types {
        let at = format!("{} {name}", if *is_element { "element" } else { "type" });
        match (old.types.get(&(*is_element, name.clone())), new.types.get(&(*is_element, name.clone()))) {
            (Some(_), None) => push(at, "removed".to_owned()),
            (Some(before), Some(now)) => {
                let (broken, added) = compare_type(before, now, *side);
                for what in broken {
                    push(at.clone(), what);
                }
                notes.extend(added.into_iter().map(|what| Break { at: at.clone(), what }));
            }
            // A reference the released contract did not define: its own reader refused it.
            (None, _) => {}
        }
    }
    for (name, side) in &enums {
        let at = format!("enum {name}");
        match (old.enums.get(name.as_str()), new.enums.get(name.as_str())) {
            (Some(_), None) => push(at, "removed".to_owned()),
            (Some(before), Some(now)) => {
                for value in before.iter().filter(|v| !now.contains(v)) {
                    push(at.clone(), format!("value \"{value}\" removed"));
                }
                for value in now.iter().filter(|v| side.response && !before.contains(v)) {
                    notes.push(Break {
                        at: at.clone(),
                        what: format!("value \"{value}\" added (responses carry it)"),
                    });
                }
            }
            (None, _) => {}
        }
    }
    Report {
        released: released.namespace.clone(),
        current: current.namespace.clone(),
        breaks,
        notes,
        new_major,
    }
}

#[cfg(test)]
mod tests {
    use keyport_wsdl_gen::{Operation, SimpleType};

    use super::*;

    fn field(name: &str, ty: FieldType, min: u32, max: Option<u32>) -> Field {
        Field { name: name.to_owned(), ty, min, max }
    }

    /// A shop's order: `Put` (request) carries lines and an optional note; `PutResponse`
    /// (response) carries a state and the lines back; `Line` is on both sides.
    fn contract() -> Contract {
        let element =
            |name: &str, fields: Vec<Field>| ComplexType { name: name.to_owned(), is_element: true, fields };
        Contract {
            namespace: "urn:t:v1".to_owned(),
            simple_types: vec![SimpleType {
                name: "State".to_owned(),
                values: vec!["open".to_owned(), "closed".to_owned()],
            }],
            complex_types: vec![
                ComplexType {
                    name: "Line".to_owned(),
                    is_element: false,
                    fields: vec![
                        field("sku", FieldType::String, 1, Some(1)),
                        field("quantity", FieldType::Int, 1, Some(1)),
                    ],
                },
                element(
                    "Put",
                    vec![
                        field("line", FieldType::Complex("Line".to_owned()), 1, None),
                        field("note", FieldType::String, 0, Some(1)),
                    ],
                ),
                element(
                    "PutResponse",
                    vec![
                        field("state", FieldType::Enum("State".to_owned()), 1, Some(1)),
                        field("line", FieldType::Complex("Line".to_owned()), 0, None),
                        field("code", FieldType::String, 1, Some(1)),
                    ],
                ),
                element("Fault", vec![field("code", FieldType::String, 1, Some(1))]),
            ],
            operations: vec![Operation {
                name: "Put".to_owned(),
                input: "Put".to_owned(),
                output: "PutResponse".to_owned(),
                soap_action: "urn:t:v1#Put".to_owned(),
                faults: vec!["Fault".to_owned()],
            }],
            endpoints: ["portType P", "binding B", "service S", "port S/P"].map(str::to_owned).to_vec(),
        }
    }

    fn changed(f: impl FnOnce(&mut Contract)) -> Report {
        let mut current = contract();
        f(&mut current);
        compare(&contract(), &current)
    }

    fn ty<'a>(c: &'a mut Contract, name: &str) -> &'a mut ComplexType {
        c.complex_types.iter_mut().find(|t| t.name == name).unwrap_or_else(|| panic!("no {name}"))
    }

    fn broken(report: &Report, what: &str) {
        assert!(!report.passes(), "{report}");
        assert!(
            report.breaks.iter().any(|b| format!("{}: {}", b.at, b.what).contains(what)),
            "{what}: {report}"
        );
    }

    #[test]
    fn the_same_contract_passes() {
        let report = compare(&contract(), &contract());
        assert!(report.passes() && report.breaks.is_empty(), "{report}");
    }

    #[test]
    fn removals_break() {
        broken(&changed(|c| c.operations.clear()), "operation Put: removed");
        broken(
            &changed(|c| drop(ty(c, "PutResponse").fields.remove(2))),
            "element PutResponse: element code removed",
        );
        broken(&changed(|c| drop(ty(c, "Put").fields.remove(1))), "element Put: element note removed");
        broken(&changed(|c| c.complex_types.retain(|t| t.name != "Line")), "type Line: removed");
        broken(&changed(|c| drop(c.simple_types[0].values.pop())), "enum State: value \"closed\" removed");
        broken(&changed(|c| ty(c, "Fault").fields.clear()), "element Fault: element code removed");
        broken(&changed(|c| c.operations[0].faults.clear()), "operation Put: fault Fault removed");
        broken(&changed(|c| c.endpoints[3] = "port S/Q".to_owned()), "port S/P: removed or renamed");
    }

    #[test]
    fn a_changed_type_or_order_breaks() {
        broken(
            &changed(|c| ty(c, "Line").fields[1].ty = FieldType::String),
            "type xsd:int changed to xsd:string",
        );
        broken(&changed(|c| ty(c, "PutResponse").fields.swap(0, 2)), "moved within the sequence");
        broken(&changed(|c| c.operations[0].output = "Other".to_owned()), "messages Put/PutResponse changed");
    }

    #[test]
    fn occurrences_break_by_side() {
        // Optional made required: a request breaks, a response does not.
        broken(&changed(|c| ty(c, "Put").fields[1].min = 1), "optional made required in a request");
        assert!(changed(|c| ty(c, "PutResponse").fields[1].min = 1).breaks.is_empty());
        // Required made optional: a response breaks, a request does not.
        broken(&changed(|c| ty(c, "PutResponse").fields[2].min = 0), "may now be absent");
        assert!(changed(|c| ty(c, "Put").fields[0].min = 0).breaks.is_empty());
        // Fewer allowed in a request, more possible in a response.
        broken(&changed(|c| ty(c, "Put").fields[0].max = Some(10)), "maxOccurs unbounded lowered to 10");
        broken(&changed(|c| ty(c, "PutResponse").fields[0].max = None), "maxOccurs 1 raised to unbounded");
        // Line is on both sides: either change breaks it.
        broken(&changed(|c| ty(c, "Line").fields[0].min = 0), "type Line: element sku: may now be absent");
    }

    #[test]
    fn additions_pass_unless_a_request_must_carry_them() {
        let optional = changed(|c| {
            ty(c, "Put").fields.push(field("coupon", FieldType::String, 0, Some(1)));
            ty(c, "PutResponse").fields.push(field("total", FieldType::Int, 1, Some(1)));
            c.simple_types[0].values.push("archived".to_owned());
            c.operations.push(Operation {
                name: "Get".to_owned(),
                input: "Get".to_owned(),
                output: "GetResponse".to_owned(),
                soap_action: "urn:t:v1#Get".to_owned(),
                faults: vec![],
            });
        });
        assert!(optional.passes() && optional.breaks.is_empty(), "{optional}");
        // What a response gains is named: clients must ignore what they do not know.
        let notes: Vec<String> = optional.notes.iter().map(|n| format!("{}: {}", n.at, n.what)).collect();
        assert_eq!(
            notes,
            [
                "operation Get: added",
                "element PutResponse: element total added to a response",
                "enum State: value \"archived\" added (responses carry it)",
            ],
        );
        broken(
            &changed(|c| ty(c, "Put").fields.push(field("coupon", FieldType::String, 1, Some(1)))),
            "a new required element in a request",
        );
    }

    #[test]
    fn a_break_passes_only_under_a_new_major_version() {
        let report = changed(|c| {
            c.operations.clear();
        });
        assert!(report.to_string().contains("change the namespace to urn:t:v2"), "{report}");
        let next = changed(|c| {
            c.namespace = "urn:t:v2".to_owned();
            c.operations.clear();
        });
        assert!(next.new_major && next.passes() && !next.breaks.is_empty(), "{next}");
        assert!(next.to_string().contains("allowed: urn:t:v2 is a new major version"), "{next}");
        broken(&changed(|c| c.namespace = "urn:other:v1".to_owned()), "namespace: urn:t:v1 changed");
        broken(&changed(|c| c.namespace = "urn:t:v0".to_owned()), "not a new major version");
    }
}
