//! Opening an SSH connection as OpenSSH's `ssh` would: the transport (TCP, ProxyCommand,
//! or a channel through the previous ProxyJump hop), the host-key policy, and
//! authentication in OpenSSH's order (agent, keys, keyboard-interactive, password).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use russh::cipher::ALL_CIPHERS;
use russh::client::{self, AuthResult, Handle, KeyboardInteractiveAuthResponse};
use russh::kex::ALL_KEX_ALGORITHMS;
use russh::keys::{PrivateKeyWithHashAlg, PublicKey};
use russh::mac::ALL_MAC_ALGORITHMS;
use russh::{Channel, ChannelMsg, MethodKind};
use zeroize::Zeroizing;

use super::algorithms;
use super::config::{HostConfig, StrictHostKeyChecking};
use super::error::{Ask, SshError};
use super::known_hosts::{self, HostKey, Verdict};

/// What the host-key check decided, kept for the error message when it refused.
#[derive(Debug, Clone)]
pub enum KeyDecision {
    Accepted,
    Refused(String),
}

pub struct Client {
    pub label: String,
    pub hostname: String,
    pub port: u16,
    pub config: Arc<HostConfig>,
    pub ask: Ask,
    pub decision: Arc<Mutex<Option<KeyDecision>>>,
    pub notes: Arc<Mutex<Vec<String>>>,
    pub forward_agent: bool,
}

fn read_files(paths: &[PathBuf]) -> Vec<(PathBuf, String)> {
    paths
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok().map(|t| (p.clone(), t)))
        .collect()
}

impl Client {
    fn decide(&self, d: KeyDecision) -> bool {
        let ok = matches!(d, KeyDecision::Accepted);
        if let Ok(mut slot) = self.decision.lock() {
            *slot = Some(d);
        }
        ok
    }

    fn note(&self, n: String) {
        if let Ok(mut v) = self.notes.lock() {
            v.push(n);
        }
    }

    /// Append the key to the first user known_hosts file, in OpenSSH's format.
    fn remember(&self, key: &HostKey) -> Result<(), String> {
        let Some(file) = self.config.user_known_hosts_files.first() else {
            return Err("no UserKnownHostsFile to record the key in".into());
        };
        let mut salt = [0u8; 20];
        rand::Rng::fill_bytes(&mut rand::rng(), &mut salt);
        let line = known_hosts::entry(
            &self.hostname,
            self.port,
            key,
            self.config.hash_known_hosts,
            salt,
        );
        if let Some(dir) = file.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        use std::io::{Read, Seek, SeekFrom, Write};
        std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(file)
            .and_then(|mut f| {
                // A hand-edited file may lack its final newline: our entry must be a line of
                // its own, or it would be glued onto (and damage) the last entry.
                let mut last = [0u8; 1];
                let glued = f.seek(SeekFrom::End(0))? > 0
                    && f.seek(SeekFrom::End(-1))
                        .and_then(|_| f.read_exact(&mut last))
                        .is_ok()
                    && last[0] != b'\n';
                let text = if glued { format!("\n{line}") } else { line };
                f.write_all(text.as_bytes())
            })
            .map_err(|e| format!("cannot append to {}: {e}", file.display()))
    }

