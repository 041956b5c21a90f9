//! The SOAP façade over real HTTP: every operation against golden files and the XSD, and
//! every kind of bad input answered with a Client fault.

use std::path::{Path, PathBuf};
use std::process::Command;

use keyport_core::Role;
use keyport_tests::Fixture;
use keyport_tests::http::{Api, World, api_key, block_on};

const NS: &str = "urn:keyport:soap:v1";
const WSSE: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";

fn envelope(key: Option<&str>, body: &str) -> String {
    let header = key.map_or(String::new(), |k| {
        format!(
            "<soapenv:Header><wsse:Security xmlns:wsse=\"{WSSE}\"><wsse:UsernameToken>\
             <wsse:Username>shop</wsse:Username><wsse:Password>{k}</wsse:Password>\
             </wsse:UsernameToken></wsse:Security></soapenv:Header>"
        )
    });
    format!(
        "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:k=\"{NS}\">\
         {header}<soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"
    )
}

async fn post(api: &Api, text: String) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(format!("{}/soap", api.base))
        .header("Content-Type", "text/xml; charset=utf-8")
        .body(text)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

pub(crate) async fn call(api: &Api, key: &str, body: &str) -> (u16, String) {
    post(api, envelope(Some(key), body)).await
}

/// The text of the first element with this local name.
pub(crate) fn field(xml: &str, name: &str) -> String {
    let open = format!("<tns:{name}>");
    let start = xml.find(&open).map(|i| i + open.len()).unwrap_or_else(|| panic!("no {name} in {xml}"));
    let end = xml[start..].find("</").map(|i| start + i).unwrap();
    xml[start..end].to_owned()
}

fn fault_code(xml: &str) -> String {
    field(xml, "code")
}

/// The schema of the WSDL as a stand-alone XSD file.
fn schema_file(dir: &Path) -> PathBuf {
    let wsdl = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../wsdl/keyport.wsdl")).unwrap();
    let start = wsdl.find("<xsd:schema").unwrap();
    let end = wsdl.find("</xsd:schema>").unwrap() + "</xsd:schema>".len();
    let schema = wsdl[start..end].replacen(
        "<xsd:schema",
        &format!("<xsd:schema xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:tns=\"{NS}\""),
        1,
    );
    let path = dir.join("keyport.xsd");
    std::fs::write(&path, schema).unwrap();
    path
}

