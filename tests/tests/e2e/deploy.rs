//! What ships to servers, checked against the real binaries: the configuration files the packages
//! install pass `--check-config`, the systemd units pass `systemd-analyze verify` with the
//! hardening and secrets file they promise, `deploy/install.sh` installs into a root and keeps an
//! edited config on a second run, the Debian metadata names files that exist, and the container
//! and Kubernetes files agree with each other and with the collector (ports, probe paths that
//! answer, mounts, secrets, images). The `.deb` itself is built and installed by `.ci/run`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use yaml_rust2::{Yaml, YamlLoader};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate is in the workspace")
        .to_path_buf()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| panic!("read {}: {error}", path.display()))
}

fn run(command: &mut Command) -> (Option<i32>, String, String) {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("run {command:?}: {error}"));
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `vigil-<binary> --check-config --config <file>` with only `env` from the environment.
fn check_config(binary: &str, file: &Path, env: &[(String, String)]) -> (Option<i32>, String) {
    let mut command = Command::new(vigil_e2e::bin(binary));
    command
        .env_clear()
        .envs(
            env.iter()
                .map(|(key, value)| (key.as_str(), value.as_str())),
        )
        .arg("--config")
        .arg(file)
        .arg("--check-config");
    let (code, stdout, stderr) = run(&mut command);
    (code, format!("{stdout}{stderr}"))
}

fn workspace_version() -> String {
    let manifest: toml::Table = toml::from_str(&read(&root().join("Cargo.toml"))).unwrap();
    manifest["workspace"]["package"]["version"]
        .as_str()
        .expect("workspace.package.version")
        .to_owned()
}

#[test]
fn deploy_shipped_configs_pass_check_config_without_secrets() {
    // These are what the packages and install.sh put in /etc/vigil: they must run as shipped,
    // with no token in the environment (the old example needed one, so the unit exited 2).
    for (binary, file) in [
        ("vigil-collector", "deploy/config/collector.toml"),
        ("vigil-agent", "deploy/config/agent.toml"),
    ] {
        let (code, output) = check_config(binary, &root().join(file), &[]);
        assert_eq!(code, Some(0), "{file}: {output}");
    }
}

/// A unit file as key → values (a key may repeat).
fn unit_keys(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || line.starts_with('[') {
            continue;
        }
        if let Some((key, value)) = line.split_once('=') {
            keys.entry(key.to_owned())
                .or_default()
                .push(value.to_owned());
        }
    }
    keys
}

#[test]
fn deploy_systemd_units_verify_and_are_hardened() {
    let dir = tempfile::tempdir().unwrap();
    for (name, state_dir, env_key) in [
        ("vigil-collector", "vigil", "VIGIL_DATA_DIR"),
        ("vigil-agent", "vigil-agent", "VIGIL_STATE_DIR"),
    ] {
        let text = read(&root().join(format!("deploy/systemd/{name}.service")));
        let keys = unit_keys(&text);
        let one = |key: &str| -> String {
            let values = keys.get(key).unwrap_or_else(|| panic!("{name}: no {key}="));
            values.last().unwrap().clone()
        };
        assert_eq!(
            one("ExecStart"),
            format!(
                "/usr/bin/{name} --config /etc/vigil/{}.toml",
                name.trim_start_matches("vigil-")
            )
        );
        assert_eq!(
            one("EnvironmentFile"),
            format!("-/etc/vigil/{}.env", name.trim_start_matches("vigil-"))
        );
        assert_eq!(one("RestartPreventExitStatus"), "2", "{name}");
        for (key, value) in [
            ("NoNewPrivileges", "yes"),
            ("ProtectSystem", "strict"),
            ("PrivateTmp", "yes"),
            ("PrivateDevices", "yes"),
            ("ProtectKernelTunables", "yes"),
            ("RestrictSUIDSGID", "yes"),
            ("CapabilityBoundingSet", ""),
        ] {
            assert_eq!(one(key), value, "{name}: {key}");
        }
        let state = format!("/var/lib/{state_dir}");
        assert_eq!(one("StateDirectory"), state_dir, "{name}");
        assert_eq!(one("ReadWritePaths"), state, "{name}");
        assert_eq!(one("Environment"), format!("{env_key}={state}"), "{name}");
        assert_ne!(one("User"), "root", "{name}");

        // systemd-analyze checks the syntax and that ExecStart exists: point it at the built
        // binary. It exits 0 on unknown or misspelt values and only warns, so stderr must be empty.
        let binary = vigil_e2e::bin(name);
        let copy = dir.path().join(format!("{name}.service"));
        let text = text.replace(
            &format!("ExecStart=/usr/bin/{name}"),
            &format!("ExecStart={}", binary.display()),
        );
        std::fs::write(&copy, text).unwrap();
        let (code, stdout, stderr) = run(Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(&copy));
        assert_eq!(code, Some(0), "{name}: {stdout}{stderr}");
        assert!(stderr.trim().is_empty(), "{name}: {stderr}");
    }
}