    async fn check_key(&self, key: &PublicKey) -> bool {
        let host_key = HostKey {
            algorithm: key.algorithm().as_str().to_owned(),
            blob: key.to_bytes().unwrap_or_default(),
        };
        let fp = known_hosts::fingerprint(&host_key.blob);
        if let Some(bits) = rsa_bits(key)
            && bits < self.config.required_rsa_size
        {
            return self.decide(KeyDecision::Refused(format!(
                "the RSA host key of {} ({fp}) has {bits} bits, fewer than RequiredRSASize {}; refusing to connect",
                self.label, self.config.required_rsa_size
            )));
        }
        let mut files = read_files(&self.config.user_known_hosts_files);
        files.extend(read_files(&self.config.global_known_hosts_files));
        match known_hosts::check(&files, &self.hostname, self.port, &host_key) {
            Verdict::Known { .. } => self.decide(KeyDecision::Accepted),
            Verdict::Changed { file, line } => self.decide(KeyDecision::Refused(format!(
                "the host key for {} has CHANGED (known_hosts {} line {line}); the new key is {} {fp}. Someone may be intercepting the connection, or the host was reinstalled. Refusing to connect: check with the host's administrator, then remove the old line",
                self.label,
                file.display(),
                host_key.algorithm
            ))),
            Verdict::Revoked { file, line } => self.decide(KeyDecision::Refused(format!(
                "the host key {fp} of {} is marked @revoked in {} line {line}; refusing to connect",
                self.label,
                file.display()
            ))),
            Verdict::Unknown => match self.config.strict_host_key_checking {
                StrictHostKeyChecking::Yes => self.decide(KeyDecision::Refused(format!(
                    "the host key of {} is not known ({} {fp}) and StrictHostKeyChecking is yes; add it to {} first",
                    self.label,
                    host_key.algorithm,
                    self.config
                        .user_known_hosts_files
                        .first()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                ))),
                StrictHostKeyChecking::No => {
                    self.note(format!(
                        "warning: the host key of {} ({} {fp}) is not verified (StrictHostKeyChecking no)",
                        self.label, host_key.algorithm
                    ));
                    self.decide(KeyDecision::Accepted)
                }
                StrictHostKeyChecking::AcceptNew => match self.remember(&host_key) {
                    Ok(()) => {
                        self.note(format!(
                            "added the host key of {} ({} {fp}) to known_hosts",
                            self.label, host_key.algorithm
                        ));
                        self.decide(KeyDecision::Accepted)
                    }
                    Err(e) => self.decide(KeyDecision::Refused(e)),
                },
                // ssh: with BatchMode nobody is asked, and an unknown key fails the login.
                StrictHostKeyChecking::Ask if self.config.batch_mode => {
                    self.decide(KeyDecision::Refused(format!(
                        "Host key verification failed: the host key of {} is not known ({} {fp}) and BatchMode is yes, so it is not asked about; add it to {} first, or set StrictHostKeyChecking accept-new for this host",
                        self.label,
                        host_key.algorithm,
                        self.config
                            .user_known_hosts_files
                            .first()
                            .map(|p| p.display().to_string())
                            .unwrap_or_else(|| "known_hosts".into())
                    )))
                }
                StrictHostKeyChecking::Ask => {
                    let q = format!(
                        "The authenticity of host {} can't be established; its {} key fingerprint is {fp}. accept {fp} for {}? (yes/no)",
                        self.label, host_key.algorithm, self.label
                    );
                    match (self.ask)(q, false).await {
                        Some(a) if a.trim().eq_ignore_ascii_case("yes") => match self.remember(&host_key) {
                            Ok(()) => self.decide(KeyDecision::Accepted),
                            Err(e) => self.decide(KeyDecision::Refused(e)),
                        },
                        Some(_) => self.decide(KeyDecision::Refused(format!(
                            "the host key of {} was not accepted",
                            self.label
                        ))),
                        None => self.decide(KeyDecision::Refused(format!(
                            "the host key of {} is not known ({} {fp}) and this client cannot answer questions (no stdin); add it to known_hosts, or set StrictHostKeyChecking accept-new for this host",
                            self.label, host_key.algorithm
                        ))),
                    }
                }
            },
        }
    }
}