/// The payload of a response (or the detail of a fault), validated with xmllint against the
/// contract's XSD.
fn assert_valid(xml: &str, dir: &Path) {
    let start = xml.find("<tns:").unwrap_or_else(|| panic!("no payload in {xml}"));
    let end = xml.rfind("</tns:").unwrap();
    let close = xml[end..].find('>').unwrap() + end + 1;
    let payload = dir.join("payload.xml");
    std::fs::write(&payload, &xml[start..close]).unwrap();
    let out = Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(schema_file(dir))
        .arg(&payload)
        .output()
        .unwrap_or_else(|e| panic!("xmllint (Debian package libxml2-utils) must be installed: {e}"));
    assert!(
        out.status.success(),
        "not valid against the XSD:\n{}\n{xml}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Replaces what changes from run to run: ids, times, ticket codes, keys and fingerprints.
fn normalize(xml: &str) -> String {
    let mut out = String::new();
    let mut rest = xml;
    while let Some(open) = rest.find('>') {
        out.push_str(&rest[..=open]);
        rest = &rest[open + 1..];
        let Some(close) = rest.find('<') else { break };
        let text = rest[..close].trim();
        let shown = if uuid::Uuid::parse_str(text).is_ok() {
            "{id}"
        } else if chrono::DateTime::parse_from_rfc3339(text).is_ok() {
            "{time}"
        } else if keyport_core::TicketCode::parse(text).is_ok() && text.len() == 29 {
            "{ticket}"
        } else {
            text
        };
        out.push_str(shown);
        rest = &rest[close..];
    }
    out.push_str(rest);
    out.split_whitespace().collect::<Vec<_>>().join(" ").replace("> <", "><")
}

/// Compares an answer with `tests/golden/soap/<name>.xml` (normalized, whitespace ignored).
/// `KEYPORT_UPDATE_GOLDEN=1` writes the files.
fn assert_golden(name: &str, xml: &str) {
    let path = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/golden/soap")).join(format!("{name}.xml"));
    let actual = normalize(xml);
    if std::env::var_os("KEYPORT_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual.replace("><", ">\n<") + "\n").unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("{} is missing", path.display()));
    assert_eq!(
        normalize(&expected),
        actual,
        "{name} differs from {}; regenerate with KEYPORT_UPDATE_GOLDEN=1 if the change is intended",
        path.display()
    );
}

#[test]
fn every_operation_answers_as_its_golden_file_and_the_xsd_say() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let dir = tempfile::tempdir().unwrap();
            let shop = api_key(f, Role::Shop);
            let support = api_key(f, Role::Support);
            let sub = f.item(keyport_core::LicenseModel::Subscription { days: 30 }, keyport_tests::rules());
            let check = |name: &str, xml: &str| {
                assert_valid(xml, dir.path());
                assert_golden(name, xml);
            };

            let (status, created) = call(&api, &shop, "<k:CreateCustomer><k:email>carl@example.com</k:email><k:name>Carl</k:name><k:customerNumber>K-7</k:customerNumber></k:CreateCustomer>").await;
            assert_eq!(status, 200, "{created}");
            check("CreateCustomer", &created);
            let carl = field(&created, "id");

            let order = format!(
                "<k:CreateOrder><k:shop>webshop</k:shop><k:externalOrderNumber>G-1</k:externalOrderNumber><k:customerNumber>K-7</k:customerNumber><k:line><k:lineNumber>1</k:lineNumber><k:sku>{sub}</k:sku><k:quantity>1</k:quantity></k:line></k:CreateOrder>"
            );
            let (_, first) = call(&api, &shop, &order).await;
            check("CreateOrder", &first);
            let ticket = field(&first, "ticketCode");
            let license = field(&first, "licenseId");
            let (_, again) = call(&api, &shop, &order).await;
            assert_eq!(field(&again, "created"), "false");
            assert_eq!(field(&again, "ticketCode"), ticket, "the same order gives the same ticket");

            let (_, got) = call(&api, &shop, "<k:GetOrder><k:shop>webshop</k:shop><k:externalOrderNumber>G-1</k:externalOrderNumber></k:GetOrder>").await;
            check("GetOrder", &got);
            let (_, t) = call(
                &api,
                &shop,
                &format!("<k:GetTicket><k:ticketCode>{ticket}</k:ticketCode></k:GetTicket>"),
            )
            .await;
            check("GetTicket", &t);
            let (_, list) = call(&api, &support, &format!("<k:ListCustomerLicenses><k:customerId>{carl}</k:customerId><k:state>inactive</k:state></k:ListCustomerLicenses>")).await;
            check("ListCustomerLicenses", &list);
            let (_, renewed) = call(
                &api,
                &shop,
                &format!("<k:RenewSubscription><k:licenseId>{license}</k:licenseId></k:RenewSubscription>"),
            )
            .await;
            check("RenewSubscription", &renewed);
            let (_, found) =
                call(&api, &shop, "<k:GetCustomer><k:email>CARL@example.com</k:email></k:GetCustomer>").await;
            check("GetCustomer", &found);
            let (_, updated) = call(&api, &shop, &format!("<k:UpdateCustomer><k:customerId>{carl}</k:customerId><k:name>Carl C.</k:name></k:UpdateCustomer>")).await;
            check("UpdateCustomer", &updated);
            let (_, assigned) = call(&api, &shop, &format!("<k:AssignTicket><k:ticketCode>{}</k:ticketCode><k:customerId>{}</k:customerId></k:AssignTicket>", w.a.ticket_code, w.a.id)).await;
            check("AssignTicket", &assigned);
            let (_, granted) = call(&api, &support, &format!("<k:GrantReactivationCredits><k:licenseId>{}</k:licenseId><k:amount>2</k:amount><k:reason>goodwill</k:reason></k:GrantReactivationCredits>", w.a.license)).await;
            check("GrantReactivationCredits", &granted);
            let (_, revoked) = call(&api, &support, &format!("<k:RevokeLicense><k:licenseId>{}</k:licenseId><k:reason>chargeback</k:reason></k:RevokeLicense>", w.b.license)).await;
            check("RevokeLicense", &revoked);
            let demo = f.item(keyport_core::LicenseModel::Demo { days: 30 }, keyport_tests::rules());
            let (status, given) = call(&api, &shop, &format!("<k:CreateDemoLicense><k:productCode>{}</k:productCode><k:customerEmail>carl@example.com</k:customerEmail></k:CreateDemoLicense>", demo.to_lowercase())).await;
            assert_eq!(status, 200, "{given}");
            check("CreateDemoLicense", &given);
            let (status, twice) = call(&api, &shop, &format!("<k:CreateDemoLicense><k:productCode>{}</k:productCode><k:customerEmail>carl@example.com</k:customerEmail></k:CreateDemoLicense>", demo.to_lowercase())).await;
            assert_eq!(status, 200, "a shop's retry answers the same demo: {twice}");
            assert_eq!(field(&twice, "code"), field(&given, "code"));
            let (_, cancelled) = call(&api, &shop, "<k:CancelOrder><k:shop>webshop</k:shop><k:externalOrderNumber>G-1</k:externalOrderNumber><k:reason>refund</k:reason></k:CancelOrder>").await;
            check("CancelOrder", &cancelled);
            assert_eq!(field(&cancelled, "state"), "revoked");

            let (status, fault) = call(
                &api,
                &shop,
                "<k:GetTicket><k:ticketCode>AAAAA-AAAAA-AAAAA-AAAAA-AAAAA</k:ticketCode></k:GetTicket>",
            )
            .await;
            assert_eq!(status, 500);
            check("Fault", &fault);

            // Every change was recorded with channel soap.
            let log = api.get(&format!("/api/v1/events?license_id={license}"), Some(&w.admin)).await;
            let channels: Vec<&str> = log.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["channel"].as_str().unwrap())
                .collect();
            assert!(!channels.is_empty() && channels.iter().all(|c| *c == "soap"), "{channels:?}");
        });
    });
}

