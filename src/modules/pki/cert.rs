//! Certificates as data: what one says (parsed back with x509-parser), what we want
//! it to say, why an existing one no longer fits, and issuing new ones with rcgen.

use super::keys::{self, KeySpec};
use crate::modules::{ModResult, ModuleError};
use crate::secret::Secret;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::X509Certificate;

/// How far NotBefore is set in the past, so a host whose clock is a little behind
/// the controller's accepts the certificate at once (kubeadm does the same).
pub const BACKDATE: Duration = Duration::minutes(5);

/// Extended key usages (RFC 5280 4.2.1.12), named as community.crypto names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Eku {
    ServerAuth,
    ClientAuth,
    CodeSigning,
    EmailProtection,
    TimeStamping,
    OcspSigning,
}

/// Key usages (RFC 5280 4.2.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Ku {
    DigitalSignature,
    ContentCommitment,
    KeyEncipherment,
    DataEncipherment,
    KeyAgreement,
    KeyCertSign,
    CrlSign,
    EncipherOnly,
    DecipherOnly,
}

impl Eku {
    pub fn name(self) -> &'static str {
        match self {
            Eku::ServerAuth => "serverAuth",
            Eku::ClientAuth => "clientAuth",
            Eku::CodeSigning => "codeSigning",
            Eku::EmailProtection => "emailProtection",
            Eku::TimeStamping => "timeStamping",
            Eku::OcspSigning => "OCSPSigning",
        }
    }
    fn rcgen(self) -> ExtendedKeyUsagePurpose {
        match self {
            Eku::ServerAuth => ExtendedKeyUsagePurpose::ServerAuth,
            Eku::ClientAuth => ExtendedKeyUsagePurpose::ClientAuth,
            Eku::CodeSigning => ExtendedKeyUsagePurpose::CodeSigning,
            Eku::EmailProtection => ExtendedKeyUsagePurpose::EmailProtection,
            Eku::TimeStamping => ExtendedKeyUsagePurpose::TimeStamping,
            Eku::OcspSigning => ExtendedKeyUsagePurpose::OcspSigning,
        }
    }
}

impl Ku {
    pub fn name(self) -> &'static str {
        match self {
            Ku::DigitalSignature => "digitalSignature",
            Ku::ContentCommitment => "contentCommitment",
            Ku::KeyEncipherment => "keyEncipherment",
            Ku::DataEncipherment => "dataEncipherment",
            Ku::KeyAgreement => "keyAgreement",
            Ku::KeyCertSign => "keyCertSign",
            Ku::CrlSign => "cRLSign",
            Ku::EncipherOnly => "encipherOnly",
            Ku::DecipherOnly => "decipherOnly",
        }
    }
    fn rcgen(self) -> KeyUsagePurpose {
        match self {
            Ku::DigitalSignature => KeyUsagePurpose::DigitalSignature,
            Ku::ContentCommitment => KeyUsagePurpose::ContentCommitment,
            Ku::KeyEncipherment => KeyUsagePurpose::KeyEncipherment,
            Ku::DataEncipherment => KeyUsagePurpose::DataEncipherment,
            Ku::KeyAgreement => KeyUsagePurpose::KeyAgreement,
            Ku::KeyCertSign => KeyUsagePurpose::KeyCertSign,
            Ku::CrlSign => KeyUsagePurpose::CrlSign,
            Ku::EncipherOnly => KeyUsagePurpose::EncipherOnly,
            Ku::DecipherOnly => KeyUsagePurpose::DecipherOnly,
        }
    }
}

/// One usage word as operators write it: `server`, `serverAuth`, `server auth`,
/// `TLS Web Server Authentication`, `digitalSignature`, `Digital Signature`...
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    Extended(Eku),
    Key(Ku),
}

pub fn parse_usage(word: &str) -> Option<Usage> {
    let w: String = word
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '_'))
        .collect::<String>()
        .to_ascii_lowercase();
    use Usage::{Extended as E, Key as K};
    Some(match w.as_str() {
        "server" | "serverauth" | "tlswebserverauthentication" => E(Eku::ServerAuth),
        "client" | "clientauth" | "tlswebclientauthentication" => E(Eku::ClientAuth),
        "codesigning" => E(Eku::CodeSigning),
        "emailprotection" => E(Eku::EmailProtection),
        "timestamping" => E(Eku::TimeStamping),
        "ocspsigning" => E(Eku::OcspSigning),
        "digitalsignature" => K(Ku::DigitalSignature),
        "contentcommitment" | "nonrepudiation" => K(Ku::ContentCommitment),
        "keyencipherment" => K(Ku::KeyEncipherment),
        "dataencipherment" => K(Ku::DataEncipherment),
        "keyagreement" => K(Ku::KeyAgreement),
        "keycertsign" | "certsign" | "certificatesign" => K(Ku::KeyCertSign),
        "crlsign" => K(Ku::CrlSign),
        "encipheronly" => K(Ku::EncipherOnly),
        "decipheronly" => K(Ku::DecipherOnly),
        _ => return None,
    })
}