impl Client {
    /// A host certificate, as ssh checks one (sshconnect.c `check_host_key`): signed by a
    /// `@cert-authority` covering this host, it must be a valid host certificate for this
    /// name, now; signed by no such authority, the key inside it is checked as a plain key.
    async fn check_certificate(&self, cert: &russh::keys::Certificate) -> bool {
        let mut files = read_files(&self.config.user_known_hosts_files);
        files.extend(read_files(&self.config.global_known_hosts_files));
        let ca = PublicKey::new(cert.signature_key().clone(), "");
        let ca_blob = ca.to_bytes().unwrap_or_default();
        let ca_fp = known_hosts::fingerprint(&ca_blob);
        if let Some((file, line)) = known_hosts::revoked(&files, &ca_blob) {
            return self.decide(KeyDecision::Refused(format!(
                "the host certificate of {} is signed by the authority {ca_fp}, which is marked @revoked in {} line {line}; refusing to connect",
                self.label,
                file.display()
            )));
        }
        let trusted = known_hosts::cert_authorities(&files, &self.hostname, self.port)
            .iter()
            .any(|k| k.blob == ca_blob);
        let signed_with = cert.signature().algorithm();
        if trusted
            && let Some(allowed) = signature_list(&self.config.algorithms.ca_signature, false)
            && !allowed.iter().any(|n| n == signed_with.as_str())
        {
            return self.decide(KeyDecision::Refused(format!(
                "the host certificate of {} is signed with {}, which CASignatureAlgorithms does not allow; refusing to connect",
                self.label,
                signed_with.as_str()
            )));
        }
        if !trusted {
            // As ssh: no authority vouches for it, so it is only a key.
            return self
                .check_key(&PublicKey::new(cert.public_key().clone(), ""))
                .await;
        }
        let key_blob = PublicKey::new(cert.public_key().clone(), "")
            .to_bytes()
            .unwrap_or_default();
        if let Some((file, line)) = known_hosts::revoked(&files, &key_blob) {
            return self.decide(KeyDecision::Refused(format!(
                "the host key {} of {} is marked @revoked in {} line {line}; refusing to connect",
                known_hosts::fingerprint(&key_blob),
                self.label,
                file.display()
            )));
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        match known_hosts::host_certificate_problem(cert, &self.hostname, now) {
            None => self.decide(KeyDecision::Accepted),
            Some(why) => self.decide(KeyDecision::Refused(format!(
                "the host certificate of {} (signed by the @cert-authority {ca_fp}) is not valid: {why}; refusing to connect",
                self.label
            ))),
        }
    }
}

impl client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        match key {
            russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } => {
                Ok(self.check_key(key).await)
            }
            russh::keys::PublicKeyOrCertificate::Certificate(cert) => {
                Ok(self.check_certificate(cert).await)
            }
        }
    }

    async fn server_channel_open_agent_forward(
        &mut self,
        channel: Channel<client::Msg>,
        reply: client::ChannelOpenHandle,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        let Some(sock) = self
            .forward_agent
            .then(|| std::env::var_os("SSH_AUTH_SOCK"))
            .flatten()
        else {
            return Ok(()); // dropping `reply` rejects the channel
        };
        reply.accept().await;
        tokio::spawn(async move {
            if let Ok(mut agent) = tokio::net::UnixStream::connect(&sock).await {
                let mut stream = channel.into_stream();
                let _ = tokio::io::copy_bidirectional(&mut stream, &mut agent).await;
            }
        });
        Ok(())
    }
}

/// ConnectTimeout 0 means none, as in OpenSSH; a day stands for that.
pub fn bound(t: std::time::Duration) -> std::time::Duration {
    if t.is_zero() {
        std::time::Duration::from_secs(86_400)
    } else {
        t
    }
}

/// Host-certificate algorithms, offered (ahead of plain keys) only to hosts that a
/// `@cert-authority` line covers: a certificate is of use only where an authority is known,
/// and other hosts see the same offer as before.
const HOST_CERTIFICATES: &[russh::keys::Algorithm] = &[
    russh::keys::Algorithm::Ed25519,
    russh::keys::Algorithm::Ecdsa {
        curve: russh::keys::EcdsaCurve::NistP256,
    },
    russh::keys::Algorithm::Ecdsa {
        curve: russh::keys::EcdsaCurve::NistP384,
    },
    russh::keys::Algorithm::Ecdsa {
        curve: russh::keys::EcdsaCurve::NistP521,
    },
    russh::keys::Algorithm::Rsa {
        hash: Some(russh::keys::HashAlg::Sha512),
    },
    russh::keys::Algorithm::Rsa {
        hash: Some(russh::keys::HashAlg::Sha256),
    },
];

/// OpenSSH 9.x's default PubkeyAcceptedAlgorithms and CASignatureAlgorithms (myproposal.h),
/// without the security-key (`sk-`) ones sshpty cannot use; `ssh-rsa` (SHA-1) is known but
/// not among the defaults, as in OpenSSH.
const OPENSSH_SIGNATURES: &[&str] = &[
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
    "rsa-sha2-256",
];

