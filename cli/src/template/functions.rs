//! The template's functions: each `Aliyun::Serverless::Function` of each
//! `Aliyun::Serverless::Service`, with its settings (Function Compute's defaults where
//! the template says nothing), its environment and its OSS and Timer triggers, the
//! values resolved through the [`Resolver`].

use std::collections::BTreeMap;

use serde_yaml::{Mapping, Value};

use super::intrinsics::Resolver;
use super::stack::{FunctionSpec, OssTrigger, TimerTrigger, Trigger};
use super::value::{get, get_str, key_str, Result, TemplateError};

/// Every function of every service in `resources`, in template order.
pub(super) fn read_functions(r: &Resolver, resources: &Mapping) -> Result<Vec<FunctionSpec>> {
    let mut functions = Vec::new();
    for (service_key, service) in resources {
        let service_name = key_str(service_key, "Resources")?;
        if get_str(service, "Type") != Some("Aliyun::Serverless::Service") {
            continue;
        }
        let service_path = format!("Resources.{service_name}");
        let service_map = service.as_mapping().ok_or_else(|| TemplateError::at(&service_path, "not a mapping"))?;
        for (fn_key, function) in service_map {
            let fn_name = key_str(fn_key, &service_path)?;
            if matches!(fn_name, "Type" | "Properties" | "DependsOn" | "Metadata" | "Condition") {
                continue;
            }
            let path = format!("{service_path}.{fn_name}");
            match get_str(function, "Type") {
                Some("Aliyun::Serverless::Function") => {}
                other => {
                    return Err(TemplateError::at(
                        &path,
                        format!(
                            "type {} is not run by crr dev; a service holds Aliyun::Serverless::Function entries",
                            other.unwrap_or("(none)")
                        ),
                    ))
                }
            }
            if functions.iter().any(|f: &FunctionSpec| f.name == fn_name) {
                return Err(TemplateError::at(&path, "a function of this name is already declared in another service"));
            }
            functions.push(read_function(r, service_name, fn_name, function, &path)?);
        }
    }
    if functions.is_empty() {
        return Err(TemplateError(
            "Resources: no Aliyun::Serverless::Service with Aliyun::Serverless::Function entries".into(),
        ));
    }
    Ok(functions)
}

fn read_function(r: &Resolver, service: &str, name: &str, function: &Value, path: &str) -> Result<FunctionSpec> {
    let props_path = format!("{path}.Properties");
    let props = function
        .get("Properties")
        .and_then(Value::as_mapping)
        .ok_or_else(|| TemplateError::at(&props_path, "missing, or not a mapping"))?;
    let prop = |key: &str| -> Result<Option<String>> {
        match get(props, key) {
            None => Ok(None),
            Some(v) => {
                let p = format!("{props_path}.{key}");
                r.resolve_scalar(v, &p).map(Some)
            }
        }
    };
    let number = |key: &str, default: u64| -> Result<u64> {
        match prop(key)? {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| TemplateError::at(&format!("{props_path}.{key}"), format!("{v:?} is not a whole number"))),
        }
    };

    let code_uri = prop("CodeUri")?.ok_or_else(|| {
        TemplateError::at(&format!("{props_path}.CodeUri"), "missing: it names the package of the function")
    })?;
    let binary = binary_of(&code_uri)
        .ok_or_else(|| TemplateError::at(&format!("{props_path}.CodeUri"), format!("{code_uri:?} names no package")))?;

    let mut env = BTreeMap::new();
    if let Some(vars) = get(props, "EnvironmentVariables") {
        let env_path = format!("{props_path}.EnvironmentVariables");
        let vars = vars.as_mapping().ok_or_else(|| TemplateError::at(&env_path, "not a mapping"))?;
        for (k, v) in vars {
            let key = key_str(k, &env_path)?;
            env.insert(key.to_owned(), r.resolve_scalar(v, &format!("{env_path}.{key}"))?);
        }
    }

    let mut triggers = Vec::new();
    if let Some(events) = function.get("Events") {
        let events_path = format!("{path}.Events");
        let events = events.as_mapping().ok_or_else(|| TemplateError::at(&events_path, "not a mapping"))?;
        for (k, v) in events {
            let trigger_name = key_str(k, &events_path)?;
            triggers.push(read_trigger(r, trigger_name, v, &format!("{events_path}.{trigger_name}"))?);
        }
    }

    Ok(FunctionSpec {
        service: service.to_owned(),
        name: name.to_owned(),
        binary,
        // Function Compute's defaults.
        memory_mb: number("MemorySize", 128)?,
        timeout_secs: number("Timeout", 3)?,
        instance_concurrency: number("InstanceConcurrency", 1)?.max(1),
        env,
        triggers,
    })
}

