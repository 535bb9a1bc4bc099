//! A certificate template: everything a certificate will say, decided from
//! a grant (or a CA bootstrap request) and the issuer, before any bytes
//! exist. The rcgen parameters are derived from it, the to-be-signed bytes
//! are linted against it, and the signed certificate is verified back
//! against it: one source of truth for build, lint and verify.

use crate::der::tlv;
use crate::key::{PublicKeyInfo, key_identifier, signature_oid};
use rcgen::{
    BasicConstraints, CertificateParams, CrlDistributionPoint, CustomExtension, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose, SanType, SerialNumber,
};
use signet_core::mint::MintError;
use signet_model::names::SanSet;
use signet_model::profile::{ExtendedKeyUsage, KeyAlgorithm};
use time::{OffsetDateTime, UtcOffset};
use x509_parser::certificate::TbsCertificate;
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
use x509_parser::oid_registry::{
    OID_PKIX_ACCESS_DESCRIPTOR_CA_ISSUERS, OID_PKIX_ACCESS_DESCRIPTOR_OCSP, OID_PKIX_AUTHORITY_INFO_ACCESS,
    OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER, OID_X509_EXT_BASIC_CONSTRAINTS, OID_X509_EXT_CRL_DISTRIBUTION_POINTS,
    OID_X509_EXT_EXTENDED_KEY_USAGE, OID_X509_EXT_KEY_USAGE, OID_X509_EXT_SUBJECT_ALT_NAME, OID_X509_EXT_SUBJECT_KEY_IDENTIFIER,
};
use x509_parser::x509::X509Version;

/// Where relying parties find status and the issuer certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Urls {
    pub ocsp: String,
    pub ca_issuers: String,
    pub crl: String,
}

impl Urls {
    /// From the public base URL of the Signet server (`https://host:port`)
    /// and the issuing CA's id: the responder is shared (it answers for
    /// every published CA, each signing its own answers), the CRL and the
    /// issuer certificate are the issuer's own, so a certificate keeps
    /// pointing at its issuer's after a rollover.
    pub fn for_issuer(base_url: &str, issuer_id: &str) -> Self {
        Self {
            ocsp: format!("{base_url}/ocsp"),
            ca_issuers: format!("{base_url}/ca/{issuer_id}"),
            crl: format!("{base_url}/crl/{issuer_id}"),
        }
    }
}

/// What the issuing side contributes.
#[derive(Debug, Clone)]
pub(crate) struct IssuerTemplate {
    /// The key that signs (for a self-signed certificate, the subject key).
    pub key: PublicKeyInfo,
    /// For an issued certificate: the issuer certificate (its DER, raw
    /// subject name, key identifier, validity and path length limit).
    /// `None` for a self-signed certificate.
    pub ca: Option<IssuerCa>,
}

#[derive(Debug, Clone)]
pub(crate) struct IssuerCa {
    pub cert_der: Vec<u8>,
    pub subject_raw: Vec<u8>,
    pub key_id: Vec<u8>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// The issuer's pathLenConstraint (`None`: unconstrained).
    pub path_len: Option<u32>,
}

#[derive(Debug, Clone)]
pub(crate) struct Template {
    /// Content octets of the serialNumber INTEGER.
    pub serial: Vec<u8>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub common_name: Option<String>,
    pub names: SanSet,
    /// `None`: end entity (CA:false). `Some(path_len)`: a CA.
    pub ca: Option<Option<u8>>,
    pub key_usages: Vec<KeyUsagePurpose>,
    pub ext_key_usages: Vec<ExtendedKeyUsage>,
    pub subject_key: PublicKeyInfo,
    pub issuer: IssuerTemplate,
    pub urls: Option<Urls>,
}

/// Whole seconds in UTC: what a certificate can say.
pub(crate) fn cert_time(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(UtcOffset::UTC);
    t - time::Duration::nanoseconds(i64::from(t.nanosecond()))
}

/// Key usages: a CA signs certificates and CRLs; an end-entity key signs,
/// and an RSA key may also encipher keys (TLS RSA key exchange).
pub(crate) fn key_usages_for(is_ca: bool, alg: KeyAlgorithm) -> Vec<KeyUsagePurpose> {
    if is_ca {
        return vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    }
    match alg {
        KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
            vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment]
        }
        KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 | KeyAlgorithm::Ed25519 => vec![KeyUsagePurpose::DigitalSignature],
    }
}