/// PubkeyAcceptedAlgorithms or CASignatureAlgorithms as a list of names, None when unset
/// (then sshpty restricts nothing, as before). Certificate names are the plain names
/// followed by `-cert-v01@openssh.com`.
fn signature_list(spec: &Option<String>, with_certs: bool) -> Option<Vec<String>> {
    let spec = spec.as_ref()?;
    let mut default: Vec<String> = Vec::new();
    if with_certs {
        default.extend(
            OPENSSH_SIGNATURES
                .iter()
                .map(|n| format!("{n}-cert-v01@openssh.com")),
        );
    }
    default.extend(OPENSSH_SIGNATURES.iter().map(|n| n.to_string()));
    let mut supported = default.clone();
    supported.push("ssh-rsa".into());
    if with_certs {
        supported.push("ssh-rsa-cert-v01@openssh.com".into());
    }
    let d: Vec<&str> = default.iter().map(String::as_str).collect();
    let s: Vec<&str> = supported.iter().map(String::as_str).collect();
    Some(algorithms::assemble(spec, &d, &s))
}

/// The signature algorithm a key is offered with: RSA keys sign with the hash the server
/// takes (`rsa_hash`), others with their own.
fn offered_as(key: &PublicKey, rsa_hash: Option<russh::keys::HashAlg>, cert: bool) -> String {
    let alg = key.algorithm();
    let alg = if key.algorithm().is_rsa() {
        russh::keys::Algorithm::Rsa { hash: rsa_hash }
    } else {
        alg
    };
    if cert {
        alg.to_certificate_type()
    } else {
        alg.as_str().to_string()
    }
}

fn rsa_bits(key: &PublicKey) -> Option<u32> {
    key.key_data().rsa().map(|k| k.key_size())
}

/// What russh offers, restricted by Ciphers, MACs, KexAlgorithms and HostKeyAlgorithms
/// (`algorithms::assemble`: OpenSSH's list syntax over russh's defaults and names). A list
/// that leaves nothing is refused, as ssh refuses it ("Bad SSH2 cipher spec").
pub fn preferred(c: &HostConfig, cert_authority: bool) -> Result<russh::Preferred, SshError> {
    use std::borrow::Cow;
    let default = russh::Preferred::default();
    let mut p = default.clone();
    let a = &c.algorithms;
    if let Some(list) = restrict("Ciphers", &a.ciphers, &default.cipher, ALL_CIPHERS)? {
        p.cipher = Cow::Owned(list);
    }
    if let Some(list) = restrict("MACs", &a.macs, &default.mac, ALL_MAC_ALGORITHMS)? {
        p.mac = Cow::Owned(list);
    }
    if let Some(mut list) = restrict("KexAlgorithms", &a.kex, &default.kex, ALL_KEX_ALGORITHMS)? {
        // russh's kex list also carries the extension markers (ext-info-c, strict kex): they
        // are no algorithms, and are kept whatever the list says, as ssh adds its own.
        list.extend(
            default
                .kex
                .iter()
                .filter(|n| !ALL_KEX_ALGORITHMS.contains(n)),
        );
        p.kex = Cow::Owned(list);
    }
    if cert_authority {
        p.host_key_certificates = Cow::Borrowed(HOST_CERTIFICATES);
    }
    // Plain key names and their certificate names (`...-cert-v01@openssh.com`) share the list.
    let cert_name = |alg: &russh::keys::Algorithm| alg.to_certificate_type().to_string();
    let mut key_names: Vec<String> = default.key.iter().map(|k| k.as_str().to_string()).collect();
    key_names.extend(HOST_CERTIFICATES.iter().map(cert_name));
    let key_default: Vec<String> = default
        .key
        .iter()
        .map(|k| k.as_str().to_string())
        .chain(p.host_key_certificates.iter().map(cert_name))
        .collect();
    if let Some(list) = pick("HostKeyAlgorithms", &a.host_keys, &key_default, &key_names)? {
        p.key = Cow::Owned(
            list.iter()
                .filter_map(|n| default.key.iter().find(|k| k.as_str() == n))
                .cloned()
                .collect(),
        );
        p.host_key_certificates = Cow::Owned(
            HOST_CERTIFICATES
                .iter()
                .filter(|k| cert_authority && list.contains(&cert_name(k)))
                .cloned()
                .collect(),
        );
    }
    Ok(p)
}

