//! The SOAP 1.1 envelope: reading a request (WS-Security header, one body payload) and
//! writing a response or a fault.

use keyport_core::{CoreError, ErrorCode, FaultSide, Lang};

use crate::contract::{KeyportFault, TARGET_NAMESPACE};
use crate::xml::{self, Element, escape};

/// The SOAP 1.1 envelope namespace.
pub const SOAP_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// The SOAP 1.2 envelope namespace (answered with a VersionMismatch fault).
pub const SOAP12_ENV: &str = "http://www.w3.org/2003/05/soap-envelope";
/// The WS-Security 1.0 namespace.
pub const WSSE: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
const PASSWORD_TEXT: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText";

/// A failure answered with a SOAP fault.
#[derive(Debug, Clone)]
pub struct Fault {
    /// The Keyport error in the detail.
    pub error: CoreError,
    /// `VersionMismatch` or `MustUnderstand` instead of Client/Server, where SOAP says so.
    pub special: Option<&'static str>,
}

impl From<CoreError> for Fault {
    fn from(error: CoreError) -> Self {
        Fault { error, special: None }
    }
}

/// A malformed request: a Client fault with `malformed_request`.
pub fn malformed(reason: impl std::fmt::Display) -> Fault {
    CoreError::new(ErrorCode::MalformedRequest).with("reason", reason).into()
}

/// A request that was read: its credentials and its one payload element.
#[derive(Debug)]
pub struct Request {
    /// The API key from WS-Security UsernameToken's password, if given.
    pub ws_password: Option<String>,
    /// The body's payload element.
    pub payload: Element,
}

/// Reads an envelope.
pub fn read(text: &str) -> Result<Request, Fault> {
    let root = xml::parse(text).map_err(malformed)?;
    if root.is(SOAP12_ENV, "Envelope") {
        return Err(Fault { special: Some("VersionMismatch"), ..malformed("this service speaks SOAP 1.1") });
    }
    if !root.is(SOAP_ENV, "Envelope") {
        return Err(malformed(format!("the root element must be Envelope in the namespace {SOAP_ENV}")));
    }
    let mut header = None;
    let mut body = None;
    for child in &root.children {
        match (child.ns.as_deref(), child.name.as_str()) {
            (Some(SOAP_ENV), "Header") if header.is_none() && body.is_none() => header = Some(child),
            (Some(SOAP_ENV), "Body") if body.is_none() => body = Some(child),
            _ => return Err(malformed(format!("the envelope holds an unexpected element {}", child.name))),
        }
    }
    let body = body.ok_or_else(|| malformed("the envelope has no Body"))?;
    let ws_password = match header {
        Some(h) => security(h)?,
        None => None,
    };
    let mut payloads = body.children.iter();
    let payload = payloads.next().ok_or_else(|| malformed("the Body is empty"))?;
    if payloads.next().is_some() {
        return Err(malformed("the Body must hold exactly one element"));
    }
    if payload.ns.as_deref() != Some(TARGET_NAMESPACE) {
        return Err(malformed(format!(
            "the payload {} must be in the namespace {TARGET_NAMESPACE}",
            payload.name
        )));
    }
    Ok(Request { ws_password, payload: payload.clone() })
}

/// The password of a WS-Security UsernameToken; other header blocks that must be
/// understood are refused.
fn security(header: &Element) -> Result<Option<String>, Fault> {
    let mut password = None;
    for block in &header.children {
        if block.is(WSSE, "Security") {
            let token = block
                .children
                .iter()
                .find(|c| c.is(WSSE, "UsernameToken"))
                .ok_or_else(|| unauthorized("the Security header has no UsernameToken"))?;
            let field = token.children.iter().find(|c| c.is(WSSE, "Password"));
            let field = field.ok_or_else(|| unauthorized("the UsernameToken has no Password"))?;
            if field.attribute("Type").is_some_and(|t| t != PASSWORD_TEXT) {
                return Err(unauthorized("only PasswordText is supported"));
            }
            password = Some(field.text.trim().to_owned());
        } else if block.attribute("mustUnderstand").is_some_and(|v| v == "1" || v == "true") {
            return Err(Fault {
                special: Some("MustUnderstand"),
                ..malformed(format!("the header block {} is not understood", block.name))
            });
        }
    }
    Ok(password)
}

fn unauthorized(why: &str) -> Fault {
    tracing::debug!(why, "SOAP authentication refused");
    CoreError::new(ErrorCode::Unauthorized).into()
}

/// A response envelope around a serialized payload.
pub fn response(payload: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soap:Envelope xmlns:soap=\"{SOAP_ENV}\"><soap:Body>{payload}</soap:Body></soap:Envelope>"
    )
}

/// A fault envelope: `faultcode` Client or Server (or the SOAP-specific code), the message as
/// `faultstring`, and a `KeyportFault` detail with the stable code and the facts.
pub fn fault(fault: &Fault, lang: Lang) -> String {
    let error = &fault.error;
    let code = fault.special.unwrap_or(match error.code().fault_side() {
        FaultSide::Client => "Client",
        FaultSide::Server => "Server",
    });
    let detail = KeyportFault {
        code: error.code().as_str().to_owned(),
        message: error.message(lang),
        fact: error
            .facts()
            .iter()
            .map(|(name, value)| crate::contract::Fact { name: (*name).to_owned(), value: value.clone() })
            .collect(),
    };
    // Written by hand when the serializer fails, so the caller always gets the code.
    let detail = crate::to_xml(&detail).unwrap_or_else(|e| {
        tracing::error!(error = %e, "a fault detail could not be written");
        format!(
            "<tns:KeyportFault xmlns:tns=\"urn:keyport:soap:v1\"><tns:code>{}</tns:code><tns:message>{}</tns:message></tns:KeyportFault>",
            escape(error.code().as_str()),
            escape(&error.message(lang))
        )
    });
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soap:Envelope xmlns:soap=\"{SOAP_ENV}\"><soap:Body><soap:Fault>\
         <faultcode>soap:{code}</faultcode><faultstring>{}</faultstring><detail>{detail}</detail>\
         </soap:Fault></soap:Body></soap:Envelope>",
        escape(&error.message(lang))
    )
}