fn rcgen_eku(eku: ExtendedKeyUsage) -> ExtendedKeyUsagePurpose {
    match eku {
        ExtendedKeyUsage::ServerAuth => ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsage::ClientAuth => ExtendedKeyUsagePurpose::ClientAuth,
        ExtendedKeyUsage::CodeSigning => ExtendedKeyUsagePurpose::CodeSigning,
        ExtendedKeyUsage::EmailProtection => ExtendedKeyUsagePurpose::EmailProtection,
        ExtendedKeyUsage::TimeStamping => ExtendedKeyUsagePurpose::TimeStamping,
        ExtendedKeyUsage::OcspSigning => ExtendedKeyUsagePurpose::OcspSigning,
    }
}

/// The AuthorityInfoAccess extension value: OCSP and caIssuers URIs.
fn aia_value(urls: &Urls) -> Vec<u8> {
    // id-ad-ocsp 1.3.6.1.5.5.7.48.1 and id-ad-caIssuers 1.3.6.1.5.5.7.48.2
    const OCSP: [u8; 8] = [0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01];
    const CA_ISSUERS: [u8; 8] = [0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x02];
    let desc = |oid: &[u8], uri: &str| [tlv(0x06, oid), tlv(0x86, uri.as_bytes())].concat();
    let descs = [tlv(0x30, &desc(&OCSP, &urls.ocsp)), tlv(0x30, &desc(&CA_ISSUERS, &urls.ca_issuers))].concat();
    tlv(0x30, &descs)
}

fn ia5(s: &str) -> Result<rcgen::string::Ia5String, MintError> {
    rcgen::string::Ia5String::try_from(s).map_err(|_| MintError::Build(format!("`{s}` is not an IA5 (ASCII) string")))
}