/// What a certificate says, parsed back from its PEM.
#[derive(Debug, Clone)]
pub struct CertInfo {
    pub der: Vec<u8>,
    pub subject: String,
    pub cn: Option<String>,
    pub orgs: Vec<String>,
    pub issuer: String,
    pub issuer_raw: Vec<u8>,
    pub subject_raw: Vec<u8>,
    pub serial: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub dns: Vec<String>,
    pub ips: Vec<IpAddr>,
    /// SANs of other kinds (URI, email...), shown as text.
    pub other_sans: Vec<String>,
    pub eku: Vec<Eku>,
    pub ku: Vec<Ku>,
    pub is_ca: bool,
    /// SubjectPublicKeyInfo DER.
    pub spki: Vec<u8>,
    pub key_desc: String,
}

/// Parse the first CERTIFICATE block of a PEM text.
pub fn parse_pem(text: &[u8]) -> Result<CertInfo, String> {
    let text = std::str::from_utf8(text).map_err(|_| "not text".to_string())?;
    let blocks = pem::parse_many(text).map_err(|_| "not a PEM file".to_string())?;
    let block = blocks
        .iter()
        .find(|b| b.tag() == "CERTIFICATE")
        .ok_or_else(|| "no CERTIFICATE block".to_string())?;
    parse_der(block.contents())
}

pub fn parse_der(der: &[u8]) -> Result<CertInfo, String> {
    let (_, c) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| format!("not a valid certificate: {e}"))?;
    let text_of = |v: &x509_parser::x509::AttributeTypeAndValue| {
        v.as_str().map(str::to_string).unwrap_or_default()
    };
    let mut dns = vec![];
    let mut ips = vec![];
    let mut other_sans = vec![];
    if let Ok(Some(san)) = c.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                GeneralName::DNSName(d) => dns.push(d.to_string()),
                GeneralName::IPAddress(b) => match b.len() {
                    4 => ips.push(IpAddr::from(<[u8; 4]>::try_from(*b).expect("4 bytes"))),
                    16 => ips.push(IpAddr::from(<[u8; 16]>::try_from(*b).expect("16 bytes"))),
                    _ => other_sans.push(format!("IP:{}", hex::encode(b))),
                },
                other => other_sans.push(other.to_string()),
            }
        }
    }
    let mut eku = vec![];
    if let Ok(Some(e)) = c.extended_key_usage() {
        let e = e.value;
        for (on, u) in [
            (e.server_auth, Eku::ServerAuth),
            (e.client_auth, Eku::ClientAuth),
            (e.code_signing, Eku::CodeSigning),
            (e.email_protection, Eku::EmailProtection),
            (e.time_stamping, Eku::TimeStamping),
            (e.ocsp_signing, Eku::OcspSigning),
        ] {
            if on {
                eku.push(u);
            }
        }
    }
    let mut ku = vec![];
    if let Ok(Some(k)) = c.key_usage() {
        let k = k.value;
        for (on, u) in [
            (k.digital_signature(), Ku::DigitalSignature),
            (k.non_repudiation(), Ku::ContentCommitment),
            (k.key_encipherment(), Ku::KeyEncipherment),
            (k.data_encipherment(), Ku::DataEncipherment),
            (k.key_agreement(), Ku::KeyAgreement),
            (k.key_cert_sign(), Ku::KeyCertSign),
            (k.crl_sign(), Ku::CrlSign),
            (k.encipher_only(), Ku::EncipherOnly),
            (k.decipher_only(), Ku::DecipherOnly),
        ] {
            if on {
                ku.push(u);
            }
        }
    }
    let is_ca = matches!(c.basic_constraints(), Ok(Some(b)) if b.value.ca);
    let cn: Option<String> = c.subject().iter_common_name().next().map(text_of);
    let orgs: Vec<String> = c.subject().iter_organization().map(text_of).collect();
    Ok(CertInfo {
        der: der.to_vec(),
        subject: c.subject().to_string(),
        cn,
        orgs,
        issuer: c.issuer().to_string(),
        issuer_raw: c.issuer().as_raw().to_vec(),
        subject_raw: c.subject().as_raw().to_vec(),
        serial: c.raw_serial_as_string(),
        not_before: c.validity().not_before.to_datetime(),
        not_after: c.validity().not_after.to_datetime(),
        dns,
        ips,
        other_sans,
        eku,
        ku,
        is_ca,
        spki: c.public_key().raw.to_vec(),
        key_desc: keys::describe_parsed(c.public_key()),
    })
}

