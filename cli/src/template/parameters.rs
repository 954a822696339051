//! The template's `Parameters`: what each declares (default, AllowedValues), and the
//! values in force for a run, the defaults overridden by `--param`.

use std::collections::BTreeMap;

use serde_yaml::{Mapping, Value};

use super::stack::{Parameter, ResolveOptions};
use super::value::{get, key_str, scalar, Result, TemplateError};

pub(super) fn read_parameters(root: &Mapping) -> Result<Vec<Parameter>> {
    let Some(params) = get(root, "Parameters") else { return Ok(Vec::new()) };
    let params = params.as_mapping().ok_or_else(|| TemplateError("Parameters: not a mapping".into()))?;
    let mut out = Vec::new();
    for (k, v) in params {
        let name = key_str(k, "Parameters")?.to_owned();
        let path = format!("Parameters.{name}");
        let default = match get(v.as_mapping().unwrap_or(&Mapping::new()), "Default") {
            None | Some(Value::Null) => None,
            Some(d) => Some(scalar(d, &format!("{path}.Default"))?),
        };
        let allowed_values = match v.get("AllowedValues") {
            None => None,
            Some(Value::Sequence(list)) => Some(
                list.iter()
                    .enumerate()
                    .map(|(i, a)| scalar(a, &format!("{path}.AllowedValues[{i}]")))
                    .collect::<Result<Vec<_>>>()?,
            ),
            Some(_) => return Err(TemplateError::at(&format!("{path}.AllowedValues"), "not a list")),
        };
        out.push(Parameter { name, default, allowed_values });
    }
    Ok(out)
}

/// The parameter values in force: the defaults, overridden by `options.params`, each
/// of which must be declared and one of its AllowedValues.
pub(super) fn values_in_force(parameters: &[Parameter], options: &ResolveOptions) -> Result<BTreeMap<String, String>> {
    let mut values = BTreeMap::new();
    for p in parameters {
        if let Some(d) = &p.default {
            values.insert(p.name.clone(), d.clone());
        }
    }
    for (k, v) in &options.params {
        let Some(p) = parameters.iter().find(|p| &p.name == k) else {
            let known: Vec<&str> = parameters.iter().map(|p| p.name.as_str()).collect();
            return Err(TemplateError(format!(
                "--param {k}: the template declares no parameter {k}; its parameters are {}",
                known.join(", ")
            )));
        };
        if let Some(allowed) = &p.allowed_values {
            if !allowed.contains(v) {
                return Err(TemplateError(format!(
                    "--param {k}={v}: not one of the parameter's AllowedValues {}",
                    allowed.join(", ")
                )));
            }
        }
        values.insert(k.clone(), v.clone());
    }
    Ok(values)
}
