//! Starting and using one control plane: etcd, kube-apiserver and optionally
//! kube-controller-manager on free loopback ports, with throw-away certificates.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::audit::{AUDIT_POLICY, AuditLog};
use crate::binaries;
use crate::certs::{self, CertificateAuthority};
use crate::error::{Error, Result};
use crate::process::{self, Component};

/// The controllers kube-controller-manager runs when enabled (engineering reference §5.7).
pub const CONTROLLERS: &str = "garbage-collector-controller,namespace-controller";

/// The admin user's name (in group `system:masters`).
pub const ADMIN_USER: &str = "smi-testenv-admin";

/// The front-proxy client's common name, allowed to assert users to aggregated API servers.
pub const FRONT_PROXY_CLIENT: &str = "front-proxy-client";

/// How a control plane is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Run kube-controller-manager with the garbage-collector and namespace controllers.
    pub controller_manager: bool,
    /// Write an audit log (every request at Metadata level) readable with [`TestEnv::audit_log`].
    pub audit_log: bool,
    /// How long each component may take to become ready (env `SMI_TESTENV_START_TIMEOUT`,
    /// seconds; default 60).
    pub start_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        let secs = std::env::var("SMI_TESTENV_START_TIMEOUT")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(60);
        Self {
            controller_manager: false,
            audit_log: true,
            start_timeout: Duration::from_secs(secs),
        }
    }
}

impl Config {
    /// Also runs kube-controller-manager (garbage collection, namespace deletion).
    pub fn with_controller_manager(mut self) -> Self {
        self.controller_manager = true;
        self
    }

    /// Turns the audit log on or off.
    pub fn with_audit_log(mut self, on: bool) -> Self {
        self.audit_log = on;
        self
    }
}

/// A user authenticated by a client certificate from the control plane's client CA.
#[derive(Clone, Debug)]
pub struct User {
    name: String,
    groups: Vec<String>,
    kubeconfig_path: PathBuf,
    kubeconfig: String,
}

impl User {
    /// The user name (the certificate's common name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The groups (the certificate's organizations); Kubernetes adds `system:authenticated`.
    pub fn groups(&self) -> &[String] {
        &self.groups
    }

    /// A kubeconfig file for this user, usable by kubectl and helm.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig_path
    }

    /// A new client for this user whose default namespace is `default`.
    ///
    /// Build clients per test: a client's connections belong to the tokio runtime that first
    /// used it, and each `#[tokio::test]` has its own runtime.
    pub async fn client(&self) -> Result<Client> {
        self.client_in("default").await
    }

    /// A new client for this user whose default namespace is `namespace`.
    pub async fn client_in(&self, namespace: &str) -> Result<Client> {
        let fail = |reason: String| Error::ClientConfig {
            user: self.name.clone(),
            reason,
        };
        let kubeconfig =
            Kubeconfig::from_yaml(&self.kubeconfig).map_err(|e| fail(e.to_string()))?;
        let mut config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map_err(|e| fail(e.to_string()))?;
        config.default_namespace = namespace.to_owned();
        Client::try_from(config).map_err(|e| fail(e.to_string()))
    }
}

/// A running control plane. Dropping it stops every process and removes its temp directory
/// (unless `SMI_TESTENV_KEEP=1`).
pub struct TestEnv {
    config: Config,
    bin_dir: PathBuf,
    // Killed in reverse start order by Drop, before `dir` is removed.
    components: Vec<Component>,
    server: String,
    front_proxy_ca: CertificateAuthority,
    client_ca: CertificateAuthority,
    serving_ca_pem: String,
    admin: User,
    audit_log: Option<PathBuf>,
    dir: tempfile::TempDir,
}

impl std::fmt::Debug for TestEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestEnv")
            .field("server", &self.server)
            .field("dir", &self.dir.path())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// One start attempt: either ready, or a port was taken between choosing and binding it.
enum Attempt {
    Ready(Box<TestEnv>),
    PortTaken(Error),
}