impl CertInfo {
    fn parsed(&self) -> X509Certificate<'_> {
        x509_parser::parse_x509_certificate(&self.der)
            .expect("parsed before")
            .1
    }

    /// Signed by the holder of this public key (SubjectPublicKeyInfo DER)?
    pub fn signed_with(&self, spki_der: &[u8]) -> bool {
        use x509_parser::prelude::FromDer;
        let Ok((_, spki)) = x509_parser::x509::SubjectPublicKeyInfo::from_der(spki_der) else {
            return false;
        };
        self.parsed().verify_signature(Some(&spki)).is_ok()
    }

    pub fn sans(&self) -> Vec<String> {
        let mut v: Vec<String> = self.dns.iter().map(|d| format!("DNS:{d}")).collect();
        v.extend(self.ips.iter().map(|i| format!("IP:{i}")));
        v.extend(self.other_sans.iter().cloned());
        v
    }

    /// The summary shown in a change: everything an operator checks, no key material.
    pub fn describe(&self) -> String {
        let list = |v: Vec<&str>| {
            if v.is_empty() {
                "(none)".to_string()
            } else {
                v.join(", ")
            }
        };
        let sans = self.sans();
        format!(
            "subject: {}\nissuer: {}\nserial: {}\nnot before: {}\nnot after: {}\nSANs: {}\nkey usage: {}\nextended key usage: {}\nCA: {}\nkey: {} {}\n",
            self.subject,
            self.issuer,
            self.serial,
            show_time(self.not_before),
            show_time(self.not_after),
            if sans.is_empty() { "(none)".to_string() } else { sans.join(", ") },
            list(self.ku.iter().map(|k| k.name()).collect()),
            list(self.eku.iter().map(|k| k.name()).collect()),
            if self.is_ca { "yes" } else { "no" },
            self.key_desc,
            keys::fingerprint(&self.spki),
        )
    }
}

pub fn show_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Why a certificate must be renewed now, if it must.
pub fn expiry_reason(
    not_after: OffsetDateTime,
    renew_before_days: u32,
    now: OffsetDateTime,
) -> Option<String> {
    if not_after <= now {
        return Some(format!("expired on {}", show_time(not_after)));
    }
    let left = not_after - now;
    if left < Duration::days(renew_before_days.into()) {
        let days = left.whole_days();
        let when = match days {
            0 => "expires in less than a day".to_string(),
            1 => "expires in 1 day".to_string(),
            n => format!("expires in {n} days"),
        };
        return Some(format!("{when} (renew_before_days: {renew_before_days})"));
    }
    None
}

/// A leaf certificate as asked for.
#[derive(Debug, Clone)]
pub struct LeafSpec {
    pub cn: String,
    pub orgs: Vec<String>,
    pub dns: Vec<String>,
    pub ips: Vec<IpAddr>,
    pub eku: Vec<Eku>,
    pub ku: Vec<Ku>,
    pub key: KeySpec,
    pub valid_days: u32,
    pub renew_before_days: u32,
}

/// Arguments shared by everything that issues a leaf (x509_cert, kubeconfig).
pub struct LeafArgs<'a> {
    pub common_name: &'a str,
    pub organization: &'a [String],
    pub dns_names: &'a [String],
    pub ip_addresses: &'a [String],
    pub subject_alt_name: &'a [String],
    pub usages: &'a [String],
    pub extended_key_usage: &'a [String],
    pub key_usage: &'a [String],
    pub key: KeySpec,
    pub valid_days: u32,
    pub renew_before_days: u32,
}