impl Template {
    /// The rcgen parameters for this template, and nothing else.
    pub fn to_params(&self) -> Result<CertificateParams, MintError> {
        let mut p = CertificateParams::default();
        p.serial_number = Some(SerialNumber::from_slice(&self.serial));
        p.not_before = self.not_before;
        p.not_after = self.not_after;
        let mut dn = DistinguishedName::new();
        if let Some(cn) = &self.common_name {
            dn.push(DnType::CommonName, DnValue::Utf8String(cn.clone()));
        }
        p.distinguished_name = dn;
        let mut sans = Vec::with_capacity(self.names.len());
        for d in &self.names.dns {
            sans.push(SanType::DnsName(ia5(d)?));
        }
        for ip in &self.names.ip {
            sans.push(SanType::IpAddress(*ip));
        }
        for u in &self.names.uri {
            sans.push(SanType::URI(ia5(u)?));
        }
        for e in &self.names.email {
            sans.push(SanType::Rfc822Name(ia5(e)?));
        }
        p.subject_alt_names = sans;
        p.is_ca = match self.ca {
            None => IsCa::ExplicitNoCa,
            Some(None) => IsCa::Ca(BasicConstraints::Unconstrained),
            Some(Some(n)) => IsCa::Ca(BasicConstraints::Constrained(n)),
        };
        p.key_usages = self.key_usages.clone();
        p.extended_key_usages = self.ext_key_usages.iter().map(|e| rcgen_eku(*e)).collect();
        p.use_authority_key_identifier_extension = self.issuer.ca.is_some();
        p.key_identifier_method = rcgen::KeyIdMethod::Sha256;
        if let Some(urls) = &self.urls {
            ia5(&urls.crl)?;
            ia5(&urls.ocsp)?;
            ia5(&urls.ca_issuers)?;
            p.crl_distribution_points = vec![CrlDistributionPoint { uris: vec![urls.crl.clone()] }];
            p.custom_extensions = vec![CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 1], aia_value(urls))];
        }
        Ok(p)
    }

    /// Rules on the template itself, checked before anything is built.
    pub fn lint_policy(&self) -> Result<(), String> {
        if self.not_before >= self.not_after {
            return Err(format!("not_before {} is not before not_after {}", self.not_before, self.not_after));
        }
        if let Some(ca) = &self.issuer.ca {
            if self.not_before < ca.not_before || self.not_after > ca.not_after {
                return Err(format!(
                    "validity {} – {} is not inside the issuer's {} – {}",
                    self.not_before, self.not_after, ca.not_before, ca.not_after
                ));
            }
            if let Some(path_len) = self.ca {
                match (ca.path_len, path_len) {
                    (Some(0), _) => return Err("the issuer's path length constraint 0 allows no subordinate CA".into()),
                    (Some(limit), None) => {
                        return Err(format!("a subordinate CA of an issuer with path length {limit} needs a path length below {limit}"));
                    }
                    (Some(limit), Some(p)) if u32::from(p) >= limit => {
                        return Err(format!("path length {p} is not below the issuer's path length {limit}"));
                    }
                    _ => {}
                }
            }
        } else if self.subject_key != self.issuer.key {
            return Err("a self-signed certificate must be signed by its own key".into());
        }
        match &self.common_name {
            None if self.names.is_empty() => return Err("the certificate has neither a common name nor a subject alternative name".into()),
            Some(cn) if cn.is_empty() || cn.chars().count() > 64 || cn.chars().any(char::is_control) => {
                return Err("the common name must be 1-64 characters without control characters".into());
            }
            _ => {}
        }
        if self.ca.is_none() && self.key_usages.contains(&KeyUsagePurpose::KeyCertSign) {
            return Err("an end-entity certificate cannot have keyCertSign".into());
        }
        check_serial(&self.serial)
    }

    /// Check to-be-signed (or signed) certificate contents against the
    /// template, field by field and extension by extension.
    pub fn check(&self, tbs: &TbsCertificate<'_>) -> Result<(), String> {
        if tbs.version != X509Version::V3 {
            return Err("the certificate is not version 3".into());
        }
        check_serial(tbs.raw_serial())?;
        if tbs.raw_serial() != self.serial.as_slice() {
            return Err("the serial number differs from the one granted".into());
        }
        if tbs.signature.algorithm != signature_oid(self.issuer.key.algorithm) {
            return Err("the signature algorithm does not match the issuer key".into());
        }
        let issuer_raw = match &self.issuer.ca {
            Some(ca) => ca.subject_raw.as_slice(),
            None => tbs.subject.as_raw(),
        };
        if tbs.issuer.as_raw() != issuer_raw {
            return Err("the issuer name differs from the issuer certificate's subject".into());
        }
        let (nb, na) = (tbs.validity.not_before.to_datetime(), tbs.validity.not_after.to_datetime());
        if nb != self.not_before || na != self.not_after {
            return Err(format!("validity {nb} – {na} differs from the granted {} – {}", self.not_before, self.not_after));
        }
        self.check_subject(tbs)?;
        if tbs.subject_pki.raw != self.subject_key.spki_der.as_slice() {
            return Err("the subject public key differs from the bound key".into());
        }
        if tbs.issuer_uid.is_some() || tbs.subject_uid.is_some() {
            return Err("unexpected unique identifiers".into());
        }
        self.check_extensions(tbs)
    }

    fn check_subject(&self, tbs: &TbsCertificate<'_>) -> Result<(), String> {
        let attrs: Vec<_> = tbs.subject.iter_attributes().collect();
        match &self.common_name {
            None if !attrs.is_empty() => Err("the subject should be empty".into()),
            None => Ok(()),
            Some(cn) => {
                let got = tbs.subject.iter_common_name().next().and_then(|a| a.as_str().ok());
                if attrs.len() != 1 || got != Some(cn.as_str()) { Err(format!("the subject should be exactly CN={cn}")) } else { Ok(()) }
            }
        }
    }

    fn check_extensions(&self, tbs: &TbsCertificate<'_>) -> Result<(), String> {
        tbs.extensions_map().map_err(|_| "an extension appears twice".to_string())?;
        let mut seen = Vec::new();
        for ext in tbs.extensions() {
            let oid = &ext.oid;
            seen.push(oid.clone());
            if let ParsedExtension::ParseError { .. } = ext.parsed_extension() {
                return Err(format!("extension `{}` is malformed", oid.to_id_string()));
            }
            if *oid == OID_X509_EXT_BASIC_CONSTRAINTS {
                let ParsedExtension::BasicConstraints(bc) = ext.parsed_extension() else {
                    return Err("basicConstraints is malformed".into());
                };
                let want_path = self.ca.flatten().map(u32::from);
                if !ext.critical || bc.ca != self.ca.is_some() || bc.path_len_constraint != want_path {
                    return Err(format!("basicConstraints should be critical, CA:{}, path length {want_path:?}", self.ca.is_some()));
                }
            } else if *oid == OID_X509_EXT_KEY_USAGE {
                let ParsedExtension::KeyUsage(ku) = ext.parsed_extension() else { return Err("keyUsage is malformed".into()) };
                if !ext.critical || ku.flags != key_usage_flags(&self.key_usages) {
                    return Err("keyUsage should be critical and exactly as granted".into());
                }
            } else if *oid == OID_X509_EXT_EXTENDED_KEY_USAGE {
                let ParsedExtension::ExtendedKeyUsage(eku) = ext.parsed_extension() else {
                    return Err("extendedKeyUsage is malformed".into());
                };
                let has = |e| self.ext_key_usages.contains(&e);
                let same = eku.server_auth == has(ExtendedKeyUsage::ServerAuth)
                    && eku.client_auth == has(ExtendedKeyUsage::ClientAuth)
                    && eku.code_signing == has(ExtendedKeyUsage::CodeSigning)
                    && eku.email_protection == has(ExtendedKeyUsage::EmailProtection)
                    && eku.time_stamping == has(ExtendedKeyUsage::TimeStamping)
                    && eku.ocsp_signing == has(ExtendedKeyUsage::OcspSigning)
                    && !eku.any
                    && eku.other.is_empty();
                if ext.critical || !same || self.ext_key_usages.is_empty() {
                    return Err("extendedKeyUsage differs from the granted usages".into());
                }
            } else if *oid == OID_X509_EXT_SUBJECT_ALT_NAME {
                let ParsedExtension::SubjectAlternativeName(san) = ext.parsed_extension() else {
                    return Err("subjectAltName is malformed".into());
                };
                if ext.critical != self.common_name.is_none() {
                    return Err("subjectAltName must be critical exactly when the subject is empty".into());
                }
                if san_set(&san.general_names)? != self.names {
                    return Err("subjectAltName differs from the granted names".into());
                }
            } else if *oid == OID_X509_EXT_SUBJECT_KEY_IDENTIFIER {
                let ParsedExtension::SubjectKeyIdentifier(id) = ext.parsed_extension() else {
                    return Err("subjectKeyIdentifier is malformed".into());
                };
                if ext.critical || id.0 != key_identifier(&self.subject_key.spki_der).as_slice() {
                    return Err("subjectKeyIdentifier does not identify the subject key".into());
                }
            } else if *oid == OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER {
                let ParsedExtension::AuthorityKeyIdentifier(aki) = ext.parsed_extension() else {
                    return Err("authorityKeyIdentifier is malformed".into());
                };
                let want = self.issuer.ca.as_ref().map(|ca| ca.key_id.as_slice());
                let ok = !ext.critical
                    && aki.key_identifier.as_ref().map(|k| k.0) == want
                    && aki.authority_cert_issuer.is_none()
                    && aki.authority_cert_serial.is_none();
                if !ok {
                    return Err("authorityKeyIdentifier differs from the issuer's subjectKeyIdentifier".into());
                }
            } else if *oid == OID_PKIX_AUTHORITY_INFO_ACCESS {
                let ParsedExtension::AuthorityInfoAccess(aia) = ext.parsed_extension() else {
                    return Err("authorityInfoAccess is malformed".into());
                };
                let got: Vec<_> = aia.iter().map(|d| (d.access_method.to_id_string(), uri_of(&d.access_location))).collect();
                let want = self.urls.as_ref().map(|u| {
                    vec![
                        (OID_PKIX_ACCESS_DESCRIPTOR_OCSP.to_id_string(), Some(u.ocsp.as_str())),
                        (OID_PKIX_ACCESS_DESCRIPTOR_CA_ISSUERS.to_id_string(), Some(u.ca_issuers.as_str())),
                    ]
                });
                if ext.critical || want.as_ref() != Some(&got) {
                    return Err("authorityInfoAccess differs from the issuer's OCSP and caIssuers URLs".into());
                }
            } else if *oid == OID_X509_EXT_CRL_DISTRIBUTION_POINTS {
                let ParsedExtension::CRLDistributionPoints(dps) = ext.parsed_extension() else {
                    return Err("cRLDistributionPoints is malformed".into());
                };
                let got: Vec<Vec<Option<&str>>> = dps
                    .iter()
                    .map(|dp| match (&dp.distribution_point, &dp.reasons, &dp.crl_issuer) {
                        (Some(DistributionPointName::FullName(names)), None, None) => names.iter().map(uri_of).collect(),
                        _ => vec![None],
                    })
                    .collect();
                let want = self.urls.as_ref().map(|u| vec![vec![Some(u.crl.as_str())]]);
                if ext.critical || want != Some(got) {
                    return Err("cRLDistributionPoints differs from the issuer's CRL URL".into());
                }
            } else {
                return Err(format!("unexpected extension `{}`", oid.to_id_string()));
            }
        }
        let has = |oid| seen.contains(&oid);
        let missing = [
            (OID_X509_EXT_BASIC_CONSTRAINTS, true),
            (OID_X509_EXT_KEY_USAGE, true),
            (OID_X509_EXT_SUBJECT_KEY_IDENTIFIER, true),
            (OID_X509_EXT_EXTENDED_KEY_USAGE, !self.ext_key_usages.is_empty()),
            (OID_X509_EXT_SUBJECT_ALT_NAME, !self.names.is_empty()),
            (OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER, self.issuer.ca.is_some()),
            (OID_PKIX_AUTHORITY_INFO_ACCESS, self.urls.is_some()),
            (OID_X509_EXT_CRL_DISTRIBUTION_POINTS, self.urls.is_some()),
        ]
        .into_iter()
        .find(|(oid, wanted)| *wanted && !has(oid.clone()));
        match missing {
            Some((oid, _)) => Err(format!("extension `{}` is missing", oid.to_id_string())),
            None => Ok(()),
        }
    }
}

