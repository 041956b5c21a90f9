//! Demo licenses: an item of model `demo` marked for self-service may be requested by a
//! customer, by a shop for a customer, or by the ISV's software on a machine for an e-mail
//! address: once per customer, once per address and once per machine (fingerprint) per
//! product. The store records each claim under a unique key in the same transaction as the
//! demo, so racing requests give exactly one demo. A demo license activated later on another
//! machine claims that machine too.
//!
//! The machine limit is as strong as the fingerprint: the client computes it from the
//! machine's stable identifiers, so someone who changes those gets a new machine.

use uuid::Uuid;

use crate::catalog::LicenseModel;
use crate::error::{CoreError, ErrorCode};
use crate::text::Email;

/// Who had a demo of a product.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Claimant {
    /// A customer account.
    Customer(Uuid),
    /// An e-mail address (lower case).
    Email(String),
    /// A machine, by fingerprint (a second e-mail address on the same PC is the same machine).
    Machine(String),
}

impl Claimant {
    /// The stored key: `customer:<id>` or `machine:<fingerprint>`.
    pub fn key(&self) -> String {
        match self {
            Claimant::Customer(id) => format!("customer:{id}"),
            Claimant::Email(address) => format!("email:{}", address.to_lowercase()),
            Claimant::Machine(fingerprint) => format!("machine:{fingerprint}"),
        }
    }
}

/// The claims a demo request makes: the account's and its confirmed address's (a request
/// for an account), and the machine's (a request from one). The software's request for an
/// address nobody has confirmed claims only its machine: claiming the address would let
/// anyone use up someone else's demo.
pub fn claimants(account: Option<(Uuid, &Email)>, fingerprint: Option<&str>) -> Vec<Claimant> {
    let mut out: Vec<Claimant> = Vec::new();
    if let Some((customer, email)) = account {
        out.push(Claimant::Customer(customer));
        out.push(Claimant::Email(email.as_str().to_owned()));
    }
    out.extend(fingerprint.map(|f| Claimant::Machine(f.to_owned())));
    out
}

/// The claims a purchase by this customer converts: their account's and their address's.
pub fn conversion_claimants(customer: Uuid, email: &Email) -> Vec<Claimant> {
    vec![Claimant::Customer(customer), Claimant::Email(email.as_str().to_owned())]
}

/// What a demo request comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoDecision {
    /// A new demo of this many days.
    Give(u32),
    /// The same request again (a shop's retry): its demo license, unchanged.
    Again(Uuid),
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
/// for self-service or not), when `taken` are the claims of this request already on record,
/// each with its demo license? With `repeatable` (a shop, which retries), a request whose
/// claims all name one demo is answered with that demo again.
pub fn decide_demo(
    product: &str,
    model: LicenseModel,
    self_service: bool,
    email: &Email,
    policy: &DemoPolicy,
    (taken, repeatable): (&[(Claimant, Uuid)], bool),
) -> Result<DemoDecision, CoreError> {
    let days = match model {
        LicenseModel::Demo { days } if self_service => days,
        LicenseModel::Demo { .. } | LicenseModel::Perpetual | LicenseModel::Subscription { .. } => {
            return Err(CoreError::new(ErrorCode::DemoNotOffered).with("product", product));
        }
    };
    if let Some(domain) = policy.refuses(email) {
        return Err(CoreError::new(ErrorCode::DemoDomainRefused).with("domain", domain));
    }
    match taken.first() {
        None => Ok(DemoDecision::Give(days)),
        // The same customer asking again: only their own demo is answered again.
        Some((_, license))
            if repeatable
                && taken.iter().all(|(_, l)| l == license)
                && taken.iter().any(|(c, _)| matches!(c, Claimant::Customer(_))) =>
        {
            Ok(DemoDecision::Again(*license))
        }
        Some(_) => Err(CoreError::new(ErrorCode::DemoAlreadyUsed).with("product", product)),
    }
}

