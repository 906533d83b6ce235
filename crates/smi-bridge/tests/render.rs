//! `smi-bridge render` as a user runs it: real files in, YAML and statuses out, exit codes.

use std::path::Path;
use std::process::{Command, Output};

fn repo_root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn render(args: &[&str], stdin: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_smi-bridge"));
    command.arg("render").args(args).current_dir(repo_root());
    match stdin {
        None => command.output().expect("smi-bridge runs"),
        Some(input) => {
            use std::io::Write;
            let mut child = command
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("smi-bridge runs");
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
            child.wait_with_output().unwrap()
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn renders_the_examples_for_every_mesh_deterministically() {
    for mesh in ["istio", "linkerd", "consul", "gamma"] {
        let first = render(&["--mesh", mesh, "-f", "examples/"], None);
        let stderr = text(&first.stderr);
        assert!(
            first.status.success() || first.status.code() == Some(2),
            "{mesh}: {stderr}"
        );
        let stdout = text(&first.stdout);
        assert!(stdout.starts_with("---\napiVersion: "), "{mesh}: {stdout}");
        assert!(
            stdout.contains("smi-bridge.io/sources"),
            "{mesh}: ownership annotation missing"
        );
        assert!(stderr.contains("TrafficSplit bookstore/bookstore-canary (examples/bookstore/canary.yaml): Accepted=True"), "{mesh}: {stderr}");
        let second = render(&["--mesh", mesh, "-f", "examples/"], None);
        assert_eq!(
            first.stdout, second.stdout,
            "{mesh}: output differs between two runs"
        );
    }
}

#[test]
fn reads_stdin_and_warns_about_kinds_it_ignores() {
    let input = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: d}\n";
    let output = render(&["--mesh", "istio", "-f", "-"], Some(input));
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("warning: stdin: ignored ConfigMap d/c"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn malformed_input_names_the_file_the_object_and_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "apiVersion: split.smi-spec.io/v1alpha1\nkind: TrafficSplit\nmetadata: {name: web, namespace: shop}\nspec:\n  service: web\n  backends:\n  - service: web-v1\n    weight: 1.2.3\n",
    )
    .unwrap();
    let output = render(&["--mesh", "istio", "-f", file.to_str().unwrap()], None);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("bad.yaml"), "{stderr}");
    assert!(stderr.contains("TrafficSplit shop/web"), "{stderr}");
    assert!(stderr.contains("spec.backends[0].weight"), "{stderr}");
    assert!(stderr.contains("1.2.3"), "{stderr}");
    assert!(output.stdout.is_empty());
}

#[test]
fn unknown_kinds_of_an_smi_group_are_refused() {
    let input =
        "apiVersion: split.smi-spec.io/v1alpha4\nkind: TrafficSplitter\nmetadata: {name: web}\n";
    let output = render(&["--mesh", "istio", "-f", "-"], Some(input));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("TrafficSplitter"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn an_object_that_is_not_accepted_sets_exit_code_2_and_says_why() {
    let input = "apiVersion: split.smi-spec.io/v1alpha4\nkind: TrafficSplit\nmetadata: {name: web, namespace: shop}\nspec:\n  service: web\n  backends:\n  - {service: web-v1, weight: 0}\n";
    let output = render(&["--mesh", "istio", "-f", "-"], Some(input));
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("TrafficSplit shop/web (stdin): Accepted=False"),
        "{stderr}"
    );
    assert!(stderr.contains("ZeroTotalWeight"), "{stderr}");
}
