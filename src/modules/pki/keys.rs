//! Private keys: the kinds we make, making them, reading them back, and naming a
//! public key. A private key only ever leaves this file inside a `Secret`.

use crate::modules::{ModResult, ModuleError};
use crate::secret::Secret;
use rcgen::{
    KeyPair, SignatureAlgorithm, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_RSA_SHA256,
};
use serde::{Deserialize, Deserializer};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

/// The key algorithms kubeadm offers: RSA (its default, 2048 bits) and ECDSA P-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Rsa,
    Ecdsa,
}

impl<'de> Deserialize<'de> for KeyType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        // community.crypto spells them RSA / ECC.
        match s.to_ascii_lowercase().as_str() {
            "rsa" => Ok(KeyType::Rsa),
            "ecdsa" | "ecc" | "ec" | "ecdsa-p256" | "p256" | "p-256" => Ok(KeyType::Ecdsa),
            other => Err(serde::de::Error::custom(format!(
                "key_type {other:?} is not supported: use rsa or ecdsa"
            ))),
        }
    }
}

/// What kind of key to make, and to expect on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySpec {
    pub kind: KeyType,
    /// Modulus size for RSA; unused for ECDSA (always P-256).
    pub rsa_bits: usize,
}

impl KeySpec {
    pub fn new(kind: Option<KeyType>, size: Option<usize>) -> ModResult<KeySpec> {
        let kind = kind.unwrap_or(KeyType::Rsa);
        let rsa_bits = match (kind, size) {
            (KeyType::Rsa, None) => 2048,
            (KeyType::Rsa, Some(n @ (2048 | 3072 | 4096))) => n,
            (KeyType::Rsa, Some(n)) => {
                return Err(ModuleError::new(format!(
                    "key_size {n} is not supported for rsa: use 2048, 3072 or 4096"
                )))
            }
            (KeyType::Ecdsa, None | Some(256)) => 0,
            (KeyType::Ecdsa, Some(n)) => {
                return Err(ModuleError::new(format!(
                    "key_size {n} is not supported for ecdsa: only P-256 (256)"
                )))
            }
        };
        Ok(KeySpec { kind, rsa_bits })
    }

    /// As `describe_spki` names an existing key, so the two compare.
    pub fn describe(&self) -> String {
        match self.kind {
            KeyType::Rsa => format!("rsa {}", self.rsa_bits),
            KeyType::Ecdsa => "ecdsa P-256".into(),
        }
    }

    /// A fresh key pair and its PKCS#8 PEM (the only copy of the private key, as a Secret).
    pub fn generate(&self) -> ModResult<(KeyPair, Secret)> {
        match self.kind {
            KeyType::Ecdsa => {
                let kp = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
                    .map_err(|e| ModuleError::new(format!("cannot generate an ECDSA key: {e}")))?;
                let pem = Secret::new(kp.serialize_pem());
                Ok((kp, pem))
            }
            KeyType::Rsa => generate_rsa(self.rsa_bits),
        }
    }
}

/// RSA keys come from the pure-Rust `rsa` crate, then go to rcgen as PKCS#8: rcgen on
/// ring signs with RSA but cannot generate RSA keys (only its aws-lc backend can, and
/// that one needs a C/CMake toolchain on every build machine). Running `openssl genrsa`
/// on the controller would make openssl a controller requirement and put a private key
/// through a child process for no gain. The `rsa` crate is already built for russh;
/// its known timing weakness (RUSTSEC-2023-0071) concerns decryption, which we never do:
/// we only generate here, and ring does the signing.
fn generate_rsa(bits: usize) -> ModResult<(KeyPair, Secret)> {
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    let mut rng = rand_rsa::rng();
    let key = rsa::RsaPrivateKey::new(&mut rng, bits)
        .map_err(|e| ModuleError::new(format!("cannot generate an RSA key: {e}")))?;
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| ModuleError::new(format!("cannot encode the RSA key: {e}")))?;
    let kp = KeyPair::from_pkcs8_pem_and_sign_algo(&pem, &PKCS_RSA_SHA256)
        .map_err(|e| ModuleError::new(format!("cannot load the generated RSA key: {e}")))?;
    Ok((kp, Secret::new(pem.as_str())))
}

/// Read a private key PEM (PKCS#8, or PKCS#1 "RSA PRIVATE KEY" as kubeadm and openssl
/// write them) into a signing key pair. Errors never quote the input.
pub fn load_private(pem_text: &str, what: &str) -> ModResult<KeyPair> {
    let bad = || {
        ModuleError::new(format!(
            "{what} is not a readable unencrypted private key (PKCS#8 or PKCS#1 PEM)"
        ))
    };
    let block = pem::parse(pem_text).map_err(|_| bad())?;
    let der: Vec<u8> = match block.tag() {
        "PRIVATE KEY" => block.contents().to_vec(),
        "RSA PRIVATE KEY" => {
            use rsa::pkcs1::DecodeRsaPrivateKey;
            use rsa::pkcs8::EncodePrivateKey;
            let k = rsa::RsaPrivateKey::from_pkcs1_der(block.contents()).map_err(|_| bad())?;
            k.to_pkcs8_der().map_err(|_| bad())?.as_bytes().to_vec()
        }
        _ => return Err(bad()),
    };
    let algs: [&'static SignatureAlgorithm; 3] = [
        &PKCS_ECDSA_P256_SHA256,
        &PKCS_ECDSA_P384_SHA384,
        &PKCS_RSA_SHA256,
    ];
    for alg in algs {
        if let Ok(kp) = KeyPair::from_pkcs8_der_and_sign_algo(&der.as_slice().into(), alg) {
            return Ok(kp);
        }
    }
    Err(bad())
}