/// A demo license of `product` is activated on a machine whose fingerprint claimed a demo
/// of it for `claimed_for` (if any): the machine's own demo is fine (`false`: nothing to
/// record), another demo license is `demo_already_used`, and a machine without a claim is
/// claimed now (`true`).
pub fn decide_machine_claim(
    product: &str,
    claimed_for: Option<Uuid>,
    license: Uuid,
) -> Result<bool, CoreError> {
    match claimed_for {
        None => Ok(true),
        Some(owner) if owner == license => Ok(false),
        Some(_) => Err(CoreError::new(ErrorCode::DemoAlreadyUsed).with("product", product)),
    }
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
        let got =
            decide_demo("cad", DEMO, true, &email("a@example.com"), &DemoPolicy::default(), (&[], false));
        assert_eq!(got, Ok(DemoDecision::Give(30)));
    }

    #[test]
    fn an_item_not_offered_for_self_service_gives_no_demo() {
        let got =
            decide_demo("cad", DEMO, false, &email("a@example.com"), &DemoPolicy::default(), (&[], false));
        assert_eq!(
            got.err().map(|e| e.message(crate::Lang::En)),
            Some("No demo of the product 'cad' is offered.".to_owned())
        );
        let perpetual = decide_demo(
            "cad",
            LicenseModel::Perpetual,
            true,
            &email("a@example.com"),
            &DemoPolicy::default(),
            (&[], false),
        );
        assert_eq!(perpetual.err().map(|e| e.code()), Some(ErrorCode::DemoNotOffered));
    }

    #[test]
    fn a_shop_repeating_its_request_gets_the_same_demo_and_a_second_machine_is_claimed() {
        let license = Uuid::from_u128(7);
        let address = email("a@example.com");
        let taken = [
            (Claimant::Customer(Uuid::nil()), license),
            (Claimant::Email("a@example.com".to_owned()), license),
        ];
        let again = decide_demo("cad", DEMO, true, &address, &DemoPolicy::default(), (&taken, true));
        assert_eq!(again, Ok(DemoDecision::Again(license)));
        let software = decide_demo("cad", DEMO, true, &address, &DemoPolicy::default(), (&taken, false));
        assert_eq!(software.err().map(|e| e.code()), Some(ErrorCode::DemoAlreadyUsed));
        // A shop naming an address whose demo someone else's account holds gets no ticket.
        let foreign = [(Claimant::Email("a@example.com".to_owned()), license)];
        let shop = decide_demo("cad", DEMO, true, &address, &DemoPolicy::default(), (&foreign, true));
        assert_eq!(shop.err().map(|e| e.code()), Some(ErrorCode::DemoAlreadyUsed));
        assert_eq!(claimants(None, Some("fp")), vec![Claimant::Machine("fp".to_owned())]);
        assert_eq!(decide_machine_claim("cad", None, license), Ok(true));
        assert_eq!(decide_machine_claim("cad", Some(license), license), Ok(false));
        let other = decide_machine_claim("cad", Some(Uuid::from_u128(8)), license);
        assert_eq!(other.err().map(|e| e.code()), Some(ErrorCode::DemoAlreadyUsed));
    }

    #[test]
    fn a_refused_domain_and_its_subdomains_get_none() {
        let policy = DemoPolicy { refused_domains: vec!["Mailinator.com".to_owned()] };
        for address in ["x@mailinator.com", "x@eu.mailinator.com"] {
            let got = decide_demo("cad", DEMO, true, &email(address), &policy, (&[], false));
            assert_eq!(got.err().map(|e| e.code()), Some(ErrorCode::DemoDomainRefused), "{address}");
        }
        assert!(decide_demo("cad", DEMO, true, &email("x@notmailinator.com"), &policy, (&[], false)).is_ok());
    }

    proptest! {
        /// Whatever the requests (customers and machines in any mix), no customer and no
        /// machine ever holds two demos of one product.
        #[test]
        fn one_demo_per_customer_and_per_machine(requests in proptest::collection::vec((0u128..6, proptest::option::of(0u8..6)), 1..60)) {
            let mut claimed: std::collections::HashMap<Claimant, Uuid> = std::collections::HashMap::new();
            let mut given: Vec<Vec<Claimant>> = vec![];
            for (n, (customer, machine)) in requests.into_iter().enumerate() {
                let fingerprint = machine.map(|m| format!("fp-{m:016}"));
                let address = email(&format!("user{customer}@example.com"));
                let wanted = claimants(Some((Uuid::from_u128(customer), &address)), fingerprint.as_deref());
                let taken: Vec<(Claimant, Uuid)> =
                    wanted.iter().filter_map(|c| claimed.get(c).map(|l| (c.clone(), *l))).collect();
                let decided = decide_demo("cad", DEMO, true, &address, &DemoPolicy::default(), (&taken, n % 2 == 0));
                if decided == Ok(DemoDecision::Give(30)) {
                    let license = Uuid::from_u128(n as u128 + 1000);
                    claimed.extend(wanted.iter().map(|c| (c.clone(), license)));
                    given.push(wanted);
                }
            }
            let all: Vec<&Claimant> = given.iter().flatten().collect();
            let unique: HashSet<&Claimant> = all.iter().copied().collect();
            prop_assert_eq!(all.len(), unique.len());
        }
    }
}