impl LeafSpec {
    /// Validate and normalise the task's arguments.
    pub fn from_args(a: LeafArgs) -> ModResult<LeafSpec> {
        let err = |m: String| Err(ModuleError::new(m));
        if a.common_name.trim().is_empty() {
            return err("common_name must not be empty".into());
        }
        if a.organization.len() > 2 {
            // rcgen 0.13 keeps one value per attribute type; a second O goes in under
            // its OID as a custom attribute, a third has no slot.
            return err(format!(
                "at most two organization values are supported, got {}",
                a.organization.len()
            ));
        }
        let mut dns: Vec<String> = vec![];
        let mut ips: Vec<IpAddr> = vec![];
        let add_dns = |d: &str, dns: &mut Vec<String>| -> ModResult<()> {
            let d = d.trim();
            if d.is_empty() || !d.is_ascii() || d.contains(char::is_whitespace) {
                return Err(ModuleError::new(format!(
                    "DNS name {d:?} is not a valid ASCII host name"
                )));
            }
            if !dns.iter().any(|x| x.eq_ignore_ascii_case(d)) {
                dns.push(d.to_string());
            }
            Ok(())
        };
        let add_ip = |s: &str, ips: &mut Vec<IpAddr>| -> ModResult<()> {
            let ip: IpAddr = s
                .trim()
                .parse()
                .map_err(|_| ModuleError::new(format!("{s:?} is not an IP address")))?;
            if !ips.contains(&ip) {
                ips.push(ip);
            }
            Ok(())
        };
        for d in a.dns_names {
            add_dns(d, &mut dns)?;
        }
        for s in a.ip_addresses {
            add_ip(s, &mut ips)?;
        }
        // community.crypto's form: DNS:name, IP:address.
        for s in a.subject_alt_name {
            match s.split_once(':') {
                Some((k, v)) if k.eq_ignore_ascii_case("dns") => add_dns(v, &mut dns)?,
                Some((k, v)) if k.eq_ignore_ascii_case("ip") => add_ip(v, &mut ips)?,
                _ => {
                    return err(format!(
                        "subject_alt_name {s:?}: use DNS:name or IP:address"
                    ))
                }
            }
        }
        let mut eku = vec![];
        let mut ku = vec![];
        let mut push = |u: Usage| match u {
            Usage::Extended(e) if !eku.contains(&e) => eku.push(e),
            Usage::Key(k) if !ku.contains(&k) => ku.push(k),
            _ => {}
        };
        for w in a.usages {
            push(parse_usage(w).ok_or_else(|| ModuleError::new(format!("unknown usage {w:?}: use server, client, serverAuth, clientAuth, digitalSignature, keyEncipherment...")))?);
        }
        for w in a.extended_key_usage {
            match parse_usage(w) {
                Some(u @ Usage::Extended(_)) => push(u),
                _ => {
                    return err(format!(
                    "unknown extended_key_usage {w:?}: use serverAuth, clientAuth, codeSigning..."
                ))
                }
            }
        }
        let explicit_ku = !a.key_usage.is_empty();
        for w in a.key_usage {
            match parse_usage(w) {
                Some(u @ Usage::Key(_)) => push(u),
                _ => {
                    return err(format!(
                        "unknown key_usage {w:?}: use digitalSignature, keyEncipherment..."
                    ))
                }
            }
        }
        if eku.is_empty() {
            return err("say what the certificate is for: usages (server, client) or extended_key_usage (serverAuth, clientAuth)".into());
        }
        if ku.is_empty() && !explicit_ku {
            // kubeadm's leaves: digital signature and key encipherment.
            ku = vec![Ku::DigitalSignature, Ku::KeyEncipherment];
        }
        eku.sort();
        ku.sort();
        if a.valid_days == 0 {
            return err("valid_days must be at least 1".into());
        }
        Ok(LeafSpec {
            cn: a.common_name.to_string(),
            orgs: a.organization.to_vec(),
            dns,
            ips,
            eku,
            ku,
            key: a.key,
            valid_days: a.valid_days,
            renew_before_days: a.renew_before_days,
        })
    }

    /// Why `have` (issued by `ca`) no longer fits; empty when it does.
    pub fn reasons(&self, have: &CertInfo, ca: &Ca, now: OffsetDateTime) -> Vec<String> {
        let mut why = vec![];
        if !ca.issued(have) {
            why.push(format!(
                "issued by another CA (issuer {}, want {})",
                have.issuer, ca.info.subject
            ));
        }
        if have.is_ca {
            why.push("is a CA certificate, want a leaf".into());
        }
        if have.cn.as_deref() != Some(self.cn.as_str()) {
            why.push(format!(
                "CN is {:?}, want {:?}",
                have.cn.clone().unwrap_or_default(),
                self.cn
            ));
        }
        let mut have_o = have.orgs.clone();
        let mut want_o = self.orgs.clone();
        have_o.sort();
        want_o.sort();
        if have_o != want_o {
            why.push(format!(
                "O is [{}], want [{}]",
                have_o.join(", "),
                want_o.join(", ")
            ));
        }
        for d in &self.dns {
            if !have.dns.iter().any(|h| h.eq_ignore_ascii_case(d)) {
                why.push(format!("SAN DNS {d} missing"));
            }
        }
        for ip in &self.ips {
            if !have.ips.contains(ip) {
                why.push(format!("SAN IP {ip} missing"));
            }
        }
        for d in &have.dns {
            if !self.dns.iter().any(|w| w.eq_ignore_ascii_case(d)) {
                why.push(format!("SAN DNS {d} not wanted"));
            }
        }
        for ip in &have.ips {
            if !self.ips.contains(ip) {
                why.push(format!("SAN IP {ip} not wanted"));
            }
        }
        for o in &have.other_sans {
            why.push(format!("SAN {o} not wanted"));
        }
        let names = |v: &[Eku]| v.iter().map(|e| e.name()).collect::<Vec<_>>().join(", ");
        let mut have_eku = have.eku.clone();
        have_eku.sort();
        if have_eku != self.eku {
            why.push(format!(
                "extended key usage is [{}], want [{}]",
                names(&have_eku),
                names(&self.eku)
            ));
        }
        let knames = |v: &[Ku]| v.iter().map(|e| e.name()).collect::<Vec<_>>().join(", ");
        let mut have_ku = have.ku.clone();
        have_ku.sort();
        if have_ku != self.ku {
            why.push(format!(
                "key usage is [{}], want [{}]",
                knames(&have_ku),
                knames(&self.ku)
            ));
        }
        if have.key_desc != self.key.describe() {
            why.push(format!(
                "key is {}, want {}",
                have.key_desc,
                self.key.describe()
            ));
        }
        if let Some(r) = expiry_reason(have.not_after, self.renew_before_days, now) {
            why.push(r);
        }
        why
    }