/// The public key (SubjectPublicKeyInfo DER) of a private key PEM, or None when it
/// cannot be read. Used only when the host has no openssl to tell us.
pub fn public_of_private(pem_text: &str) -> Option<Vec<u8>> {
    load_private(pem_text, "key")
        .ok()
        .map(|kp| kp.public_key_der())
}

/// A `PUBLIC KEY` PEM for a SubjectPublicKeyInfo DER (openssl's `-pubout` layout).
pub fn public_pem(spki_der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new("PUBLIC KEY", spki_der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// The SubjectPublicKeyInfo DER in a `PUBLIC KEY` PEM text, if it holds one.
pub fn spki_from_public_pem(text: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(text).ok()?;
    let block = pem::parse(text).ok()?;
    (block.tag() == "PUBLIC KEY").then(|| block.contents().to_vec())
}

/// The parts of a public key that identify it: algorithm and key bits (so two DER
/// encodings of the same key compare equal).
pub fn same_public_key(a: &[u8], b: &[u8]) -> bool {
    match (
        SubjectPublicKeyInfo::from_der(a),
        SubjectPublicKeyInfo::from_der(b),
    ) {
        (Ok((_, x)), Ok((_, y))) => {
            x.algorithm.algorithm == y.algorithm.algorithm
                && x.subject_public_key.data == y.subject_public_key.data
        }
        _ => false,
    }
}

/// "rsa 2048", "ecdsa P-256"... for a SubjectPublicKeyInfo DER.
pub fn describe_spki(spki_der: &[u8]) -> String {
    match SubjectPublicKeyInfo::from_der(spki_der) {
        Ok((_, spki)) => describe_parsed(&spki),
        Err(_) => "unreadable key".into(),
    }
}

pub fn describe_parsed(spki: &SubjectPublicKeyInfo) -> String {
    use x509_parser::oid_registry::{OID_EC_P256, OID_NIST_EC_P384};
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => format!("rsa {}", rsa.key_size()),
        Ok(PublicKey::EC(_)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok());
            match curve {
                Some(c) if c == OID_EC_P256 => "ecdsa P-256".into(),
                Some(c) if c == OID_NIST_EC_P384 => "ecdsa P-384".into(),
                Some(c) => format!("ecdsa {c}"),
                None => "ecdsa".into(),
            }
        }
        Ok(_) => format!("{} key", spki.algorithm.algorithm),
        Err(_) => "unreadable key".into(),
    }
}

/// Short fingerprint of a public key, to tell keys apart in a change summary.
pub fn fingerprint(spki_der: &[u8]) -> String {
    let hex = crate::modules::fileprobe::sha256_hex(spki_der);
    format!("sha256:{}", &hex[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_both_kinds_and_reads_them_back() {
        for (spec, want) in [
            (KeySpec::new(Some(KeyType::Rsa), None).unwrap(), "rsa 2048"),
            (
                KeySpec::new(Some(KeyType::Ecdsa), None).unwrap(),
                "ecdsa P-256",
            ),
        ] {
            let (kp, pem) = spec.generate().unwrap();
            assert!(pem.expose().starts_with("-----BEGIN PRIVATE KEY-----"));
            assert_eq!(describe_spki(&kp.public_key_der()), want);
            assert_eq!(spec.describe(), want);
            let back = load_private(pem.expose(), "k").unwrap();
            assert!(same_public_key(
                &back.public_key_der(),
                &kp.public_key_der()
            ));
            assert_eq!(
                public_of_private(pem.expose()).unwrap(),
                kp.public_key_der()
            );
            let pubpem = public_pem(&kp.public_key_der());
            assert_eq!(
                spki_from_public_pem(pubpem.as_bytes()).unwrap(),
                kp.public_key_der()
            );
        }
    }

    #[test]
    fn reads_pkcs1_rsa_keys_as_openssl_and_kubeadm_write_them() {
        use rsa::pkcs1::{EncodeRsaPrivateKey, LineEnding};
        let k = rsa::RsaPrivateKey::new(&mut rand_rsa::rng(), 2048).unwrap();
        let pem = k.to_pkcs1_pem(LineEnding::LF).unwrap();
        assert!(pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        let kp = load_private(&pem, "k").unwrap();
        assert_eq!(describe_spki(&kp.public_key_der()), "rsa 2048");
    }

    #[test]
    fn bad_keys_are_named_not_quoted() {
        let e = load_private(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            "ca.key",
        )
        .unwrap_err();
        assert!(e.0.starts_with("ca.key is not"));
        assert!(!e.0.contains("AAAA"));
        assert!(KeySpec::new(Some(KeyType::Rsa), Some(1024)).is_err());
        assert!(KeySpec::new(Some(KeyType::Ecdsa), Some(384)).is_err());
    }
}