impl TestEnv {
    /// Starts a control plane and waits until it is ready.
    ///
    /// Finds the programs with [`crate::bin_dir`] (building them on a fresh machine), retries
    /// twice when another process grabs a chosen port first.
    pub async fn start(config: Config) -> Result<Self> {
        let bin_dir = tokio::task::spawn_blocking(binaries::bin_dir)
            .await
            .map_err(|e| Error::BinariesUnavailable {
                reason: format!("the lookup task failed: {e}"),
            })??;
        let started = Instant::now();
        let mut attempt = 1;
        loop {
            match Self::try_start(config.clone(), bin_dir.clone()).await? {
                Attempt::Ready(env) => {
                    tracing::info!(
                        server = %env.server,
                        dir = %env.dir.path().display(),
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "test control plane ready"
                    );
                    return Ok(*env);
                }
                Attempt::PortTaken(err) if attempt < 3 => {
                    tracing::warn!(attempt, "a port was taken while starting; retrying: {err}");
                    attempt += 1;
                }
                Attempt::PortTaken(err) => return Err(err),
            }
        }
    }

    async fn try_start(config: Config, bin_dir: PathBuf) -> Result<Attempt> {
        remove_stale_dirs();
        let keep = keep_dir();
        let dir = tempfile::Builder::new()
            .prefix("smi-testenv-")
            .disable_cleanup(keep)
            .tempdir()
            .map_err(|e| Error::io("creating a temp directory", std::env::temp_dir(), e))?;
        let root = dir.path().to_owned();
        if !keep {
            // Lets a later start remove the directory if this process is killed (SIGKILL
            // leaves no chance to clean up); kept directories have no owner file.
            write(&root.join(OWNER_FILE), &std::process::id().to_string())?;
        }
        for sub in ["pki", "users", "helm"] {
            create_dir(&root.join(sub))?;
        }

        // Certificates (engineering reference §5.5 and §5.8).
        let serving_ca = CertificateAuthority::new("smi-testenv-serving-ca")?;
        let serving = serving_ca.issue_server(&["localhost", "127.0.0.1"])?;
        let client_ca = CertificateAuthority::new("smi-testenv-client-ca")?;
        let front_proxy_ca = CertificateAuthority::new("smi-testenv-front-proxy-ca")?;
        let front_proxy_client = front_proxy_ca.issue_client(FRONT_PROXY_CLIENT, &[])?;
        let (sa_private, sa_public) = certs::service_account_key_pair()?;
        let pki = root.join("pki");
        for (name, contents) in [
            ("serving.crt", serving.cert_pem.as_str()),
            ("serving.key", &serving.key_pem),
            ("client-ca.crt", client_ca.cert_pem()),
            ("front-proxy-ca.crt", front_proxy_ca.cert_pem()),
            ("front-proxy-client.crt", &front_proxy_client.cert_pem),
            ("front-proxy-client.key", &front_proxy_client.key_pem),
            ("sa.key", &sa_private),
            ("sa.pub", &sa_public),
        ] {
            write(&pki.join(name), contents)?;
        }
        let p = |name: &str| pki.join(name).display().to_string();

        let mut components = Vec::new();
        let deadline = config.start_timeout;

        // etcd
        let etcd_port = free_port()?;
        let etcd_url = format!("http://127.0.0.1:{etcd_port}");
        let etcd_args = vec![
            format!("--data-dir={}", root.join("etcd").display()),
            format!("--listen-client-urls={etcd_url}"),
            format!("--advertise-client-urls={etcd_url}"),
            "--listen-peer-urls=http://localhost:0".to_owned(),
            "--unsafe-no-fsync=true".to_owned(),
            "--log-level=warn".to_owned(),
        ];
        components.push(Component::spawn(
            "etcd",
            &bin_dir.join("etcd"),
            &etcd_args,
            root.join("etcd.log"),
        )?);
        if let Some(port_taken) =
            wait_ready(&components, deadline, || etcd_healthy(etcd_port)).await?
        {
            return Ok(Attempt::PortTaken(port_taken));
        }

        // kube-apiserver
        let port = free_port()?;
        let server = format!("https://127.0.0.1:{port}");
        let mut args = vec![
            format!("--etcd-servers={etcd_url}"),
            "--bind-address=127.0.0.1".to_owned(),
            "--advertise-address=127.0.0.1".to_owned(),
            format!("--secure-port={port}"),
            format!("--tls-cert-file={}", p("serving.crt")),
            format!("--tls-private-key-file={}", p("serving.key")),
            format!("--client-ca-file={}", p("client-ca.crt")),
            "--authorization-mode=RBAC".to_owned(),
            "--service-cluster-ip-range=10.96.0.0/16".to_owned(),
            "--allow-privileged=true".to_owned(),
            // No ServiceAccount controller runs, so no default ServiceAccount would ever exist.
            "--disable-admission-plugins=ServiceAccount".to_owned(),
            format!("--service-account-issuer={server}/"),
            format!("--service-account-key-file={}", p("sa.pub")),
            format!("--service-account-signing-key-file={}", p("sa.key")),
            "--endpoint-reconciler-type=none".to_owned(),
            format!("--requestheader-client-ca-file={}", p("front-proxy-ca.crt")),
            format!("--requestheader-allowed-names={FRONT_PROXY_CLIENT}"),
            "--requestheader-username-headers=X-Remote-User".to_owned(),
            "--requestheader-group-headers=X-Remote-Group".to_owned(),
            "--requestheader-extra-headers-prefix=X-Remote-Extra-".to_owned(),
            format!("--proxy-client-cert-file={}", p("front-proxy-client.crt")),
            format!("--proxy-client-key-file={}", p("front-proxy-client.key")),
            "--profiling=false".to_owned(),
        ];
        let audit_log = if config.audit_log {
            let policy = root.join("audit-policy.yaml");
            write(&policy, AUDIT_POLICY)?;
            let log = root.join("audit.log");
            args.extend([
                format!("--audit-policy-file={}", policy.display()),
                format!("--audit-log-path={}", log.display()),
                "--audit-log-format=json".to_owned(),
                "--audit-log-mode=blocking".to_owned(),
                "--audit-log-maxbackup=0".to_owned(),
            ]);
            Some(log)
        } else {
            None
        };
        components.push(Component::spawn(
            "kube-apiserver",
            &bin_dir.join("kube-apiserver"),
            &args,
            root.join("kube-apiserver.log"),
        )?);

        let admin = write_user(
            &root,
            &server,
            serving_ca.cert_pem(),
            &client_ca,
            ADMIN_USER,
            &["system:masters"],
        )?;
        let admin_client = admin.client().await?;
        if let Some(port_taken) =
            wait_ready(&components, deadline, || apiserver_ready(&admin_client)).await?
        {
            return Ok(Attempt::PortTaken(port_taken));
        }

        // kube-controller-manager (engineering reference §5.7)
        if config.controller_manager {
            let args = vec![
                format!("--kubeconfig={}", admin.kubeconfig_path.display()),
                format!("--controllers={CONTROLLERS}"),
                "--leader-elect=false".to_owned(),
                "--secure-port=0".to_owned(),
                "--kube-api-qps=100".to_owned(),
                "--kube-api-burst=200".to_owned(),
            ];
            components.push(Component::spawn(
                "kube-controller-manager",
                &bin_dir.join("kube-controller-manager"),
                &args,
                root.join("kube-controller-manager.log"),
            )?);
        }

        Ok(Attempt::Ready(Box::new(TestEnv {
            config,
            bin_dir,
            components,
            server,
            front_proxy_ca,
            client_ca,
            serving_ca_pem: serving_ca.cert_pem().to_owned(),
            admin,
            audit_log,
            dir,
        })))
    }