    fn params(&self, now: OffsetDateTime) -> ModResult<CertificateParams> {
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        // Go's order (O before CN), as kubeadm's certificates have it.
        for (i, o) in self.orgs.iter().enumerate() {
            let ty = if i == 0 {
                DnType::OrganizationName
            } else {
                DnType::CustomDnType(vec![2, 5, 4, 10])
            };
            dn.push(ty, o.as_str());
        }
        dn.push(DnType::CommonName, self.cn.as_str());
        p.distinguished_name = dn;
        for d in &self.dns {
            let name = d.clone().try_into().map_err(|_| {
                ModuleError::new(format!("DNS name {d:?} is not a valid ASCII host name"))
            })?;
            p.subject_alt_names.push(SanType::DnsName(name));
        }
        p.subject_alt_names
            .extend(self.ips.iter().map(|ip| SanType::IpAddress(*ip)));
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = self.ku.iter().map(|k| k.rcgen()).collect();
        p.extended_key_usages = self.eku.iter().map(|e| e.rcgen()).collect();
        p.use_authority_key_identifier_extension = true;
        set_validity(&mut p, now, self.valid_days);
        Ok(p)
    }
}

fn set_validity(p: &mut CertificateParams, now: OffsetDateTime, valid_days: u32) {
    let now = now.replace_nanosecond(0).expect("0 is a valid nanosecond");
    p.not_before = now - BACKDATE;
    p.not_after = now + Duration::days(valid_days.into());
    p.serial_number = Some(random_serial());
}

/// 16 random bytes, positive (top bit clear) and of fixed length (second bit set).
fn random_serial() -> SerialNumber {
    let mut b: [u8; 16] = rand::random();
    b[0] = (b[0] & 0x3f) | 0x40;
    SerialNumber::from_slice(&b)
}

/// A freshly issued certificate and the private key that goes with it.
pub struct Issued {
    pub key_pem: Secret,
    pub cert_pem: String,
    pub info: CertInfo,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Issued({})", self.info.subject)
    }
}

/// A CA as asked for.
#[derive(Debug, Clone)]
pub struct CaSpec {
    pub cn: String,
    pub key: KeySpec,
    pub valid_days: u32,
    pub renew_before_days: u32,
}

impl CaSpec {
    /// Why `have` is no longer the CA asked for; empty when it still is.
    pub fn reasons(&self, have: &CertInfo, now: OffsetDateTime) -> Vec<String> {
        let mut why = vec![];
        if !have.is_ca {
            why.push("not a CA certificate".into());
        } else if have.issuer_raw != have.subject_raw || !have.signed_with(&have.spki) {
            why.push("not self-signed".into());
        }
        if have.cn.as_deref() != Some(self.cn.as_str()) {
            why.push(format!(
                "CN is {:?}, want {:?}",
                have.cn.clone().unwrap_or_default(),
                self.cn
            ));
        }
        if have.key_desc != self.key.describe() {
            why.push(format!(
                "key is {}, want {}",
                have.key_desc,
                self.key.describe()
            ));
        }
        if let Some(r) = expiry_reason(have.not_after, self.renew_before_days, now) {
            why.push(r);
        }
        why
    }

    /// A new self-signed CA: BasicConstraints CA, keyCertSign + cRLSign + digitalSignature.
    pub fn issue(&self, now: OffsetDateTime) -> ModResult<Issued> {
        if self.valid_days == 0 {
            return Err(ModuleError::new("valid_days must be at least 1"));
        }
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, self.cn.as_str());
        p.distinguished_name = dn;
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
        ];
        set_validity(&mut p, now, self.valid_days);
        let (kp, key_pem) = self.key.generate()?;
        let cert = p
            .self_signed(&kp)
            .map_err(|e| ModuleError::new(format!("cannot sign the CA certificate: {e}")))?;
        finish(key_pem, cert.pem())
    }
}

fn finish(key_pem: Secret, cert_pem: String) -> ModResult<Issued> {
    let info = parse_pem(cert_pem.as_bytes())
        .map_err(|e| ModuleError::new(format!("issued certificate does not parse: {e}")))?;
    Ok(Issued {
        key_pem,
        cert_pem,
        info,
    })
}

/// A CA read from the control machine's folder, ready to sign.
pub struct Ca {
    pub name: String,
    pub crt_path: PathBuf,
    /// The CA certificate file as is (kubeconfigs embed it).
    pub pem: Vec<u8>,
    pub info: CertInfo,
    key: KeyPair,
    issuer: rcgen::Certificate,
}

// KeyPair's own Debug prints its private key bytes: never derive Debug here.
impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ca({} at {})", self.name, self.crt_path.display())
    }
}

/// File paths of CA `name` (`ca`, `etcd/ca`) in `folder`.
pub fn ca_files(folder: &str, name: &str) -> (String, String) {
    let base = format!("{}/{}", folder.trim_end_matches('/'), name);
    (format!("{base}.crt"), format!("{base}.key"))
}