#[test]
fn deploy_install_sh_installs_into_a_root_and_keeps_an_edited_config() {
    let script = root().join("deploy/install.sh");
    let (code, stdout, _) = run(Command::new(&script).arg("--help"));
    assert_eq!(code, Some(0));
    assert!(stdout.contains("--prefix"), "{stdout}");
    let (code, _, stderr) = run(Command::new(&script).arg("--bogus"));
    assert_eq!(code, Some(2));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--bogus"), "{stderr}");

    let target = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run(Command::new(&script)
        .arg("--root")
        .arg(target.path())
        .arg("--bin-dir")
        .arg(empty.path()));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("no vigil-agent in") && stderr.contains("cargo build"),
        "{stderr}"
    );

    let install = || {
        let (code, stdout, stderr) = run(Command::new(&script)
            .arg("--root")
            .arg(target.path())
            .arg("--bin-dir")
            .arg(vigil_e2e::bin_dir())
            .arg("--no-start"));
        assert_eq!(code, Some(0), "{stdout}{stderr}");
        stdout
    };
    install();
    let at = |path: &str| target.path().join(path.trim_start_matches('/'));
    for binary in ["vigil-agent", "vigil-collector"] {
        let installed = at(&format!("/usr/local/bin/{binary}"));
        let (code, stdout, stderr) = run(Command::new(&installed).arg("--version"));
        assert_eq!(code, Some(0), "{stderr}");
        assert!(stdout.starts_with(binary), "{stdout}");
        let unit = read(&at(&format!("/etc/systemd/system/{binary}.service")));
        let component = binary.trim_start_matches("vigil-");
        assert!(
            unit.contains(&format!(
                "ExecStart=/usr/local/bin/{binary} --config /etc/vigil/{component}.toml"
            )),
            "{unit}"
        );
        let config = at(&format!("/etc/vigil/{component}.toml"));
        let (code, output) = check_config(binary, &config, &[]);
        assert_eq!(code, Some(0), "{output}");
        assert!(
            at(&format!(
                "/usr/local/share/doc/{binary}/examples/{component}.example.toml"
            ))
            .exists()
        );
    }
    assert!(at("/var/lib/vigil").is_dir() && at("/var/lib/vigil-agent").is_dir());

    // A second run upgrades in place and keeps the operator's edits.
    let config = at("/etc/vigil/collector.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:9999\"\n").unwrap();
    let stdout = install();
    assert!(
        stdout.contains("kept the existing /etc/vigil/collector.toml"),
        "{stdout}"
    );
    assert_eq!(read(&config), "listen = \"127.0.0.1:9999\"\n");
}