    /// The configuration it was started with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The API server's URL, `https://127.0.0.1:<port>`.
    pub fn server_url(&self) -> &str {
        &self.server
    }

    /// The admin kubeconfig (user [`ADMIN_USER`] in `system:masters`), for kubectl and helm.
    pub fn kubeconfig_path(&self) -> &Path {
        self.admin.kubeconfig_path()
    }

    /// The admin user.
    pub fn admin(&self) -> &User {
        &self.admin
    }

    /// A new admin client (see [`User::client`] on why clients are made per test).
    pub async fn client(&self) -> Result<Client> {
        self.admin.client().await
    }

    /// The directory holding etcd, kube-apiserver, kube-controller-manager, kubectl and helm.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// The temp directory holding certificates, logs, kubeconfigs and etcd's data.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The CA that signs the API server's serving certificate (PEM), e.g. for a `caBundle`.
    pub fn serving_ca_pem(&self) -> &str {
        &self.serving_ca_pem
    }

    /// The front-proxy (requestheader) CA: aggregated API servers verify the API server's
    /// client certificate (common name [`FRONT_PROXY_CLIENT`]) against it before trusting
    /// `X-Remote-User`/`X-Remote-Group`.
    pub fn front_proxy_ca(&self) -> &CertificateAuthority {
        &self.front_proxy_ca
    }