/// A CA name is a relative file stem without `..`: `ca`, `front-proxy-ca`, `etcd/ca`.
pub fn check_ca_name(name: &str) -> ModResult<()> {
    if name.is_empty()
        || name.starts_with('/')
        || name.ends_with('/')
        || name
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..")
    {
        return Err(ModuleError::new(format!(
            "CA name {name:?} must be a relative file stem such as ca or etcd/ca"
        )));
    }
    Ok(())
}

impl Ca {
    /// Read CA `name` from `folder` on the control machine (controller state, so read
    /// directly while planning).
    pub fn load(folder: &str, name: &str) -> ModResult<Ca> {
        check_ca_name(name)?;
        let (crt, key) = ca_files(folder, name);
        if !Path::new(&crt).is_file() || !Path::new(&key).is_file() {
            return Err(ModuleError::new(format!(
                "CA {name} not found in {folder}: run the x509_ca task first"
            )));
        }
        let pem =
            std::fs::read(&crt).map_err(|e| ModuleError::new(format!("cannot read {crt}: {e}")))?;
        let key_text = std::fs::read_to_string(&key)
            .map_err(|e| ModuleError::new(format!("cannot read {key}: {}", e.kind())))?;
        let key_text = Secret::new(key_text);
        Self::from_parts(name, &crt, pem, &key_text)
    }

    pub fn from_parts(name: &str, crt: &str, pem: Vec<u8>, key_pem: &Secret) -> ModResult<Ca> {
        let info =
            parse_pem(&pem).map_err(|e| ModuleError::new(format!("CA certificate {crt}: {e}")))?;
        if !info.is_ca {
            return Err(ModuleError::new(format!("{crt} is not a CA certificate")));
        }
        let key = keys::load_private(key_pem.expose(), &format!("CA key of {name}"))?;
        if !keys::same_public_key(&key.public_key_der(), &info.spki) {
            return Err(ModuleError::new(format!(
                "CA {name}: the key does not match {crt}; run the x509_ca task again"
            )));
        }
        let text = std::str::from_utf8(&pem)
            .map_err(|_| ModuleError::new(format!("{crt} is not text")))?;
        let params = CertificateParams::from_ca_cert_pem(text).map_err(|e| {
            ModuleError::new(format!("CA certificate {crt} cannot be used to sign: {e}"))
        })?;
        // rcgen signs with a Certificate as issuer; re-signing the parsed parameters
        // gives one with the same subject, key identifier and key (only those are used).
        let issuer = params.self_signed(&key).map_err(|e| {
            ModuleError::new(format!("CA certificate {crt} cannot be used to sign: {e}"))
        })?;
        Ok(Ca {
            name: name.to_string(),
            crt_path: PathBuf::from(crt),
            pem,
            info,
            key,
            issuer,
        })
    }

    /// Did this CA issue `cert`? Issuer name and signature both.
    pub fn issued(&self, cert: &CertInfo) -> bool {
        cert.issuer_raw == self.info.subject_raw && cert.signed_with(&self.info.spki)
    }

    /// A new key and a certificate for it, signed by this CA.
    pub fn issue(&self, spec: &LeafSpec, now: OffsetDateTime) -> ModResult<Issued> {
        let p = spec.params(now)?;
        let (kp, key_pem) = spec.key.generate()?;
        let cert = p.signed_by(&kp, &self.issuer, &self.key).map_err(|e| {
            ModuleError::new(format!("cannot sign the certificate for {}: {e}", spec.cn))
        })?;
        finish(key_pem, cert.pem())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::pki::testutil::{ca_in, ecdsa, rsa};
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2025-06-01 12:00:00.123 UTC);

    fn apiserver(key: KeySpec) -> LeafSpec {
        LeafSpec::from_args(LeafArgs {
            common_name: "kube-apiserver",
            organization: &[],
            dns_names: &[
                "cp1".into(),
                "kubernetes".into(),
                "kubernetes.default".into(),
            ],
            ip_addresses: &["10.96.0.1".into(), "10.240.0.11".into()],
            subject_alt_name: &["DNS:kubernetes.default.svc".into()],
            usages: &["server".into()],
            extended_key_usage: &[],
            key_usage: &[],
            key,
            valid_days: 365,
            renew_before_days: 30,
        })
        .unwrap()
    }

    #[test]
    fn ca_says_what_kubeadm_ca_says() {
        let spec = CaSpec {
            cn: "kubernetes".into(),
            key: rsa(),
            valid_days: 3650,
            renew_before_days: 30,
        };
        let ca = spec.issue(NOW).unwrap();
        let i = &ca.info;
        assert_eq!(i.cn.as_deref(), Some("kubernetes"));
        assert!(i.is_ca);
        assert_eq!(
            i.ku,
            vec![Ku::DigitalSignature, Ku::KeyCertSign, Ku::CrlSign]
        );
        assert!(i.eku.is_empty());
        assert_eq!(i.key_desc, "rsa 2048");
        assert_eq!(
            i.not_before,
            datetime!(2025-06-01 11:55:00 UTC),
            "backdated 5 minutes, whole seconds"
        );
        assert_eq!(i.not_after, datetime!(2035-05-30 12:00:00 UTC), "3650 days");
        assert_eq!(i.issuer_raw, i.subject_raw);
        assert!(i.signed_with(&i.spki));
        assert!(spec.reasons(i, NOW).is_empty());
        assert!(ca.key_pem.expose().contains("BEGIN PRIVATE KEY"));
    }

