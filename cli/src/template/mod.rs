//! Reading a Function Compute (Aliyun::Serverless / ROS) template for local runs.
//!
//! Only what running the functions locally needs is resolved: the parameters
//! (defaults, overridden by `--param`), the service's functions (binary from
//! `CodeUri`, memory, timeout, instance concurrency, environment) and their OSS
//! and Timer triggers. Intrinsic functions are resolved as far as they mean
//! anything locally: `Ref` to a parameter or a pseudo parameter
//! (`ALIYUN::Region`, `ALIYUN::AccountId`, ...), `Fn::Sub`, `Fn::Join`, `Fn::If`
//! with `Fn::Equals`/`Fn::Not`/`Fn::And`/`Fn::Or` conditions. What only exists
//! after a deployment (`Fn::GetAtt`, `Ref` to a resource) is an error naming the
//! place in the template, but only where the runner needs the value: roles,
//! log configuration and the like are not read at all.
//!
//! YAML anchors and aliases (`&crr-environment` / `*crr-environment`) and merge
//! keys (`<<`) are expanded while parsing; the short tag forms (`!Ref`, `!Sub`,
//! ...) are accepted like their long forms.
//!
//! This module reads a template in three steps: `parameters` (declared parameters
//! and the values in force), `intrinsics` (resolving intrinsic functions and
//! conditions with them) and `functions` (the services' functions and triggers).
//! `stack` holds what comes out, `value` the YAML access with located errors.

use std::path::Path;

use serde_yaml::Value;

mod functions;
mod intrinsics;
mod parameters;
mod stack;
#[cfg(test)]
mod tests;
mod value;

pub use functions::binary_of;
pub use stack::{FunctionSpec, OssTrigger, Parameter, ResolveOptions, Stack, TimerTrigger, Trigger};
pub use value::TemplateError;

use functions::read_functions;
use intrinsics::Resolver;
use parameters::{read_parameters, values_in_force};
use value::{get, Result};

/// Reads and resolves the template at `path`.
pub fn load(path: &Path, options: &ResolveOptions) -> Result<Stack> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| TemplateError(format!("{}: {e}; pass the template with --template", path.display())))?;
    parse(&text, options).map_err(|e| TemplateError(format!("{}: {}", path.display(), e.0)))
}

/// The names of the parameters a template declares.
pub fn declared_parameters(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| TemplateError(format!("{}: {e}; pass the template with --template", path.display())))?;
    let doc: Value = serde_yaml::from_str(&text)
        .map_err(|e| TemplateError(format!("{}: not a valid YAML template: {e}", path.display())))?;
    let root = doc.as_mapping().ok_or_else(|| TemplateError(format!("{}: not a YAML mapping", path.display())))?;
    Ok(read_parameters(root)?.into_iter().map(|p| p.name).collect())
}

/// Parses and resolves a template's text.
pub fn parse(text: &str, options: &ResolveOptions) -> Result<Stack> {
    let mut doc: Value =
        serde_yaml::from_str(text).map_err(|e| TemplateError(format!("not a valid YAML template: {e}")))?;
    doc.apply_merge().map_err(|e| TemplateError(format!("YAML merge key (<<): {e}")))?;
    let root = doc.as_mapping().ok_or_else(|| TemplateError("the template is not a YAML mapping".into()))?;

    let parameters = read_parameters(root)?;
    let values = values_in_force(&parameters, options)?;
    let resources = get(root, "Resources")
        .and_then(Value::as_mapping)
        .ok_or_else(|| TemplateError("Resources: missing, or not a mapping".into()))?;
    let conditions = get(root, "Conditions").and_then(Value::as_mapping).cloned().unwrap_or_default();
    let resolver = Resolver {
        declared: parameters.iter().map(|p| p.name.clone()).collect(),
        values: &values,
        resources: resources.keys().filter_map(Value::as_str).map(str::to_owned).collect(),
        conditions: &conditions,
        options,
    };
    let functions = read_functions(&resolver, resources)?;
    Ok(Stack { parameters, values, functions })
}