    /// Mints a user with a client certificate: `groups` become its groups (at most
    /// [`certs::MAX_ORGANIZATIONS`]). Grant it permissions with RBAC bindings.
    pub fn mint_user(&self, name: &str, groups: &[&str]) -> Result<User> {
        write_user(
            self.dir(),
            &self.server,
            &self.serving_ca_pem,
            &self.client_ca,
            name,
            groups,
        )
    }

    /// The audit log, if [`Config::audit_log`] is on.
    pub fn audit_log(&self) -> Option<AuditLog> {
        self.audit_log
            .as_ref()
            .map(|path| AuditLog::new(path.clone()))
    }

    /// Creates a namespace `<prefix>-<random suffix>` and returns it with an admin client
    /// defaulting to it.
    pub async fn namespace(&self, prefix: &str) -> Result<TestNamespace<'_>> {
        let name = crate::unique_name(prefix);
        let client = self.admin.client_in(&name).await?;
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                ..Default::default()
            },
            ..Default::default()
        };
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .map_err(|e| Error::kube(format!("creating namespace {name}"), e))?;
        tracing::debug!(namespace = %name, "created test namespace");
        Ok(TestNamespace {
            env: self,
            name,
            client,
        })
    }

    /// The last lines of every component's log, for failure messages.
    pub fn logs(&self) -> String {
        log_tails(&self.components)
    }

    /// Checks that every component still runs.
    pub fn check_running(&self) -> Result<()> {
        check_running(&self.components)
    }

    /// A command for `program` in [`TestEnv::bin_dir`] set up to talk to this control plane:
    /// `KUBECONFIG` is the admin kubeconfig, helm's cache/config/data live in the temp
    /// directory, and the child dies with this process.
    pub fn command(&self, program: &str) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(self.bin_dir.join(program));
        let helm = self.dir().join("helm");
        command
            .env("KUBECONFIG", self.kubeconfig_path())
            .env("HELM_CACHE_HOME", helm.join("cache"))
            .env("HELM_CONFIG_HOME", helm.join("config"))
            .env("HELM_DATA_HOME", helm.join("data"))
            .kill_on_drop(true);
        process::die_with_parent(command.as_std_mut());
        command
    }

    /// Runs kubectl as admin with `args` (and `stdin`, e.g. for `-f -`); returns its stdout.
    pub async fn kubectl(&self, args: &[&str], stdin: Option<&[u8]>) -> Result<String> {
        self.run("kubectl", args, stdin).await
    }

    /// Runs helm as admin with `args`; returns its stdout.
    pub async fn helm(&self, args: &[&str]) -> Result<String> {
        self.run("helm", args, None).await
    }

    async fn run(&self, program: &str, args: &[&str], stdin: Option<&[u8]>) -> Result<String> {
        let path = self.bin_dir.join(program);
        let mut command = self.command(program);
        command
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .map_err(|e| Error::io("running", &path, e))?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input)
                .await
                .map_err(|e| Error::io("writing stdin of", &path, e))?;
        }
        let output = child
            .wait_with_output()
            .await
            .map_err(|e| Error::io("waiting for", &path, e))?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(Error::Tool {
                command: format!("{program} {}", args.join(" ")),
                status: output.status.to_string(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            })
        }
    }

    /// Runs kubectl synchronously (for `Drop` implementations); returns its stdout.
    pub(crate) fn kubectl_blocking(&self, args: &[&str]) -> Result<String> {
        let path = self.bin_dir.join("kubectl");
        let mut command = std::process::Command::new(&path);
        command
            .args(args)
            .env("KUBECONFIG", self.kubeconfig_path())
            .stdin(Stdio::null());
        process::die_with_parent(&mut command);
        let output = command
            .output()
            .map_err(|e| Error::io("running", &path, e))?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(Error::Tool {
                command: format!("kubectl {}", args.join(" ")),
                status: output.status.to_string(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            })
        }
    }

    /// Kills every component, newest first. Idempotent; safe in an `atexit` handler.
    pub(crate) fn kill_all(&self) {
        for component in self.components.iter().rev() {
            component.kill();
        }
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        self.kill_all();
        if keep_dir() {
            eprintln!("smi-testenv: kept {}", self.dir.path().display());
        }
    }
}