/// `spec` (OpenSSH's list syntax, `algorithms::assemble`) over `default` and `supported`:
/// the names it leaves, `None` when the directive is not set, an error when it leaves none.
fn pick(
    directive: &'static str,
    spec: &Option<String>,
    default: &[String],
    supported: &[String],
) -> Result<Option<Vec<String>>, SshError> {
    let Some(spec) = spec else { return Ok(None) };
    let d: Vec<&str> = default.iter().map(String::as_str).collect();
    let s: Vec<&str> = supported.iter().map(String::as_str).collect();
    let out = algorithms::assemble(spec, &d, &s);
    if out.is_empty() {
        return Err(SshError::NoAlgorithms {
            directive,
            spec: spec.clone(),
            supported: supported.join(","),
        });
    }
    Ok(Some(out))
}

/// [`pick`] for one of russh's algorithm kinds: `all` its names (less `none` and `clear`,
/// never offered), `default` its list (only the algorithms in `all` count).
fn restrict<N: AsRef<str> + Copy + PartialEq>(
    directive: &'static str,
    spec: &Option<String>,
    default: &[N],
    all: &[&N],
) -> Result<Option<Vec<N>>, SshError> {
    let all: Vec<N> = all
        .iter()
        .map(|n| **n)
        .filter(|n| !matches!(n.as_ref(), "none" | "clear"))
        .collect();
    let names = |v: &mut dyn Iterator<Item = &N>| v.map(|n| n.as_ref().to_string()).collect();
    let default: Vec<String> = names(&mut default.iter().filter(|n| all.contains(n)));
    let supported: Vec<String> = names(&mut all.iter());
    let Some(list) = pick(directive, spec, &default, &supported)? else {
        return Ok(None);
    };
    Ok(Some(
        list.iter()
            .filter_map(|n| all.iter().find(|a| a.as_ref() == n))
            .copied()
            .collect(),
    ))
}

pub fn russh_config(c: &HostConfig) -> Result<Arc<client::Config>, SshError> {
    let mut files = read_files(&c.user_known_hosts_files);
    files.extend(read_files(&c.global_known_hosts_files));
    let preferred = preferred(
        c,
        known_hosts::has_cert_authority(&files, &c.hostname, c.port),
    )?;
    Ok(Arc::new(client::Config {
        preferred,
        // An idle notebook stays logged in for hours: no inactivity timeout; liveness
        // comes from keepalives (ServerAliveInterval × ServerAliveCountMax).
        inactivity_timeout: None,
        keepalive_interval: Some(c.server_alive_interval).filter(|d| !d.is_zero()),
        keepalive_max: c.server_alive_count_max.max(1) as usize,
        nodelay: true,
        ..Default::default()
    }))
}

/// Connect one hop over `stream` and authenticate.
pub async fn handshake<S>(
    stream: S,
    config: Arc<HostConfig>,
    ask: Ask,
    notes: Arc<Mutex<Vec<String>>>,
    label: String,
) -> Result<Handle<Client>, SshError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    // BatchMode: no question reaches the user, whatever asks it.
    let ask: Ask = if config.batch_mode {
        Arc::new(|_, _| Box::pin(async { None }))
    } else {
        ask
    };
    let decision = Arc::new(Mutex::new(None));
    let client = Client {
        label: label.clone(),
        hostname: config.hostname.clone(),
        port: config.port,
        config: config.clone(),
        ask: ask.clone(),
        decision: decision.clone(),
        notes,
        forward_agent: config.forward_agent,
    };
    // ConnectTimeout covers the banner and key exchange, as in OpenSSH: a listener that
    // never speaks must not hold the cell.
    let connected = tokio::time::timeout(
        bound(config.connect_timeout),
        client::connect_stream(russh_config(&config)?, stream, client),
    )
    .await;
    let mut handle = match connected {
        Err(_) => {
            return Err(SshError::HandshakeTimeout {
                label,
                secs: config.connect_timeout.as_secs(),
            });
        }
        Ok(Err(e)) => {
            let refused = decision.lock().ok().and_then(|d| d.clone());
            return Err(match refused {
                Some(KeyDecision::Refused(reason)) => SshError::HostKey { reason },
                _ => SshError::Handshake { label, source: e },
            });
        }
        Ok(Ok(h)) => h,
    };
    authenticate(&mut handle, &config, &ask, &label).await?;
    Ok(handle)
}

fn can(methods: &Option<russh::MethodSet>, kind: MethodKind) -> bool {
    methods.as_ref().is_none_or(|m| m.contains(&kind))
}