#[test]
fn deploy_debian_metadata_names_files_that_exist() {
    for (crate_dir, unit) in [("agent", "vigil-agent"), ("collector", "vigil-collector")] {
        let dir = root().join(crate_dir);
        let manifest: toml::Table = toml::from_str(&read(&dir.join("Cargo.toml"))).unwrap();
        let deb = &manifest["package"]["metadata"]["deb"];
        let mut destinations = BTreeSet::new();
        for asset in deb["assets"].as_array().expect("assets") {
            let source = asset[0].as_str().unwrap();
            let destination = asset[1].as_str().unwrap();
            // target/ paths are build outputs (the binary; man pages from vigil-xtask).
            if !source.starts_with("target/") && !source.starts_with("../target/") {
                assert!(
                    dir.join(source).is_file(),
                    "{crate_dir}: {source} is missing"
                );
            }
            let name = Path::new(source).file_name().unwrap().to_string_lossy();
            let full = if destination.ends_with('/') {
                format!("/{destination}{name}")
            } else {
                format!("/{destination}")
            };
            destinations.insert(full);
        }
        assert!(destinations.contains(&format!("/usr/bin/{unit}")));
        assert!(destinations.contains(&format!("/usr/share/man/man1/{unit}.1")));
        for conffile in deb["conf-files"].as_array().expect("conf-files") {
            let conffile = conffile.as_str().unwrap();
            assert!(
                destinations.contains(conffile),
                "{crate_dir}: conffile {conffile} is not installed"
            );
        }
        let units = &deb["systemd-units"];
        assert_eq!(units["unit-name"].as_str(), Some(unit));
        let unit_dir = dir.join(units["unit-scripts"].as_str().unwrap());
        assert!(unit_dir.join(format!("{unit}.service")).is_file());
        let scripts = dir.join(deb["maintainer-scripts"].as_str().unwrap());
        for script in ["postinst", "postrm"] {
            let path = scripts.join(script);
            let text = read(&path);
            assert!(text.contains("#DEBHELPER#"), "{}", path.display());
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert!(mode & 0o111 != 0, "{} is not executable", path.display());
        }
        let postinst = read(&scripts.join("postinst"));
        let user = read(&unit_dir.join(format!("{unit}.service")))
            .lines()
            .find_map(|line| line.strip_prefix("User="))
            .expect("User=")
            .to_owned();
        assert!(
            postinst.contains(&format!("useradd --system --gid {user}")),
            "{crate_dir}: postinst does not create {user}"
        );
    }
    let manifest: toml::Table = toml::from_str(&read(&root().join("Cargo.toml"))).unwrap();
    assert!(
        manifest["profile"].get("packaging").is_some(),
        "the packaging profile is missing"
    );
}

/// Every document of every YAML file in deploy/kubernetes, by file name.
fn manifests() -> BTreeMap<String, Vec<Yaml>> {
    let dir = root().join("deploy/kubernetes");
    let mut all = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|ext| ext == "yaml") {
            let docs = YamlLoader::load_from_str(&read(&path))
                .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            all.insert(
                path.file_name().unwrap().to_string_lossy().into_owned(),
                docs,
            );
        }
    }
    all
}

fn find<'a>(all: &'a BTreeMap<String, Vec<Yaml>>, kind: &str, name: &str) -> &'a Yaml {
    all.values()
        .flatten()
        .find(|doc| {
            doc["kind"].as_str() == Some(kind) && doc["metadata"]["name"].as_str() == Some(name)
        })
        .unwrap_or_else(|| panic!("no {kind} {name} in deploy/kubernetes"))
}

fn str_of<'a>(value: &'a Yaml, what: &str) -> &'a str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {value:?}"))
}

fn list(value: &Yaml) -> &[Yaml] {
    value.as_vec().map(Vec::as_slice).unwrap_or(&[])
}

/// The one container of a workload, with its pod spec.
fn container(workload: &Yaml) -> (&Yaml, &Yaml) {
    let pod = &workload["spec"]["template"]["spec"];
    let containers = list(&pod["containers"]);
    assert_eq!(containers.len(), 1, "one container per workload");
    (pod, &containers[0])
}

/// The container's environment as the process would see it; secret and field references become
/// placeholders (their presence is what the config needs).
fn env_of(container: &Yaml) -> Vec<(String, String)> {
    list(&container["env"])
        .iter()
        .map(|var| {
            let name = str_of(&var["name"], "env name").to_owned();
            let value = var["value"]
                .as_str()
                .map_or_else(|| format!("from-{name}"), str::to_owned);
            (name, value)
        })
        .collect()
}

/// The secret (name, key) an env var is read from.
fn secret_ref(container: &Yaml, var: &str) -> (String, String) {
    let found = list(&container["env"])
        .iter()
        .find(|entry| entry["name"].as_str() == Some(var))
        .unwrap_or_else(|| panic!("no env {var}"));
    let secret = &found["valueFrom"]["secretKeyRef"];
    (
        str_of(&secret["name"], "secret name").to_owned(),
        str_of(&secret["key"], "secret key").to_owned(),
    )
}

/// The mount of `volume` in the container: (mountPath, readOnly).
fn mount<'a>(container: &'a Yaml, volume: &str) -> (&'a str, bool) {
    let found = list(&container["volumeMounts"])
        .iter()
        .find(|entry| entry["name"].as_str() == Some(volume))
        .unwrap_or_else(|| panic!("volume {volume} is not mounted"));
    (
        str_of(&found["mountPath"], "mountPath"),
        found["readOnly"].as_bool().unwrap_or(false),
    )
}

