//! Demo licenses: an item of model `demo` marked for self-service may be requested by a
//! customer, or by the ISV's software on a machine, once per customer and once per machine
//! (fingerprint) per product. The store records each claim under a unique key in the same
//! transaction as the demo, so racing requests give exactly one demo.

use uuid::Uuid;

use crate::catalog::LicenseModel;
use crate::error::{CoreError, ErrorCode};
use crate::text::Email;

/// Who had a demo of a product.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Claimant {
    /// A customer account.
    Customer(Uuid),
    /// A machine, by fingerprint (a second e-mail address on the same PC is the same machine).
    Machine(String),
}

impl Claimant {
    /// The stored key: `customer:<id>` or `machine:<fingerprint>`.
    pub fn key(&self) -> String {
        match self {
            Claimant::Customer(id) => format!("customer:{id}"),
            Claimant::Machine(fingerprint) => format!("machine:{fingerprint}"),
        }
    }
}

/// The claims a demo request makes: the customer's, and the machine's when it comes from one.
pub fn claimants(customer: Uuid, fingerprint: Option<&str>) -> Vec<Claimant> {
    let mut out = vec![Claimant::Customer(customer)];
    out.extend(fingerprint.map(|f| Claimant::Machine(f.to_owned())));
    out
}

/// The ISV's demo settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DemoPolicy {
    /// E-mail domains (and their subdomains) that get no demo, e.g. throw-away mail services.
    pub refused_domains: Vec<String>,
}

impl DemoPolicy {
    /// Whether an address's domain is refused.
    pub fn refuses(&self, email: &Email) -> Option<String> {
        let domain = email.as_str().rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase())?;
        self.refused_domains
            .iter()
            .map(|r| r.trim().trim_start_matches('@').to_ascii_lowercase())
            .find(|r| !r.is_empty() && (domain == *r || domain.ends_with(&format!(".{r}"))))
            .map(|_| domain)
    }
}

/// May `email`'s owner have a demo of `product` (its demo item has `model` and is offered
/// for self-service or not), when `taken` are the claims of this request already on record?
/// Answers the demo's length in days.
pub fn decide_demo(
    product: &str,
    model: LicenseModel,
    self_service: bool,
    email: &Email,
    policy: &DemoPolicy,
    taken: &[Claimant],
) -> Result<u32, CoreError> {
    let days = match model {
        LicenseModel::Demo { days } if self_service => days,
        LicenseModel::Demo { .. } | LicenseModel::Perpetual | LicenseModel::Subscription { .. } => {
            return Err(CoreError::new(ErrorCode::DemoNotOffered).with("product", product));
        }
    };
    if let Some(domain) = policy.refuses(email) {
        return Err(CoreError::new(ErrorCode::DemoDomainRefused).with("domain", domain));
    }
    if !taken.is_empty() {
        return Err(CoreError::new(ErrorCode::DemoAlreadyUsed).with("product", product));
    }
    Ok(days)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;

    fn email(text: &str) -> Email {
        Email::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    const DEMO: LicenseModel = LicenseModel::Demo { days: 30 };

    #[test]
    fn a_self_service_demo_is_given_for_its_days() {
        let got = decide_demo("cad", DEMO, true, &email("a@example.com"), &DemoPolicy::default(), &[]);
        assert_eq!(got, Ok(30));
    }

    #[test]
    fn an_item_not_offered_for_self_service_gives_no_demo() {
        let got = decide_demo("cad", DEMO, false, &email("a@example.com"), &DemoPolicy::default(), &[]);
        assert_eq!(got.err().map(|e| e.message(crate::Lang::En)), Some("No demo of the product 'cad' is offered.".to_owned()));
        let perpetual = decide_demo("cad", LicenseModel::Perpetual, true, &email("a@example.com"), &DemoPolicy::default(), &[]);
        assert_eq!(perpetual.err().map(|e| e.code()), Some(ErrorCode::DemoNotOffered));
    }

    #[test]
    fn a_refused_domain_and_its_subdomains_get_none() {
        let policy = DemoPolicy { refused_domains: vec!["Mailinator.com".to_owned()] };
        for address in ["x@mailinator.com", "x@eu.mailinator.com"] {
            let got = decide_demo("cad", DEMO, true, &email(address), &policy, &[]);
            assert_eq!(got.err().map(|e| e.code()), Some(ErrorCode::DemoDomainRefused), "{address}");
        }
        assert!(decide_demo("cad", DEMO, true, &email("x@notmailinator.com"), &policy, &[]).is_ok());
    }

    proptest! {
        /// Whatever the requests (customers and machines in any mix), no customer and no
        /// machine ever holds two demos of one product.
        #[test]
        fn one_demo_per_customer_and_per_machine(requests in proptest::collection::vec((0u128..6, proptest::option::of(0u8..6)), 1..60)) {
            let mut claimed: HashSet<Claimant> = HashSet::new();
            let mut given: Vec<Vec<Claimant>> = vec![];
            for (customer, machine) in requests {
                let fingerprint = machine.map(|m| format!("fp-{m:016}"));
                let wanted = claimants(Uuid::from_u128(customer), fingerprint.as_deref());
                let taken: Vec<Claimant> = wanted.iter().filter(|c| claimed.contains(c)).cloned().collect();
                if decide_demo("cad", DEMO, true, &email("a@example.com"), &DemoPolicy::default(), &taken).is_ok() {
                    claimed.extend(wanted.iter().cloned());
                    given.push(wanted);
                }
            }
            let all: Vec<&Claimant> = given.iter().flatten().collect();
            let unique: HashSet<&Claimant> = all.iter().copied().collect();
            prop_assert_eq!(all.len(), unique.len());
        }
    }
}