/// A namespace made for one test, with an admin client defaulting to it.
///
/// If the test panics, dropping it prints the control plane's log tails and the namespace's
/// name (the namespace is left in place to inspect with `SMI_TESTENV_KEEP=1`).
pub struct TestNamespace<'a> {
    env: &'a TestEnv,
    name: String,
    client: Client,
}

impl std::fmt::Debug for TestNamespace<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestNamespace")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl TestNamespace<'_> {
    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// An admin client whose default namespace is this one.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The environment it belongs to.
    pub fn env(&self) -> &TestEnv {
        self.env
    }
}

impl Drop for TestNamespace<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "smi-testenv: test failed in namespace {} on {} ({}); component logs:\n{}",
                self.name,
                self.env.server,
                self.env.dir().display(),
                self.env.logs()
            );
        }
    }
}

fn write_user(
    root: &Path,
    server: &str,
    ca_pem: &str,
    client_ca: &CertificateAuthority,
    name: &str,
    groups: &[&str],
) -> Result<User> {
    let cert = client_ca.issue_client(name, groups)?;
    let b64 = |pem: &str| serde_json::to_value(ByteString(pem.as_bytes().to_vec()));
    let kubeconfig = (|| -> serde_json::Result<serde_json::Value> {
        Ok(serde_json::json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "smi-testenv", "cluster": {
                "server": server,
                "certificate-authority-data": b64(ca_pem)?,
            }}],
            "users": [{"name": name, "user": {
                "client-certificate-data": b64(&cert.cert_pem)?,
                "client-key-data": b64(&cert.key_pem)?,
            }}],
            "contexts": [{"name": "smi-testenv", "context": {
                "cluster": "smi-testenv", "user": name, "namespace": "default",
            }}],
            "current-context": "smi-testenv",
        }))
    })()
    .and_then(|value| serde_json::to_string_pretty(&value))
    .map_err(|e| Error::Yaml {
        source_name: format!("kubeconfig of {name}"),
        reason: e.to_string(),
    })?;
    let file = if name == ADMIN_USER {
        root.join("kubeconfig")
    } else {
        root.join("users")
            .join(format!("{}.kubeconfig", crate::unique_name(name)))
    };
    write(&file, &kubeconfig)?;
    Ok(User {
        name: name.to_owned(),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        kubeconfig_path: file,
        kubeconfig,
    })
}