/// (what is wrong, the request, the error code in the fault's detail).
fn bad_requests(key: &str) -> Vec<(&'static str, String, &'static str)> {
    let ok_body = "<k:GetOrder><k:shop>webshop</k:shop><k:externalOrderNumber>W-anna@example.com</k:externalOrderNumber></k:GetOrder>";
    vec![
        ("malformed XML", envelope(Some(key), "<k:GetOrder><k:shop>x</k:GetOrder>"), "malformed_request"),
        (
            "a DTD with an external entity",
            format!("<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>{}", envelope(Some(key), ok_body)),
            "malformed_request",
        ),
        (
            "an entity bomb",
            format!("<!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">]>{}", envelope(Some(key), ok_body)),
            "malformed_request",
        ),
        (
            "a payload in the wrong namespace",
            envelope(Some(key), "<x:GetOrder xmlns:x=\"urn:other\"><x:shop>webshop</x:shop><x:externalOrderNumber>1</x:externalOrderNumber></x:GetOrder>"),
            "malformed_request",
        ),
        ("an unknown operation", envelope(Some(key), "<k:DeleteEverything/>"), "malformed_request"),
        ("a missing element", envelope(Some(key), "<k:GetOrder><k:shop>webshop</k:shop></k:GetOrder>"), "malformed_request"),
        (
            "an extra element",
            envelope(Some(key), "<k:GetOrder><k:shop>webshop</k:shop><k:externalOrderNumber>1</k:externalOrderNumber><k:color>red</k:color></k:GetOrder>"),
            "malformed_request",
        ),
        (
            "elements out of order",
            envelope(Some(key), "<k:GetOrder><k:externalOrderNumber>1</k:externalOrderNumber><k:shop>webshop</k:shop></k:GetOrder>"),
            "malformed_request",
        ),
        (
            "an unknown enumeration value",
            envelope(Some(key), "<k:ListCustomerLicenses><k:customerId>00000000-0000-0000-0000-000000000000</k:customerId><k:state>borrowed</k:state></k:ListCustomerLicenses>"),
            "malformed_request",
        ),
        (
            "a number that is not one",
            envelope(Some(key), "<k:CreateOrder><k:shop>w</k:shop><k:externalOrderNumber>1</k:externalOrderNumber><k:line><k:lineNumber>one</k:lineNumber><k:sku>X</k:sku><k:quantity>1</k:quantity></k:line></k:CreateOrder>"),
            "malformed_request",
        ),
        (
            "a NUL written as a character reference",
            envelope(Some(key), "<k:GetOrder><k:shop>web&#0;shop</k:shop><k:externalOrderNumber>1</k:externalOrderNumber></k:GetOrder>"),
            "malformed_request",
        ),
        (
            "a control character written as a character reference",
            envelope(Some(key), "<k:GetOrder><k:shop>web&#1;shop</k:shop><k:externalOrderNumber>1</k:externalOrderNumber></k:GetOrder>"),
            "malformed_request",
        ),
        (
            "a raw control character",
            envelope(Some(key), "<k:GetOrder><k:shop>web\u{1}shop</k:shop><k:externalOrderNumber>1</k:externalOrderNumber></k:GetOrder>"),
            "malformed_request",
        ),
        (
            "text far longer than any field",
            envelope(Some(key), &format!("<k:GetOrder><k:shop>webshop</k:shop><k:externalOrderNumber>{}</k:externalOrderNumber></k:GetOrder>", "9".repeat(20_000))),
            "malformed_request",
        ),
        (
            "more namespace bindings than allowed",
            envelope(Some(key), &format!("<k:GetOrder {}><k:shop>webshop</k:shop><k:externalOrderNumber>1</k:externalOrderNumber></k:GetOrder>", (0..300).map(|n| format!("xmlns:n{n}=\"urn:n{n}\"")).collect::<Vec<_>>().join(" "))),
            "malformed_request",
        ),
        ("no security header", envelope(None, ok_body), "unauthorized"),
        ("a wrong password", envelope(Some("kp_wrong"), ok_body), "unauthorized"),
        ("SOAP 1.2", ok_body.replace("<k:GetOrder>", "<e:Envelope xmlns:e=\"http://www.w3.org/2003/05/soap-envelope\"><e:Body><k:GetOrder xmlns:k=\"urn:keyport:soap:v1\">").replace("</k:GetOrder>", "</k:GetOrder></e:Body></e:Envelope>"), "malformed_request"),
        (
            "a body over the limit",
            envelope(Some(key), &format!("<k:GetOrder><k:shop>{}</k:shop><k:externalOrderNumber>1</k:externalOrderNumber></k:GetOrder>", "x".repeat(600_000))),
            "payload_too_large",
        ),
    ]
}