async fn authenticate(
    h: &mut Handle<Client>,
    c: &HostConfig,
    ask: &Ask,
    label: &str,
) -> Result<(), SshError> {
    let user = c.user.clone();
    let fail = |source: russh::Error| SshError::Auth {
        label: label.to_owned(),
        source,
    };
    // What the server still accepts (None until a first failure tells us).
    let mut methods: Option<russh::MethodSet> = None;
    let mut tried = Vec::new();
    let record = |r: AuthResult, methods: &mut Option<russh::MethodSet>| -> bool {
        match r {
            AuthResult::Success => true,
            AuthResult::Failure {
                remaining_methods, ..
            } => {
                *methods = Some(remaining_methods);
                false
            }
        }
    };
    let rsa_hash = h.best_supported_rsa_hash().await.ok().flatten().flatten();
    // PubkeyAcceptedAlgorithms: a key whose signature it does not list is not offered.
    let accepted = signature_list(&c.algorithms.pubkey, true);
    let allowed = |key: &PublicKey, cert: bool| {
        accepted
            .as_ref()
            .is_none_or(|list| list.contains(&offered_as(key, rsa_hash, cert)))
    };

    // 1. The agent.
    if can(&methods, MethodKind::PublicKey)
        && let Ok(mut agent) = russh::keys::agent::client::AgentClient::connect_env().await
        && let Ok(ids) = agent.request_identities().await
    {
        tried.push("agent");
        for id in ids {
            let key = id.public_key().into_owned();
            if (c.identities_only && !identity_listed(c, &key)) || !allowed(&key, false) {
                continue;
            }
            let hash = if key.algorithm().is_rsa() {
                rsa_hash
            } else {
                None
            };
            if let Ok(r) = h
                .authenticate_publickey_with(&user, key, hash, &mut agent)
                .await
                && record(r, &mut methods)
            {
                return Ok(());
            }
        }
    }

    // 2. Key files (and their certificates), asking for passphrases.
    for path in &c.identity_files {
        if !can(&methods, MethodKind::PublicKey) {
            break;
        }
        if !path.exists() {
            continue;
        }
        tried.push("publickey");
        let key = match russh::keys::load_secret_key(path, None) {
            Ok(k) => k,
            // BatchMode: no passphrase is asked for (ssh skips the key the same way).
            Err(russh::keys::Error::KeyIsEncrypted) if c.batch_mode => {
                log::info!("BatchMode: skipping the encrypted key {}", path.display());
                continue;
            }
            Err(russh::keys::Error::KeyIsEncrypted) => {
                let q = format!("Enter passphrase for key '{}':", path.display());
                let Some(pass) = ask(q, true).await.map(Zeroizing::new) else {
                    continue;
                };
                match russh::keys::load_secret_key(path, Some(&pass)) {
                    Ok(k) => k,
                    Err(_) => {
                        return Err(SshError::WrongPassphrase {
                            label: label.to_owned(),
                            path: path.clone(),
                        });
                    }
                }
            }
            Err(e) => {
                log::info!("skipping key {}: {e}", path.display());
                continue;
            }
        };
        if let Some(bits) = key.public_key().key_data().rsa().map(|k| k.key_size())
            && bits < c.required_rsa_size
        {
            log::info!(
                "skipping key {}: {bits} bits, under RequiredRSASize {}",
                path.display(),
                c.required_rsa_size
            );
            continue;
        }
        let key = Arc::new(key);
        let cert_path = cert_path_for(c, path);
        if let Some(cert) = cert_path.and_then(|p| std::fs::read_to_string(p).ok())
            && allowed(key.public_key(), true)
            && let Ok(cert) = russh::keys::Certificate::from_openssh(cert.trim())
            && let Ok(r) = h.authenticate_openssh_cert(&user, key.clone(), cert).await
            && record(r, &mut methods)
        {
            return Ok(());
        }
        if !allowed(key.public_key(), false) {
            continue;
        }
        let hash = if key.algorithm().is_rsa() {
            rsa_hash
        } else {
            None
        };
        let r = h
            .authenticate_publickey(&user, PrivateKeyWithHashAlg::new(key, hash))
            .await
            .map_err(fail)?;
        if record(r, &mut methods) {
            return Ok(());
        }
    }

    // 3. Keyboard-interactive: each server prompt shown with its own text. Under BatchMode
    //    neither it nor the password is tried: both are questions.
    if !c.batch_mode && can(&methods, MethodKind::KeyboardInteractive) {
        tried.push("keyboard-interactive");
        let mut resp = h
            .authenticate_keyboard_interactive_start(&user, None::<String>)
            .await
            .map_err(fail)?;
        for _round in 0..8 {
            match resp {
                KeyboardInteractiveAuthResponse::Success => return Ok(()),
                KeyboardInteractiveAuthResponse::Failure {
                    remaining_methods, ..
                } => {
                    methods = Some(remaining_methods);
                    break;
                }
                KeyboardInteractiveAuthResponse::InfoRequest {
                    name,
                    instructions,
                    prompts,
                } => {
                    let mut answers = Vec::new();
                    for p in &prompts {
                        let mut q = String::new();
                        for part in [&name, &instructions] {
                            if !part.trim().is_empty() {
                                q.push_str(part.trim());
                                q.push(' ');
                            }
                        }
                        q.push_str(p.prompt.trim_end());
                        let Some(a) = ask(format!("{label}: {q}"), !p.echo).await else {
                            return Err(no_stdin(label, &tried));
                        };
                        answers.push(a);
                    }
                    resp = h
                        .authenticate_keyboard_interactive_respond(answers)
                        .await
                        .map_err(fail)?;
                }
            }
        }
    }

    // 4. Password, three tries as ssh gives.
    if !c.batch_mode && can(&methods, MethodKind::Password) {
        tried.push("password");
        for _ in 0..3 {
            let Some(pass) = ask(format!("{user}@{}'s password:", c.hostname), true)
                .await
                .map(Zeroizing::new)
            else {
                return Err(no_stdin(label, &tried));
            };
            let r = h
                .authenticate_password(&user, pass.as_str())
                .await
                .map_err(fail)?;
            if record(r, &mut methods) {
                return Ok(());
            }
            if !can(&methods, MethodKind::Password) {
                break;
            }
        }
    }
    // Nothing was tried (no agent, no key file, BatchMode): ask the server which methods it
    // takes, as ssh's first "none" request does, so the error can say what it offers.
    if methods.is_none()
        && let Ok(r) = h.authenticate_none(&user).await
        && record(r, &mut methods)
    {
        return Ok(());
    }
    Err(SshError::PermissionDenied {
        label: label.to_owned(),
        user,
        tried,
        batch_mode: c.batch_mode,
        gssapi_offered: methods
            .as_ref()
            .is_some_and(|m| m.contains(&MethodKind::GssapiWithMic)),
    })
}