    #[test]
    fn leaf_says_what_was_asked_and_chains_to_the_ca() {
        let dir = tempfile::tempdir().unwrap();
        let ca = ca_in(dir.path(), "ca", "kubernetes", NOW);
        for (key, desc) in [(rsa(), "rsa 2048"), (ecdsa(), "ecdsa P-256")] {
            let spec = apiserver(key);
            let leaf = ca.issue(&spec, NOW).unwrap();
            let i = &leaf.info;
            assert_eq!(i.cn.as_deref(), Some("kube-apiserver"));
            assert!(i.orgs.is_empty());
            assert_eq!(
                i.dns,
                [
                    "cp1",
                    "kubernetes",
                    "kubernetes.default",
                    "kubernetes.default.svc"
                ]
            );
            assert_eq!(
                i.ips,
                [
                    "10.96.0.1".parse::<IpAddr>().unwrap(),
                    "10.240.0.11".parse().unwrap()
                ]
            );
            assert_eq!(i.eku, [Eku::ServerAuth]);
            assert_eq!(i.ku, [Ku::DigitalSignature, Ku::KeyEncipherment]);
            assert!(!i.is_ca);
            assert_eq!(i.key_desc, desc);
            assert_eq!(i.not_before, datetime!(2025-06-01 11:55:00 UTC));
            assert_eq!(i.not_after, datetime!(2026-06-01 12:00:00 UTC));
            assert_eq!(i.issuer, "CN=kubernetes");
            assert!(ca.issued(i));
            assert!(
                spec.reasons(i, &ca, NOW).is_empty(),
                "{:?}",
                spec.reasons(i, &ca, NOW)
            );
            assert!(leaf
                .key_pem
                .expose()
                .starts_with("-----BEGIN PRIVATE KEY-----"));
            let kp = crate::modules::pki::keys::load_private(leaf.key_pem.expose(), "k").unwrap();
            assert!(crate::modules::pki::keys::same_public_key(
                &kp.public_key_der(),
                &i.spki
            ));
        }
    }

    #[test]
    fn two_organizations_and_a_client_cert() {
        let dir = tempfile::tempdir().unwrap();
        let ca = ca_in(dir.path(), "ca", "kubernetes", NOW);
        let spec = LeafSpec::from_args(LeafArgs {
            common_name: "kube-apiserver-kubelet-client",
            organization: &["kubeadm:cluster-admins".into(), "system:masters".into()],
            dns_names: &[],
            ip_addresses: &[],
            subject_alt_name: &[],
            usages: &[],
            extended_key_usage: &["clientAuth".into()],
            key_usage: &["Digital Signature".into(), "keyEncipherment".into()],
            key: ecdsa(),
            valid_days: 365,
            renew_before_days: 30,
        })
        .unwrap();
        let i = ca.issue(&spec, NOW).unwrap().info;
        assert_eq!(i.orgs, ["kubeadm:cluster-admins", "system:masters"]);
        assert_eq!(
            i.subject,
            "O=kubeadm:cluster-admins, O=system:masters, CN=kube-apiserver-kubelet-client"
        );
        assert_eq!(i.eku, [Eku::ClientAuth]);
        assert!(spec.reasons(&i, &ca, NOW).is_empty());
    }