#[test]
fn every_kind_of_bad_input_gets_a_client_fault_with_its_code_and_changes_nothing() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let dir = tempfile::tempdir().unwrap();
            let before = api.get("/api/v1/events?limit=500", Some(&w.admin)).await.body["items"]
                .as_array()
                .unwrap()
                .len();
            for (what, request, code) in bad_requests(&w.shop) {
                let (status, answer) = post(&api, request).await;
                assert_eq!(status, 500, "{what}: {answer}");
                let expected_side = if what == "SOAP 1.2" { "soap:VersionMismatch" } else { "soap:Client" };
                assert!(
                    answer.contains(&format!("<faultcode>{expected_side}</faultcode>")),
                    "{what}: {answer}"
                );
                assert_eq!(fault_code(&answer), code, "{what}: {answer}");
                assert!(
                    !answer.contains("::") && !answer.contains("set_max"),
                    "{what}: a library's words: {answer}"
                );
                assert_valid(&answer, dir.path());
            }
            let after = api.get("/api/v1/events?limit=500", Some(&w.admin)).await.body["items"]
                .as_array()
                .unwrap()
                .len();
            assert_eq!(before, after, "no bad request wrote anything");
            // The good request the bad ones were made from works.
            let (status, ok) = call(&api, &w.shop, "<k:GetOrder><k:shop>webshop</k:shop><k:externalOrderNumber>W-anna@example.com</k:externalOrderNumber></k:GetOrder>").await;
            assert_eq!(status, 200, "{ok}");
        });
    });
}

#[test]
fn http_basic_works_as_well_and_roles_are_enforced() {
    Fixture::each(|f| {
        block_on(async {
            let api = Api::spawn(f);
            let w = World::build(f, &api).await;
            let body = envelope(
                None,
                "<k:RevokeLicense><k:licenseId>00000000-0000-0000-0000-000000000000</k:licenseId><k:reason>x</k:reason></k:RevokeLicense>",
            );
            let send = |key: String| {
                let (base, body) = (api.base.clone(), body.clone());
                async move {
                    let r = reqwest::Client::new()
                        .post(format!("{base}/soap"))
                        .basic_auth("erp", Some(key))
                        .header("Content-Type", "text/xml")
                        .body(body)
                        .send()
                        .await
                        .unwrap();
                    r.text().await.unwrap()
                }
            };
            assert_eq!(fault_code(&send(w.shop.clone()).await), "forbidden", "a shop may not revoke");
            assert_eq!(
                fault_code(&send(w.support.clone()).await),
                "not_found",
                "support may; the license is unknown"
            );
            let german = reqwest::Client::new()
                .post(format!("{}/soap", api.base))
                .basic_auth("erp", Some(&w.support))
                .header("Accept-Language", "de")
                .body(body.clone())
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert!(
                german.contains("<faultstring>Es wurde kein(e) Lizenz gefunden.</faultstring>"),
                "{german}"
            );
            let wsdl = reqwest::get(format!("{}/soap?wsdl", api.base)).await.unwrap().text().await.unwrap();
            assert!(
                wsdl.contains(&format!("<soap:address location=\"{}/soap\"/>", api.base)),
                "the WSDL names this server"
            );
        });
    });
}