/// The config file a container reads: its `--config` argument and the ConfigMap file behind it,
/// written to `dir`.
fn mounted_config(
    pod: &Yaml,
    container: &Yaml,
    all: &BTreeMap<String, Vec<Yaml>>,
    dir: &Path,
) -> (PathBuf, toml::Table) {
    let args: Vec<&str> = list(&container["args"])
        .iter()
        .filter_map(Yaml::as_str)
        .collect();
    let position = args
        .iter()
        .position(|arg| *arg == "--config")
        .expect("--config in args");
    let path = Path::new(args[position + 1]);
    let (mount_path, read_only) = mount(container, "config");
    assert!(read_only, "the config mount is read-only");
    assert_eq!(
        path.parent().unwrap(),
        Path::new(mount_path),
        "--config is in the config mount"
    );
    let volume = list(&pod["volumes"])
        .iter()
        .find(|volume| volume["name"].as_str() == Some("config"))
        .expect("a config volume");
    let map = find(
        all,
        "ConfigMap",
        str_of(&volume["configMap"]["name"], "configMap name"),
    );
    let key = path.file_name().unwrap().to_string_lossy();
    let text = str_of(&map["data"][key.as_ref()], "ConfigMap file");
    let file = dir.join(key.as_ref());
    std::fs::write(&file, text).unwrap();
    (
        file,
        toml::from_str(text).unwrap_or_else(|error| panic!("{key}: {error}")),
    )
}

/// Every mount names a volume of the pod and every volume is mounted.
fn assert_mounts_match_volumes(pod: &Yaml, container: &Yaml, claims: &[Yaml]) {
    let mounts: BTreeSet<&str> = list(&container["volumeMounts"])
        .iter()
        .map(|entry| str_of(&entry["name"], "mount name"))
        .collect();
    let volumes: BTreeSet<&str> = list(&pod["volumes"])
        .iter()
        .chain(claims)
        .map(|volume| {
            volume["name"]
                .as_str()
                .or_else(|| volume["metadata"]["name"].as_str())
                .expect("volume name")
        })
        .collect();
    assert_eq!(mounts, volumes, "mounts and volumes differ");
}

/// The workload's image as (name, tag).
fn image(container: &Yaml) -> (String, String) {
    let image = str_of(&container["image"], "image");
    let (name, tag) = image.rsplit_once(':').expect("an image with a tag");
    (name.to_owned(), tag.to_owned())
}

/// A Dockerfile's final stage: title label, exposed ports, entrypoint binary, config it copies,
/// and the `-p` package its build stage compiles with the packaging profile.
struct Dockerfile {
    title: String,
    exposed: Vec<u16>,
    entrypoint: String,
    config_copy: Option<(String, String)>,
    built_package: String,
    cmd: Vec<String>,
}

fn dockerfile(component: &str) -> Dockerfile {
    let text = read(&root().join(format!("deploy/container/Dockerfile.{component}")));
    let joined = text.replace("\\\n", " ");
    let stages: Vec<&str> = joined.split("\nFROM ").collect();
    assert!(stages.len() >= 3, "Dockerfile.{component} is multi-stage");
    let build = stages[1];
    let last = stages[stages.len() - 1];
    let json_list = |line: &str| -> Vec<String> {
        serde_json::from_str(line.trim()).unwrap_or_else(|error| panic!("{line}: {error}"))
    };
    let mut words = build.split_whitespace();
    let mut built_package = String::new();
    let mut profile = String::new();
    while let Some(word) = words.next() {
        match word {
            "-p" => built_package = words.next().unwrap_or_default().to_owned(),
            "--profile" => profile = words.next().unwrap_or_default().to_owned(),
            _ => {}
        }
    }
    assert_eq!(
        profile, "packaging",
        "Dockerfile.{component} builds with the packaging profile"
    );
    let mut file = Dockerfile {
        title: String::new(),
        exposed: Vec::new(),
        entrypoint: String::new(),
        config_copy: None,
        built_package,
        cmd: Vec::new(),
    };
    for line in last.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("LABEL ") {
            let title = rest
                .split_whitespace()
                .find_map(|pair| pair.strip_prefix("org.opencontainers.image.title="));
            if let Some(title) = title {
                file.title = title.trim_matches('"').to_owned();
            }
        } else if let Some(rest) = line.strip_prefix("EXPOSE ") {
            file.exposed = rest
                .split_whitespace()
                .map(|port| port.parse().unwrap())
                .collect();
        } else if let Some(rest) = line.strip_prefix("ENTRYPOINT ") {
            file.entrypoint = json_list(rest).remove(0);
        } else if let Some(rest) = line.strip_prefix("CMD ") {
            file.cmd = json_list(rest);
        } else if let Some(rest) = line.strip_prefix("COPY deploy/config/") {
            let (source, destination) = rest.split_once(' ').unwrap();
            file.config_copy = Some((format!("deploy/config/{source}"), destination.to_owned()));
        }
    }
    file
}

