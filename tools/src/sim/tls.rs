//! TLS for every simulator endpoint: a CA and a leaf for `127.0.0.1`/`localhost` generated with
//! rcgen at start (ring provider, no aws-lc), the CA written as PEM to a file clients trust.

use std::{fs, path::Path, sync::Arc};

use anyhow::{Context, Result};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::{
    crypto::ring::default_provider,
    pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer},
    ServerConfig,
};

/// A freshly generated CA and the server configuration presenting a leaf signed by it.
pub struct SimTls {
    /// The CA certificate, PEM (what `--write-config` points clients at).
    pub ca_pem: String,
    /// The CA certificate, DER (for in-process clients: `TlsRoots::Der`).
    pub ca_der: Vec<u8>,
    /// rustls server configuration (leaf + CA chain).
    pub server: Arc<ServerConfig>,
}

impl SimTls {
    /// Generates a CA and a leaf for the loopback names.
    ///
    /// # Errors
    /// Key generation or certificate signing failed (rcgen/rustls).
    pub fn generate() -> Result<Self> {
        let ca_key = KeyPair::generate().context("generate CA key")?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).context("CA params")?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Lyra venue simulator CA");
        let ca_cert = ca_params.self_signed(&ca_key).context("self-sign CA")?;
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate().context("generate leaf key")?;
        let leaf_params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
                .context("leaf params")?;
        let leaf = leaf_params
            .signed_by(&leaf_key, &issuer)
            .context("sign leaf")?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let server = ServerConfig::builder_with_provider(Arc::new(default_provider()))
            .with_safe_default_protocol_versions()
            .context("TLS versions")?
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone(), ca_cert.der().clone()], key)
            .context("server certificate")?;
        Ok(Self {
            ca_pem: ca_cert.pem(),
            ca_der: ca_cert.der().to_vec(),
            server: Arc::new(server),
        })
    }

    /// Writes the CA certificate (public, so mode 0644 is fine) to `path`.
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn write_ca(&self, path: &Path) -> Result<()> {
        fs::write(path, &self.ca_pem).with_context(|| format!("write CA to {}", path.display()))
    }
}
