//! The real contracts: today's WSDL against the released one, and deliberately broken
//! copies of today's, through the `keyport-contracts` binary as the test command runs it.

#![expect(clippy::unwrap_used, reason = "test helpers: a panic is the failure report")]

use std::process::Command;

const CURRENT: &str = include_str!("../../../wsdl/keyport.wsdl");
const RELEASED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../contracts/released/keyport.wsdl");

/// Runs the check of `current` against the released WSDL: (exit code, output).
fn check(current: &str) -> (i32, String) {
    let dir = std::env::temp_dir().join(format!("keyport-contracts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{:x}.wsdl", fxhash(current)));
    std::fs::write(&file, current).unwrap();
    let out =
        Command::new(env!("CARGO_BIN_EXE_keyport-contracts")).arg(RELEASED).arg(&file).output().unwrap();
    let _ = std::fs::remove_file(&file);
    (
        out.status.code().unwrap_or(-1),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

fn fxhash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// Today's WSDL with `from` replaced by `to` (exactly once).
fn edited(edits: &[(&str, &str)]) -> String {
    let mut text = CURRENT.to_owned();
    for (from, to) in edits {
        assert_eq!(text.matches(from).count(), 1, "{from} is in the WSDL once");
        text = text.replacen(from, to, 1);
    }
    text
}

fn assert_breaks(current: &str, what: &str) {
    let (code, out) = check(current);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(what), "{what}: {out}");
    assert!(out.contains("change the namespace to urn:keyport:soap:v2"), "{out}");
}

#[test]
fn todays_wsdl_is_compatible_with_the_released_one() {
    let (code, out) = check(CURRENT);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("compatible"), "{out}");
}

#[test]
fn a_removed_operation_breaks() {
    let portless = edited(&[(
        "<wsdl:operation name=\"RevokeLicense\"><soap:operation soapAction=\"urn:keyport:soap:v1#RevokeLicense\"/><wsdl:input><soap:body use=\"literal\"/></wsdl:input><wsdl:output><soap:body use=\"literal\"/></wsdl:output><wsdl:fault name=\"KeyportFault\"><soap:fault name=\"KeyportFault\" use=\"literal\"/></wsdl:fault></wsdl:operation>",
        "",
    )]);
    let start = portless.find("<wsdl:operation name=\"RevokeLicense\">").unwrap();
    let end = start + portless[start..].find("</wsdl:operation>").unwrap() + "</wsdl:operation>".len();
    let removed = format!("{}{}", &portless[..start], &portless[end..]);
    assert_breaks(&removed, "operation RevokeLicense: removed");
}

#[test]
fn a_removed_response_element_breaks() {
    assert_breaks(
        &edited(&[("          <xsd:element name=\"seatsInUse\" type=\"xsd:int\"/>\n", "")]),
        "type License: element seatsInUse removed",
    );
}

#[test]
fn a_removed_enumeration_value_breaks() {
    assert_breaks(
        &edited(&[("          <xsd:enumeration value=\"deactivated\"/>\n", "")]),
        "value \"deactivated\" removed",
    );
}

#[test]
fn an_optional_request_element_made_required_breaks() {
    assert_breaks(
        &edited(&[(
            "<xsd:element name=\"customerNumber\" type=\"xsd:string\" minOccurs=\"0\"/>\n            <xsd:element name=\"line\" type=\"tns:OrderLine\" maxOccurs=\"unbounded\"/>",
            "<xsd:element name=\"customerNumber\" type=\"xsd:string\"/>\n            <xsd:element name=\"line\" type=\"tns:OrderLine\" maxOccurs=\"unbounded\"/>",
        )]),
        "element CreateOrder: element customerNumber: optional made required in a request",
    );
}

#[test]
fn a_narrowed_type_breaks() {
    assert_breaks(
        &edited(&[(
            "          <xsd:element name=\"reactivationCredits\" type=\"xsd:int\"/>\n",
            "          <xsd:element name=\"reactivationCredits\" type=\"xsd:boolean\"/>\n",
        )]),
        "element reactivationCredits: type xsd:int changed to xsd:boolean",
    );
}

#[test]
fn additions_pass() {
    let added = edited(&[
        (
            "          <xsd:element name=\"seatsInUse\" type=\"xsd:int\"/>\n",
            "          <xsd:element name=\"seatsInUse\" type=\"xsd:int\"/>\n          <xsd:element name=\"seatsFree\" type=\"xsd:int\"/>\n",
        ),
        (
            "          <xsd:enumeration value=\"deactivated\"/>\n",
            "          <xsd:enumeration value=\"deactivated\"/>\n          <xsd:enumeration value=\"parked\"/>\n",
        ),
    ]);
    let (code, out) = check(&added);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn a_break_under_a_new_major_version_passes_and_says_so() {
    let next = edited(&[("          <xsd:element name=\"seatsInUse\" type=\"xsd:int\"/>\n", "")])
        .replace("urn:keyport:soap:v1", "urn:keyport:soap:v2");
    let (code, out) = check(&next);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("allowed: urn:keyport:soap:v2 is a new major version of urn:keyport:soap:v1"),
        "{out}"
    );
}

#[test]
fn an_unreadable_file_is_exit_code_2() {
    let (code, out) = check("<not-a-wsdl/>");
    assert_eq!(code, 2, "{out}");
}

/// The release a document names: the WSDL's `release X.Y.Z`, the OpenAPI `info.version`.
fn release_in(text: &str, marker: &str) -> String {
    let start = text.find(marker).unwrap_or_else(|| panic!("{marker} is in the document")) + marker.len();
    text[start..].chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect()
}

fn version(text: &str) -> Vec<u32> {
    text.trim().split('.').map(|n| n.parse().unwrap()).collect()
}

#[test]
fn both_documents_carry_this_release_and_it_follows_the_released_one() {
    let release = env!("CARGO_PKG_VERSION");
    assert_eq!(release_in(CURRENT, "Keyport SOAP contract, release "), release);
    let openapi = include_str!("../../../openapi/openapi.json");
    let info = &openapi[openapi.find("\"info\"").unwrap()..];
    assert_eq!(release_in(info, "\"version\": \""), release);
    let released = include_str!("../../../contracts/released/RELEASE");
    assert!(version(released) <= version(release), "{released} is not newer than {release}");
}