#[tokio::test]
async fn deploy_kubernetes_manifests_and_dockerfiles_tie_together() {
    let all = manifests();
    let scratch = tempfile::tempdir().unwrap();
    let version = workspace_version();

    // kustomization lists every manifest but the optional ServiceMonitor, and the images.
    let kustomization = &all["kustomization.yaml"][0];
    let resources: BTreeSet<&str> = list(&kustomization["resources"])
        .iter()
        .filter_map(Yaml::as_str)
        .collect();
    let files: BTreeSet<&str> = all
        .keys()
        .map(String::as_str)
        .filter(|file| *file != "kustomization.yaml" && *file != "servicemonitor.yaml")
        .collect();
    assert_eq!(resources, files);
    let namespace = str_of(&kustomization["namespace"], "namespace");
    find(&all, "Namespace", namespace);
    for doc in all.values().flatten() {
        if doc["kind"].as_str() != Some("Namespace")
            && doc["kind"].as_str() != Some("Kustomization")
        {
            assert_eq!(
                doc["metadata"]["namespace"].as_str(),
                Some(namespace),
                "{doc:?}"
            );
        }
    }

    // The collector: its config listens on the port the container, Service, probes and
    // Dockerfile name; its data dir is the persistent volume; its tokens come from the Secret.
    let statefulset = find(&all, "StatefulSet", "vigil-collector");
    let (pod, collector) = container(statefulset);
    let claims = list(&statefulset["spec"]["volumeClaimTemplates"]);
    assert_mounts_match_volumes(pod, collector, claims);
    let (config_path, config) = mounted_config(pod, collector, &all, scratch.path());
    let env = env_of(collector);
    let (code, output) = check_config("vigil-collector", &config_path, &env);
    assert_eq!(
        code,
        Some(0),
        "the collector's ConfigMap with its env: {output}"
    );
    let listen: std::net::SocketAddr = config["listen"].as_str().unwrap().parse().unwrap();
    assert!(listen.ip().is_unspecified(), "serves the pod network");
    assert!(
        config.contains_key("token"),
        "a pod-network listen address needs tokens"
    );
    let port = list(&collector["ports"])
        .iter()
        .find(|port| port["name"].as_str() == Some("http"))
        .expect("a port named http");
    assert_eq!(
        port["containerPort"].as_i64(),
        Some(i64::from(listen.port()))
    );
    let (data_mount, read_only) = mount(collector, "data");
    assert!(!read_only);
    assert_eq!(config["data_dir"].as_str(), Some(data_mount));
    let mut token_secrets = BTreeMap::new();
    for token in config["token"].as_array().unwrap() {
        let var = token["secret_env"].as_str().expect("tokens by secret_env");
        token_secrets.insert(
            token["role"].as_str().unwrap().to_owned(),
            secret_ref(collector, var),
        );
    }
    let probes = [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")];
    for (probe, path) in probes {
        let get = &collector[probe]["httpGet"];
        assert_eq!(get["path"].as_str(), Some(path), "{probe}");
        assert_eq!(get["port"].as_str(), Some("http"), "{probe}");
    }
    let service = find(&all, "Service", "vigil-collector");
    let selector = &service["spec"]["selector"];
    for (key, value) in selector.as_hash().expect("a selector") {
        assert_eq!(
            &pod_labels(statefulset)[key],
            value,
            "the Service selects the collector pods"
        );
    }
    let service_port = &list(&service["spec"]["ports"])[0];
    assert_eq!(service_port["targetPort"].as_str(), Some("http"));
    let service_port_number = service_port["port"].as_i64().unwrap();

    // The probe paths exist on the real collector and answer 200 without a token.
    let data = tempfile::tempdir().unwrap();
    let running = vigil_e2e::Collector::start(data.path(), &[]).await;
    for (_, path) in probes {
        let (status, body) = running.get_text(path).await;
        assert_eq!(status, 200, "{path}: {body}");
    }

    // The ServiceMonitor scrapes that Service's port with the read token.
    let monitor = find(&all, "ServiceMonitor", "vigil-collector");
    for (key, value) in monitor["spec"]["selector"]["matchLabels"]
        .as_hash()
        .unwrap()
    {
        assert_eq!(&service["metadata"]["labels"][key.as_str().unwrap()], value);
    }
    let endpoint = &list(&monitor["spec"]["endpoints"])[0];
    assert_eq!(endpoint["port"].as_str(), service_port["name"].as_str());
    let metrics_path = str_of(&endpoint["path"], "path");
    let (status, body) = running.get_text(metrics_path).await;
    assert_eq!(status, 200, "{metrics_path}");
    assert!(body.contains("vigil_ingest_batches_total"), "{body}");
    let credentials = &endpoint["authorization"]["credentials"];
    assert_eq!(
        (
            str_of(&credentials["name"], "secret").to_owned(),
            str_of(&credentials["key"], "key").to_owned()
        ),
        token_secrets["read"],
        "Prometheus scrapes with the collector's read token"
    );

    // The agent: reaches that Service with the agent token, host's PID and network namespaces,
    // its state on the node, the node's filesystems read-only.
    let daemonset = find(&all, "DaemonSet", "vigil-agent");
    let (agent_pod, agent) = container(daemonset);
    assert_mounts_match_volumes(agent_pod, agent, &[]);
    assert_eq!(agent_pod["hostPID"].as_bool(), Some(true));
    assert_eq!(agent_pod["hostNetwork"].as_bool(), Some(true));
    assert_eq!(
        agent_pod["dnsPolicy"].as_str(),
        Some("ClusterFirstWithHostNet")
    );
    let (agent_config_path, agent_config) = mounted_config(agent_pod, agent, &all, scratch.path());
    let agent_env = env_of(agent);
    let (code, output) = check_config("vigil-agent", &agent_config_path, &agent_env);
    assert_eq!(
        code,
        Some(0),
        "the agent's ConfigMap with its env: {output}"
    );
    assert_eq!(secret_ref(agent, "VIGIL_TOKEN"), token_secrets["agent"]);
    let collector_url = agent_config["collector"].as_str().unwrap();
    assert_eq!(
        collector_url,
        format!(
            "http://{}.{namespace}.svc.cluster.local:{service_port_number}",
            str_of(&service["metadata"]["name"], "service name")
        )
    );
    let (state_mount, read_only) = mount(agent, "state");
    assert!(!read_only);
    assert_eq!(agent_config["state_dir"].as_str(), Some(state_mount));
    let (_, read_only) = mount(agent, "host-root");
    assert!(read_only, "the node's root is mounted read-only");
    for volume in list(&agent_pod["volumes"]) {
        if volume["name"].as_str() == Some("host-root") {
            assert_eq!(volume["hostPath"]["path"].as_str(), Some("/"));
        }
    }

    // Images name what the Dockerfiles build, at the workspace version, and kustomize knows them.
    let kustomize_images: BTreeMap<&str, &str> = list(&kustomization["images"])
        .iter()
        .map(|entry| {
            (
                str_of(&entry["name"], "name"),
                str_of(&entry["newTag"], "newTag"),
            )
        })
        .collect();
    for (component, workload) in [("collector", collector), ("agent", agent)] {
        let file = dockerfile(component);
        let binary = format!("vigil-{component}");
        let (name, tag) = image(workload);
        assert_eq!(name, file.title, "{component}: image vs Dockerfile title");
        assert_eq!(file.title, binary);
        assert_eq!(tag, version, "{component}: image tag vs workspace version");
        assert_eq!(kustomize_images.get(name.as_str()), Some(&version.as_str()));
        assert_eq!(file.built_package, binary);
        assert_eq!(file.entrypoint, format!("/usr/bin/{binary}"));
        let (source, destination) = file.config_copy.expect("the image ships a config");
        assert!(root().join(&source).is_file(), "{source}");
        assert_eq!(file.cmd, vec!["--config".to_owned(), destination.clone()]);
        // The pod replaces the image's config with its ConfigMap at the same path.
        let args: Vec<&str> = list(&workload["args"])
            .iter()
            .filter_map(Yaml::as_str)
            .collect();
        assert_eq!(args, vec!["--config", destination.as_str()]);
        if component == "collector" {
            assert_eq!(file.exposed, vec![listen.port()]);
        }
    }
}

fn pod_labels(workload: &Yaml) -> BTreeMap<Yaml, Yaml> {
    workload["spec"]["template"]["metadata"]["labels"]
        .as_hash()
        .expect("pod labels")
        .iter()
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}