/// Polls `probe` every 100 ms until it succeeds. Fails when the last component exits (returning
/// `Ok(Some(err))` if it lost a port race) or when `timeout` passes.
async fn wait_ready<F, Fut>(
    components: &[Component],
    timeout: Duration,
    mut probe: F,
) -> Result<Option<Error>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let Some(component) = components.last() else {
        return Ok(None);
    };
    let started = Instant::now();
    loop {
        if let Some(status) = component.exit_status() {
            let err = Error::ComponentExited {
                component: component.name().to_owned(),
                status: status.to_string(),
                logs: log_tails(components),
            };
            if component.log_contains("address already in use") {
                return Ok(Some(err));
            }
            return Err(err);
        }
        let last_probe = match tokio::time::timeout(Duration::from_secs(5), probe()).await {
            Ok(Ok(())) => {
                tracing::info!(
                    component = component.name(),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "ready"
                );
                return Ok(None);
            }
            Ok(Err(e)) => e,
            Err(_) => "the probe hung for 5s".to_owned(),
        };
        if started.elapsed() > timeout {
            return Err(Error::NotReady {
                component: component.name().to_owned(),
                timeout,
                last_probe,
                logs: log_tails(components),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// etcd's `/health` over plain HTTP/1.0 (no HTTP client needed).
async fn etcd_healthy(port: u16) -> Result<(), String> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| format!("connecting to etcd: {e}"))?;
    stream
        .write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .map_err(|e| format!("asking etcd for /health: {e}"))?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .map_err(|e| format!("reading etcd's /health: {e}"))?;
    if response.contains("\"health\":\"true\"") {
        Ok(())
    } else {
        Err(format!(
            "etcd /health answered: {}",
            response.lines().last().unwrap_or_default()
        ))
    }
}

/// kube-apiserver's `/readyz` (all post-start hooks done, etcd reachable).
async fn apiserver_ready(client: &Client) -> Result<(), String> {
    let request = http::Request::get("/readyz")
        .body(Vec::new())
        .map_err(|e| e.to_string())?;
    match client.request_text(request).await {
        Ok(body) if body.trim() == "ok" => Ok(()),
        Ok(body) => Err(format!("/readyz answered {body:?}")),
        Err(e) => Err(format!("/readyz: {e}")),
    }
}

fn log_tails(components: &[Component]) -> String {
    components
        .iter()
        .map(|c| c.log_tail(40))
        .collect::<Vec<_>>()
        .join("\n")
}

fn check_running(components: &[Component]) -> Result<()> {
    for component in components {
        if let Some(status) = component.exit_status() {
            return Err(Error::ComponentExited {
                component: component.name().to_owned(),
                status: status.to_string(),
                logs: log_tails(components),
            });
        }
    }
    Ok(())
}

/// Whether `SMI_TESTENV_KEEP` asks to keep temp directories (`1` or `true`).
pub(crate) fn keep_dir() -> bool {
    std::env::var("SMI_TESTENV_KEEP").is_ok_and(|v| v == "1" || v == "true")
}

/// The file in a control plane's temp directory that names the owning process.
const OWNER_FILE: &str = "owner.pid";

/// Removes the temp directories of control planes whose process is gone (killed with SIGKILL,
/// or dead before its exit handler ran).
fn remove_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if !entry
            .file_name()
            .to_string_lossy()
            .starts_with("smi-testenv-")
        {
            continue;
        }
        let Ok(owner) = std::fs::read_to_string(path.join(OWNER_FILE)) else {
            continue;
        };
        let alive = Path::new("/proc").join(owner.trim()).exists();
        if !alive && !owner.trim().is_empty() {
            tracing::debug!(dir = %path.display(), "removing a dead control plane's directory");
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// A port free right now on 127.0.0.1 (a race with other processes is retried by `start`).
fn free_port() -> Result<u16> {
    let addr = "127.0.0.1:0";
    std::net::TcpListener::bind(addr)
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Error::io("finding a free port", addr, e))
}

fn create_dir(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path).map_err(|e| Error::io("creating a directory", path, e))
}

fn write(path: &Path, contents: &str) -> Result<()> {
    std::fs::write(path, contents).map_err(|e| Error::io("writing", path, e))
}