fn no_stdin(label: &str, tried: &[&'static str]) -> SshError {
    SshError::NoStdin {
        label: label.to_owned(),
        tried: tried.to_vec(),
    }
}

fn identity_listed(c: &HostConfig, key: &PublicKey) -> bool {
    let blob = key.to_bytes().unwrap_or_default();
    c.identity_files.iter().any(|p| {
        let pubp = PathBuf::from(format!("{}.pub", p.display()));
        std::fs::read_to_string(pubp)
            .ok()
            .and_then(|t| known_hosts::parse_public_key_line(t.trim()))
            .is_some_and(|k| k.blob == blob)
    })
}

/// CertificateFile if given (first), else OpenSSH's `<key>-cert.pub`.
fn cert_path_for(c: &HostConfig, key: &Path) -> Option<PathBuf> {
    if let Some(first) = c.certificate_files.first() {
        return Some(first.clone());
    }
    let p = PathBuf::from(format!("{}-cert.pub", key.display()));
    p.exists().then_some(p)
}

/// Run a command on an open connection without a PTY, feeding stdin; collect output.
pub async fn exec(
    h: &Handle<Client>,
    command: &str,
    stdin: &[u8],
    limit: usize,
) -> Result<(Vec<u8>, Vec<u8>, Option<u32>, Option<String>), russh::Error> {
    let mut ch = h.channel_open_session().await?;
    ch.exec(false, command).await?;
    if !stdin.is_empty() {
        ch.data_bytes(bytes::Bytes::copy_from_slice(stdin)).await?;
    }
    ch.eof().await?;
    let (mut out, mut err, mut status, mut signal) = (Vec::new(), Vec::new(), None, None);
    while let Some(msg) = ch.wait().await {
        match msg {
            ChannelMsg::Data { data } if out.len() < limit => out.extend_from_slice(&data),
            ChannelMsg::ExtendedData { data, .. } if err.len() < limit => {
                err.extend_from_slice(&data)
            }
            ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
            ChannelMsg::ExitSignal { signal_name, .. } => signal = Some(sig_name(&signal_name)),
            ChannelMsg::Close => break,
            _ => {}
        }
    }
    Ok((out, err, status, signal))
}

pub fn sig_name(s: &russh::Sig) -> String {
    match s {
        russh::Sig::Custom(n) => n.clone(),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ssh::config::resolve_text as config;

    fn names<T: AsRef<str>>(v: &[T]) -> Vec<&str> {
        v.iter().map(AsRef::as_ref).collect()
    }

    #[test]
    fn fedora_default_policy_restricts_what_russh_offers() {
        let policy = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(
            "../../tests/data/ssh_config/fedora-40/etc/crypto-policies/back-ends/openssh.config",
        ))
        .expect("test data");
        let p = preferred(&config(&policy), false).expect("usable");
        // The policy's order; russh has all five.
        assert_eq!(
            names(&p.cipher),
            [
                "aes256-gcm@openssh.com",
                "chacha20-poly1305@openssh.com",
                "aes256-ctr",
                "aes128-gcm@openssh.com",
                "aes128-ctr"
            ]
        );
        // umac-* are not in russh: dropped.
        assert_eq!(
            names(&p.mac),
            [
                "hmac-sha2-256-etm@openssh.com",
                "hmac-sha1-etm@openssh.com",
                "hmac-sha2-512-etm@openssh.com",
                "hmac-sha2-256",
                "hmac-sha1",
                "hmac-sha2-512"
            ]
        );
        let kex = names(&p.kex);
        assert_eq!(kex[0], "curve25519-sha256");
        assert!(kex.contains(&"ecdh-sha2-nistp256"));
        assert!(!kex.contains(&"mlkem768x25519-sha256"), "{kex:?}");
        // The extension markers stay.
        assert!(kex.contains(&"ext-info-c"), "{kex:?}");
        let keys: Vec<&str> = p.key.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "ecdsa-sha2-nistp256",
                "ecdsa-sha2-nistp384",
                "ecdsa-sha2-nistp521",
                "ssh-ed25519",
                "rsa-sha2-256",
                "rsa-sha2-512"
            ]
        );
        assert!(p.host_key_certificates.is_empty());
        // Under a @cert-authority the policy's certificate names are offered too.
        let p = preferred(&config(&policy), true).expect("usable");
        assert!(!p.host_key_certificates.is_empty());
    }

    #[test]
    fn no_directive_keeps_russh_defaults_and_an_empty_list_is_refused() {
        let p = preferred(&config(""), false).expect("usable");
        let d = russh::Preferred::default();
        assert_eq!(names(&p.cipher), names(&d.cipher));
        assert_eq!(names(&p.kex), names(&d.kex));
        let e = preferred(&config("Ciphers 3des-cbc,blowfish-cbc\n"), false).expect_err("refused");
        assert!(
            e.to_string()
                .starts_with("Ciphers 3des-cbc,blowfish-cbc: none of"),
            "{e}"
        );
    }

    #[test]
    fn signature_lists() {
        assert_eq!(signature_list(&None, true), None);
        let fedora = "ecdsa-sha2-nistp256,ssh-ed25519,rsa-sha2-256,rsa-sha2-512".to_string();
        let list = signature_list(&Some(fedora), false).expect("a list");
        assert!(list.contains(&"rsa-sha2-512".to_string()));
        assert!(!list.contains(&"ssh-rsa".to_string()));
        let list = signature_list(&Some("+ssh-rsa*".into()), true).expect("a list");
        assert!(list.contains(&"ssh-rsa-cert-v01@openssh.com".to_string()));
        assert!(list.contains(&"ssh-ed25519".to_string()));
    }

    #[test]
    fn a_failed_login_says_what_batch_mode_and_gssapi_mean() {
        let e = SshError::PermissionDenied {
            label: "web".into(),
            user: "me".into(),
            tried: vec!["agent"],
            batch_mode: true,
            gssapi_offered: true,
        }
        .to_string();
        assert!(e.contains("BatchMode is yes"), "{e}");
        assert!(
            e.contains("GSSAPI (Kerberos), which sshpty does not"),
            "{e}"
        );
    }
}
