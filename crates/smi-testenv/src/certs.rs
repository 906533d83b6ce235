//! Throw-away certificate authorities and certificates (ECDSA P-256, generated with rcgen).
//!
//! Certificates keep rcgen's default validity (1975 to 4096): they live only as long as one
//! test control plane.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::error::{Error, Result};

/// A certificate authority that can issue server and client certificates.
pub struct CertificateAuthority {
    name: String,
    cert_pem: String,
    cert_der: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The most organizations (Kubernetes groups) [`CertificateAuthority::issue_client`] can write.
pub const MAX_ORGANIZATIONS: usize = 2;

/// A certificate with its private key, in PEM and DER.
#[derive(Clone, Debug)]
pub struct IssuedCert {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PKCS#8 PEM.
    pub key_pem: String,
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
    /// The private key, PKCS#8 DER.
    pub key_der: Vec<u8>,
}

impl CertificateAuthority {
    /// Creates a self-signed CA whose subject common name is `name`.
    pub fn new(name: &str) -> Result<Self> {
        let what = || format!("certificate authority {name:?}");
        let mut params = CertificateParams::new(Vec::new()).map_err(|e| Error::cert(what(), e))?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
        ];
        let key = KeyPair::generate().map_err(|e| Error::cert(what(), e))?;
        let cert = params
            .self_signed(&key)
            .map_err(|e| Error::cert(what(), e))?;
        Ok(Self {
            name: name.to_owned(),
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA certificate, PEM (for a `caBundle` or `certificate-authority-data`).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate, DER (for a rustls root store).
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// Issues a server certificate for DNS names and IP addresses (`"127.0.0.1"`), the first
    /// one also being the common name.
    pub fn issue_server(&self, subject_alt_names: &[&str]) -> Result<IssuedCert> {
        let cn = subject_alt_names.first().copied().unwrap_or("server");
        let names: Vec<String> = subject_alt_names.iter().map(|s| (*s).to_owned()).collect();
        let what = || format!("server certificate for {names:?} from CA {:?}", self.name);
        let mut params =
            CertificateParams::new(names.clone()).map_err(|e| Error::cert(what(), e))?;
        params.distinguished_name.push(DnType::CommonName, cn);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params, what)
    }

    /// Issues a client certificate; Kubernetes reads the common name as the user name and the
    /// organizations as the groups.
    ///
    /// At most [`MAX_ORGANIZATIONS`] organizations: rcgen keeps one value per attribute type, so
    /// the second one is written under the same OID (2.5.4.10) as a custom attribute type.
    pub fn issue_client(&self, common_name: &str, organizations: &[&str]) -> Result<IssuedCert> {
        let what = || {
            format!(
                "client certificate for {common_name:?} from CA {:?}",
                self.name
            )
        };
        let mut params = CertificateParams::new(Vec::new()).map_err(|e| Error::cert(what(), e))?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        let org_types: [DnType; MAX_ORGANIZATIONS] = [
            DnType::OrganizationName,
            DnType::CustomDnType(vec![2, 5, 4, 10]),
        ];
        if organizations.len() > MAX_ORGANIZATIONS {
            return Err(Error::TooManyGroups {
                user: common_name.to_owned(),
                groups: organizations.len(),
            });
        }
        for (ty, org) in org_types.into_iter().zip(organizations) {
            params.distinguished_name.push(ty, *org);
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params, what)
    }

    fn sign(&self, mut params: CertificateParams, what: impl Fn() -> String) -> Result<IssuedCert> {
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().map_err(|e| Error::cert(what(), e))?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|e| Error::cert(what(), e))?;
        Ok(IssuedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().to_vec(),
            key_der: key.serialize_der(),
        })
    }
}

/// A key pair for signing service-account tokens: (private key PEM, public key PEM).
pub(crate) fn service_account_key_pair() -> Result<(String, String)> {
    let key = KeyPair::generate().map_err(|e| Error::cert("service-account signing key", e))?;
    Ok((key.serialize_pem(), key.public_key_pem()))
}