fn read_trigger(r: &Resolver, name: &str, trigger: &Value, path: &str) -> Result<Trigger> {
    let kind = get_str(trigger, "Type").unwrap_or("(none)");
    let props_path = format!("{path}.Properties");
    let empty = Mapping::new();
    let props = match trigger.get("Properties") {
        None => &empty,
        Some(p) => p.as_mapping().ok_or_else(|| TemplateError::at(&props_path, "not a mapping"))?,
    };
    let text = |key: &str| -> Result<Option<String>> {
        get(props, key).map(|v| r.resolve_scalar(v, &format!("{props_path}.{key}"))).transpose()
    };
    match kind {
        "OSS" => {
            let bucket = text("BucketName")?
                .ok_or_else(|| TemplateError::at(&format!("{props_path}.BucketName"), "missing"))?;
            let events_path = format!("{props_path}.Events");
            let events = match get(props, "Events") {
                Some(Value::Sequence(list)) => list
                    .iter()
                    .enumerate()
                    .map(|(i, e)| r.resolve_scalar(e, &format!("{events_path}[{i}]")))
                    .collect::<Result<Vec<_>>>()?,
                Some(other) => vec![r.resolve_scalar(other, &events_path)?],
                None => return Err(TemplateError::at(&events_path, "missing: e.g. [oss:ObjectCreated:*]")),
            };
            for (i, e) in events.iter().enumerate() {
                if !e.starts_with("oss:") {
                    return Err(TemplateError::at(
                        &format!("{events_path}[{i}]"),
                        format!("{e:?} is not an OSS event pattern such as oss:ObjectCreated:*"),
                    ));
                }
            }
            let key_path = format!("{props_path}.Filter.Key");
            let key = props.get("Filter").and_then(|f| f.get("Key"));
            let filter = |field: &str| -> Result<String> {
                match key.and_then(|k| k.get(field)) {
                    None | Some(Value::Null) => Ok(String::new()),
                    Some(v) => r.resolve_scalar(v, &format!("{key_path}.{field}")),
                }
            };
            Ok(Trigger::Oss(OssTrigger {
                name: name.to_owned(),
                bucket,
                events,
                prefix: filter("Prefix")?,
                suffix: filter("Suffix")?,
            }))
        }
        "Timer" => {
            let cron = text("CronExpression")?
                .ok_or_else(|| TemplateError::at(&format!("{props_path}.CronExpression"), "missing"))?;
            crate::cron::Schedule::parse(&cron)
                .map_err(|e| TemplateError::at(&format!("{props_path}.CronExpression"), e))?;
            let enabled = match text("Enable")? {
                None => true,
                Some(v) => match v.as_str() {
                    "true" | "True" | "TRUE" => true,
                    "false" | "False" | "FALSE" => false,
                    _ => return Err(TemplateError::at(&format!("{props_path}.Enable"), format!("{v:?} is not true or false"))),
                },
            };
            Ok(Trigger::Timer(TimerTrigger {
                name: name.to_owned(),
                cron,
                payload: text("Payload")?.unwrap_or_default(),
                enabled,
            }))
        }
        other => Err(TemplateError::at(
            &format!("{path}.Type"),
            format!("trigger type {other} is not emulated by crr dev (OSS and Timer are); remove it from a local copy of the template"),
        )),
    }
}

/// `./dist/object-created.zip` → `object-created`; a directory → its last component.
pub fn binary_of(code_uri: &str) -> Option<String> {
    let name = code_uri.trim_end_matches('/').rsplit('/').next()?;
    let name = name.strip_suffix(".zip").unwrap_or(name);
    (!name.is_empty() && name != "." && name != "..").then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_uris_name_binaries() {
        for (uri, bin) in [
            ("./dist/object-created.zip", Some("object-created")),
            ("dist/backfill.zip", Some("backfill")),
            ("./build/object-deleted/", Some("object-deleted")),
            ("crr", Some("crr")),
            ("./", None),
            ("", None),
        ] {
            assert_eq!(binary_of(uri).as_deref(), bin, "{uri}");
        }
    }
}
