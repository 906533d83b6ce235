//! Reading Kubernetes objects from YAML/JSON files, directories and stdin.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_json::Value;

/// Every object of every input, each with its origin (the file name or `stdin`).
pub fn read_inputs(inputs: &[String]) -> Result<Vec<(String, Value)>> {
    let mut objects = Vec::new();
    for input in inputs {
        if input == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading stdin")?;
            objects.extend(parse_documents("stdin", &text)?);
            continue;
        }
        let path = Path::new(input);
        if !path.exists() {
            bail!("{input}: no such file or directory");
        }
        for file in files_under(path)? {
            let origin = file.display().to_string();
            let text =
                std::fs::read_to_string(&file).with_context(|| format!("reading {origin}"))?;
            objects.extend(parse_documents(&origin, &text)?);
        }
    }
    Ok(objects)
}

/// The input files at or below `path`, sorted (so output does not depend on directory order).
fn files_under(path: &Path) -> Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    let mut pending = vec![path.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
        {
            let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path
                .extension()
                .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
            {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Parses a YAML (or JSON) stream of documents; empty documents are skipped.
pub fn parse_documents(origin: &str, text: &str) -> Result<Vec<(String, Value)>> {
    let mut objects = Vec::new();
    for (index, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(document)
            .with_context(|| format!("{origin}: document {} is not valid YAML", index + 1))?;
        if !value.is_null() {
            objects.push((origin.to_string(), value));
        }
    }
    Ok(objects)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_streams_and_names_bad_documents() {
        let objects = parse_documents("a.yaml", "---\nkind: A\n---\n---\nkind: B\n").unwrap();
        assert_eq!(objects.len(), 2);
        let error = parse_documents("b.yaml", "kind: A\n---\nkind: [unclosed\n").unwrap_err();
        assert!(
            format!("{error:#}").contains("b.yaml: document 2"),
            "{error:#}"
        );
    }
}