/// A serial number: positive, minimally encoded, at most 20 octets (RFC 5280 4.1.2.2).
fn check_serial(content: &[u8]) -> Result<(), String> {
    match content {
        [] => Err("the serial number is empty".into()),
        _ if content.len() > 20 => Err(format!("the serial number is {} octets; at most 20 are allowed", content.len())),
        [first, ..] if first & 0x80 != 0 => Err("the serial number is negative".into()),
        [0] => Err("the serial number is zero".into()),
        [0, second, ..] if second & 0x80 == 0 => Err("the serial number is not minimally encoded".into()),
        _ => Ok(()),
    }
}

/// x509-parser's KeyUsage bit layout (bit 0 = digitalSignature).
fn key_usage_flags(usages: &[KeyUsagePurpose]) -> u16 {
    usages
        .iter()
        .map(|u| match u {
            KeyUsagePurpose::DigitalSignature => 1 << 0,
            KeyUsagePurpose::ContentCommitment => 1 << 1,
            KeyUsagePurpose::KeyEncipherment => 1 << 2,
            KeyUsagePurpose::DataEncipherment => 1 << 3,
            KeyUsagePurpose::KeyAgreement => 1 << 4,
            KeyUsagePurpose::KeyCertSign => 1 << 5,
            KeyUsagePurpose::CrlSign => 1 << 6,
            KeyUsagePurpose::EncipherOnly => 1 << 7,
            KeyUsagePurpose::DecipherOnly => 1 << 8,
        })
        .fold(0, |a, b| a | b)
}