    /// Each reason, from an otherwise good apiserver certificate.
    #[test]
    fn why_a_certificate_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let ca = ca_in(dir.path(), "ca", "kubernetes", NOW);
        let other = ca_in(dir.path(), "other", "kubernetes", NOW);
        let spec = apiserver(ecdsa());
        let have = ca.issue(&spec, NOW).unwrap().info;
        let later = |days: i64| NOW + Duration::days(days);
        let with = |f: &dyn Fn(&mut LeafSpec)| {
            let mut s = spec.clone();
            f(&mut s);
            s
        };
        let cases: Vec<(&str, LeafSpec, &Ca, OffsetDateTime, Vec<&str>)> = vec![
            ("good", spec.clone(), &ca, NOW, vec![]),
            (
                "san ip missing",
                with(&|s| s.ips.push("10.240.0.12".parse().unwrap())),
                &ca,
                NOW,
                vec!["SAN IP 10.240.0.12 missing"],
            ),
            (
                "san dns missing",
                with(&|s| s.dns.push("api.example.org".into())),
                &ca,
                NOW,
                vec!["SAN DNS api.example.org missing"],
            ),
            (
                "san not wanted",
                with(&|s| s.dns.retain(|d| d != "cp1")),
                &ca,
                NOW,
                vec!["SAN DNS cp1 not wanted"],
            ),
            (
                "expiring",
                spec.clone(),
                &ca,
                later(352),
                vec!["expires in 12 days (renew_before_days: 30)"],
            ),
            (
                "expired",
                spec.clone(),
                &ca,
                later(400),
                vec!["expired on 2026-06-01 12:00:00 UTC"],
            ),
            ("outside window", spec.clone(), &ca, later(300), vec![]),
            (
                "other ca",
                spec.clone(),
                &other,
                NOW,
                vec!["issued by another CA (issuer CN=kubernetes, want CN=kubernetes)"],
            ),
            (
                "cn changed",
                with(&|s| s.cn = "apiserver".into()),
                &ca,
                NOW,
                vec!["CN is \"kube-apiserver\", want \"apiserver\""],
            ),
            (
                "o changed",
                with(&|s| s.orgs = vec!["system:nodes".into()]),
                &ca,
                NOW,
                vec!["O is [], want [system:nodes]"],
            ),
            (
                "eku changed",
                with(&|s| s.eku = vec![Eku::ServerAuth, Eku::ClientAuth]),
                &ca,
                NOW,
                vec!["extended key usage is [serverAuth], want [serverAuth, clientAuth]"],
            ),
            (
                "key type",
                with(&|s| s.key = rsa()),
                &ca,
                NOW,
                vec!["key is ecdsa P-256, want rsa 2048"],
            ),
        ];
        for (name, spec, ca, now, want) in cases {
            assert_eq!(spec.reasons(&have, ca, now), want, "{name}");
        }
    }

    #[test]
    fn usages_read_every_common_spelling() {
        assert_eq!(
            parse_usage("server"),
            Some(Usage::Extended(Eku::ServerAuth))
        );
        assert_eq!(
            parse_usage("TLS Web Client Authentication"),
            Some(Usage::Extended(Eku::ClientAuth))
        );
        assert_eq!(
            parse_usage("key_encipherment"),
            Some(Usage::Key(Ku::KeyEncipherment))
        );
        assert_eq!(parse_usage("cRLSign"), Some(Usage::Key(Ku::CrlSign)));
        assert_eq!(parse_usage("teleport"), None);
    }

    #[test]
    fn bad_arguments_are_refused() {
        let base = |dns: &[String], ips: &[String], eku: &[String], orgs: &[String]| {
            LeafSpec::from_args(LeafArgs {
                common_name: "x",
                organization: orgs,
                dns_names: dns,
                ip_addresses: ips,
                subject_alt_name: &[],
                usages: &[],
                extended_key_usage: eku,
                key_usage: &[],
                key: ecdsa(),
                valid_days: 1,
                renew_before_days: 0,
            })
        };
        let e = |r: ModResult<LeafSpec>| r.unwrap_err().0;
        let server = ["serverAuth".to_string()];
        assert!(e(base(&[], &["10.0.0.300".into()], &server, &[])).contains("not an IP address"));
        assert!(e(base(&["a b".into()], &[], &server, &[])).contains("not a valid ASCII host name"));
        assert!(e(base(&[], &[], &[], &[])).contains("say what the certificate is for"));
        assert!(e(base(&[], &[], &["digitalSignature".into()], &[]))
            .contains("unknown extended_key_usage"));
        assert!(e(base(
            &[],
            &[],
            &server,
            &["a".into(), "b".into(), "c".into()]
        ))
        .contains("at most two"));
    }

    #[test]
    fn a_kubeadm_style_ca_can_be_reloaded_and_used() {
        // kubeadm writes RSA CA keys as PKCS#1; we sign with such a CA just the same.
        use rsa::pkcs1::{EncodeRsaPrivateKey, LineEnding};
        use rsa::pkcs8::EncodePrivateKey;
        let k = rsa::RsaPrivateKey::new(&mut rand_rsa::rng(), 2048).unwrap();
        let pkcs8 = k.to_pkcs8_pem(LineEnding::LF).unwrap();
        let kp = KeyPair::from_pkcs8_pem_and_sign_algo(&pkcs8, &rcgen::PKCS_RSA_SHA256).unwrap();
        let mut p = CertificateParams::default();
        p.distinguished_name = DistinguishedName::new();
        p.distinguished_name.push(DnType::CommonName, "kubernetes");
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        let cert = p.self_signed(&kp).unwrap();
        let pkcs1 = Secret::new(k.to_pkcs1_pem(LineEnding::LF).unwrap().as_str());
        let ca = Ca::from_parts("ca", "/x/ca.crt", cert.pem().into_bytes(), &pkcs1).unwrap();
        let leaf = ca.issue(&apiserver(ecdsa()), NOW).unwrap();
        assert!(ca.issued(&leaf.info));
        // A key that is not the CA's is refused, without quoting it.
        let (_, wrong) = ecdsa().generate().unwrap();
        let e = Ca::from_parts("ca", "/x/ca.crt", cert.pem().into_bytes(), &wrong).unwrap_err();
        assert!(e.0.contains("does not match"), "{e}");
        assert!(!e.0.contains("PRIVATE"));
    }
}