fn uri_of<'a>(name: &GeneralName<'a>) -> Option<&'a str> {
    match name {
        GeneralName::URI(u) => Some(u),
        _ => None,
    }
}

/// The SANs of a certificate, as a [`SanSet`] in certificate order per kind.
pub(crate) fn san_set(names: &[GeneralName<'_>]) -> Result<SanSet, String> {
    let mut out = SanSet::default();
    for n in names {
        match n {
            GeneralName::DNSName(d) => out.dns.push(d.to_string()),
            GeneralName::URI(u) => out.uri.push(u.to_string()),
            GeneralName::RFC822Name(e) => out.email.push(e.to_string()),
            GeneralName::IPAddress(b) => match b.len() {
                4 => out.ip.push(std::net::IpAddr::from(<[u8; 4]>::try_from(*b).map_err(|_| "bad IP")?)),
                16 => out.ip.push(std::net::IpAddr::from(<[u8; 16]>::try_from(*b).map_err(|_| "bad IP")?)),
                _ => return Err("a subjectAltName IP address is malformed".into()),
            },
            _ => return Err("a subjectAltName has an unexpected type".into()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_rules() {
        assert!(check_serial(&[0x40; 16]).is_ok());
        assert!(check_serial(&[0x00, 0x80]).is_ok());
        assert!(check_serial(&[0x01; 20]).is_ok());
        assert!(check_serial(&[0x01; 21]).is_err());
        assert!(check_serial(&[0x80]).is_err());
        assert!(check_serial(&[0x00]).is_err());
        assert!(check_serial(&[0x00, 0x01]).is_err());
        assert!(check_serial(&[]).is_err());
    }

    #[test]
    fn aia_is_der() {
        let v = aia_value(&Urls::for_issuer("https://h", "aut_1"));
        let outer = crate::der::split_tlv(&v).unwrap();
        assert_eq!(outer.tag, 0x30);
        assert!(outer.rest.is_empty());
    }
}
