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

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_yaml::{Mapping, Value};

/// A template problem: what is wrong, where (a path such as
/// `Resources.crr.object-created.Properties.Timeout`) and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(String);

impl TemplateError {
    fn at(path: &str, message: impl std::fmt::Display) -> Self {
        TemplateError(format!("{path}: {message}"))
    }
}

type Result<T> = std::result::Result<T, TemplateError>;

/// Values the template cannot give itself.
#[derive(Debug, Clone, Default)]
pub struct ResolveOptions {
    /// Parameter values; they override the template's defaults.
    pub params: BTreeMap<String, String>,
    /// `ALIYUN::Region`.
    pub region: String,
    /// `ALIYUN::AccountId`.
    pub account_id: String,
    /// `ALIYUN::StackName`.
    pub stack_name: String,
}

/// One declared parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    pub name: String,
    pub default: Option<String>,
    pub allowed_values: Option<Vec<String>>,
}

/// The functions of a template with everything the runner needs resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stack {
    pub parameters: Vec<Parameter>,
    /// Parameter values in force: defaults and overrides.
    pub values: BTreeMap<String, String>,
    pub functions: Vec<FunctionSpec>,
}

impl Stack {
    pub fn function(&self, name: &str) -> Option<&FunctionSpec> {
        self.functions.iter().find(|f| f.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSpec {
    pub service: String,
    pub name: String,
    /// The workspace binary the function's `CodeUri` packages, e.g. `object-created`
    /// for `./dist/object-created.zip`.
    pub binary: String,
    pub memory_mb: u64,
    pub timeout_secs: u64,
    pub instance_concurrency: u64,
    pub env: BTreeMap<String, String>,
    pub triggers: Vec<Trigger>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    Oss(OssTrigger),
    Timer(TimerTrigger),
}

impl Trigger {
    pub fn name(&self) -> &str {
        match self {
            Trigger::Oss(t) => &t.name,
            Trigger::Timer(t) => &t.name,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OssTrigger {
    pub name: String,
    pub bucket: String,
    /// Event patterns as written, e.g. `oss:ObjectCreated:*`.
    pub events: Vec<String>,
    pub prefix: String,
    pub suffix: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimerTrigger {
    pub name: String,
    /// 6-field cron with seconds, or `@every <duration>`.
    pub cron: String,
    pub payload: String,
    pub enabled: bool,
}

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
    let mut values = BTreeMap::new();
    for p in &parameters {
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
            functions.push(read_function(&resolver, service_name, fn_name, function, &path)?);
        }
    }
    if functions.is_empty() {
        return Err(TemplateError(
            "Resources: no Aliyun::Serverless::Service with Aliyun::Serverless::Function entries".into(),
        ));
    }
    Ok(Stack { parameters, values, functions })
}

fn read_parameters(root: &Mapping) -> Result<Vec<Parameter>> {
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

struct Resolver<'a> {
    declared: BTreeSet<String>,
    values: &'a BTreeMap<String, String>,
    resources: BTreeSet<String>,
    conditions: &'a Mapping,
    options: &'a ResolveOptions,
}

const PSEUDO: &[&str] = &["ALIYUN::Region", "ALIYUN::AccountId", "ALIYUN::StackName", "ALIYUN::NoValue"];

impl Resolver<'_> {
    /// Resolves `v` to a string: scalars as written, intrinsic functions evaluated.
    fn resolve_scalar(&self, v: &Value, path: &str) -> Result<String> {
        match self.resolve(v, path, 0)? {
            Value::Null => Ok(String::new()),
            other => scalar(&other, path),
        }
    }

    fn resolve(&self, v: &Value, path: &str, depth: usize) -> Result<Value> {
        if depth > 32 {
            return Err(TemplateError::at(path, "intrinsic functions nested more than 32 deep"));
        }
        match v {
            Value::Tagged(tagged) => self.resolve(&long_form(tagged, path)?, path, depth + 1),
            Value::Mapping(m) if m.len() == 1 => {
                let (k, arg) = m.iter().next().expect("one entry");
                match k.as_str() {
                    Some(name @ ("Ref" | "Fn::Sub" | "Fn::Join" | "Fn::If" | "Fn::GetAtt")) => {
                        self.intrinsic(name, arg, &format!("{path}.{name}"), depth)
                    }
                    Some(name) if name.starts_with("Fn::") => Err(TemplateError::at(
                        &format!("{path}.{name}"),
                        format!("{name} is not resolved by crr dev (Ref, Fn::Sub, Fn::Join and Fn::If are)"),
                    )),
                    _ => self.resolve_children(v, path, depth),
                }
            }
            _ => self.resolve_children(v, path, depth),
        }
    }

    fn resolve_children(&self, v: &Value, path: &str, depth: usize) -> Result<Value> {
        Ok(match v {
            Value::Mapping(m) => {
                let mut out = Mapping::new();
                for (k, child) in m {
                    let key = k.as_str().unwrap_or("?");
                    out.insert(k.clone(), self.resolve(child, &format!("{path}.{key}"), depth + 1)?);
                }
                Value::Mapping(out)
            }
            Value::Sequence(list) => Value::Sequence(
                list.iter()
                    .enumerate()
                    .map(|(i, child)| self.resolve(child, &format!("{path}[{i}]"), depth + 1))
                    .collect::<Result<_>>()?,
            ),
            other => other.clone(),
        })
    }

    fn intrinsic(&self, name: &str, arg: &Value, path: &str, depth: usize) -> Result<Value> {
        match name {
            "Ref" => {
                let target = self.resolve_scalar(arg, path)?;
                self.lookup(&target, path).map(Value::String)
            }
            "Fn::Sub" => {
                let (text, vars) = match arg {
                    Value::Sequence(list) if list.len() == 2 => {
                        let vars = list[1]
                            .as_mapping()
                            .ok_or_else(|| TemplateError::at(&format!("{path}[1]"), "not a mapping of variables"))?;
                        let mut resolved = BTreeMap::new();
                        for (k, v) in vars {
                            let key = key_str(k, path)?;
                            resolved.insert(key.to_owned(), self.resolve_scalar(v, &format!("{path}[1].{key}"))?);
                        }
                        (scalar(&list[0], &format!("{path}[0]"))?, resolved)
                    }
                    Value::String(s) => (s.clone(), BTreeMap::new()),
                    _ => return Err(TemplateError::at(path, "expected a string, or [string, {variables}]")),
                };
                self.substitute(&text, &vars, path).map(Value::String)
            }
            "Fn::Join" => {
                let list = arg.as_sequence().filter(|l| l.len() == 2).ok_or_else(|| {
                    TemplateError::at(path, "expected [delimiter, [values]]")
                })?;
                let delimiter = scalar(&list[0], &format!("{path}[0]"))?;
                let items = match self.resolve(&list[1], &format!("{path}[1]"), depth + 1)? {
                    Value::Sequence(items) => items,
                    _ => return Err(TemplateError::at(&format!("{path}[1]"), "not a list")),
                };
                let parts = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| scalar(item, &format!("{path}[1][{i}]")))
                    .collect::<Result<Vec<_>>>()?;
                Ok(Value::String(parts.join(&delimiter)))
            }
            "Fn::If" => {
                let list = arg
                    .as_sequence()
                    .filter(|l| l.len() == 3)
                    .ok_or_else(|| TemplateError::at(path, "expected [condition, value if true, value if false]"))?;
                let condition = scalar(&list[0], &format!("{path}[0]"))?;
                let chosen = if self.condition(&condition, path, depth)? { 1 } else { 2 };
                self.resolve(&list[chosen], &format!("{path}[{chosen}]"), depth + 1)
            }
            "Fn::GetAtt" => Err(TemplateError::at(
                path,
                "Fn::GetAtt names an attribute that exists only once the stack is deployed; crr dev cannot resolve it here",
            )),
            _ => unreachable!("only the names matched in resolve"),
        }
    }

    fn lookup(&self, name: &str, path: &str) -> Result<String> {
        if let Some(v) = self.values.get(name) {
            return Ok(v.clone());
        }
        match name {
            "ALIYUN::Region" => return Ok(self.options.region.clone()),
            "ALIYUN::AccountId" => return Ok(self.options.account_id.clone()),
            "ALIYUN::StackName" => return Ok(self.options.stack_name.clone()),
            "ALIYUN::NoValue" => return Ok(String::new()),
            _ => {}
        }
        if self.declared.contains(name) {
            return Err(TemplateError::at(
                path,
                format!("parameter {name} has no default and no value: pass --param {name}=VALUE"),
            ));
        }
        if self.resources.contains(name) {
            return Err(TemplateError::at(
                path,
                format!("{name} is a resource, whose identity exists only once the stack is deployed; crr dev cannot resolve it here"),
            ));
        }
        Err(TemplateError::at(
            path,
            format!("{name} is neither a parameter of the template nor a pseudo parameter ({})", PSEUDO.join(", ")),
        ))
    }

    fn substitute(&self, text: &str, vars: &BTreeMap<String, String>, path: &str) -> Result<String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').ok_or_else(|| TemplateError::at(path, format!("unclosed ${{ in {text:?}")))?;
            let name = after[..end].trim();
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(v) = vars.get(name) {
                out.push_str(v);
            } else if name.contains('.') && !name.starts_with("ALIYUN::") {
                return Err(TemplateError::at(
                    path,
                    format!("${{{name}}} names a resource attribute that exists only once the stack is deployed"),
                ));
            } else {
                out.push_str(&self.lookup(name, path)?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn condition(&self, name: &str, path: &str, depth: usize) -> Result<bool> {
        let expr = get(self.conditions, name)
            .ok_or_else(|| TemplateError::at(path, format!("condition {name} is not declared under Conditions")))?;
        self.evaluate(expr, &format!("Conditions.{name}"), depth + 1)
    }

    fn evaluate(&self, expr: &Value, path: &str, depth: usize) -> Result<bool> {
        if depth > 32 {
            return Err(TemplateError::at(path, "conditions nested more than 32 deep (a cycle?)"));
        }
        let expr = match expr {
            Value::Tagged(t) => long_form(t, path)?,
            other => other.clone(),
        };
        let Some((k, arg)) = expr.as_mapping().filter(|m| m.len() == 1).and_then(|m| m.iter().next()) else {
            return match expr {
                Value::Bool(b) => Ok(b),
                _ => Err(TemplateError::at(path, "expected Fn::Equals, Fn::Not, Fn::And, Fn::Or or Condition")),
            };
        };
        let name = k.as_str().unwrap_or("?");
        let path = format!("{path}.{name}");
        let list = |n: Option<usize>| -> Result<&Vec<Value>> {
            arg.as_sequence()
                .filter(|l| n.is_none_or(|n| l.len() == n))
                .ok_or_else(|| TemplateError::at(&path, "wrong arguments"))
        };
        match name {
            "Fn::Equals" => {
                let l = list(Some(2))?;
                Ok(self.resolve_scalar(&l[0], &format!("{path}[0]"))?
                    == self.resolve_scalar(&l[1], &format!("{path}[1]"))?)
            }
            "Fn::Not" => Ok(!self.evaluate(&list(Some(1))?[0], &format!("{path}[0]"), depth + 1)?),
            "Fn::And" | "Fn::Or" => {
                let mut results = Vec::new();
                for (i, e) in list(None)?.iter().enumerate() {
                    results.push(self.evaluate(e, &format!("{path}[{i}]"), depth + 1)?);
                }
                Ok(if name == "Fn::And" { results.iter().all(|b| *b) } else { results.iter().any(|b| *b) })
            }
            "Condition" => self.condition(&scalar(arg, &path)?, &path, depth + 1),
            other => Err(TemplateError::at(&path, format!("{other} is not a condition function crr dev evaluates"))),
        }
    }
}

/// `!Ref X` → `{Ref: X}`, `!Sub ...` → `{Fn::Sub: ...}`, `!GetAtt A.B` → `{Fn::GetAtt: [A, B]}`.
fn long_form(tagged: &serde_yaml::value::TaggedValue, path: &str) -> Result<Value> {
    let tag = tagged.tag.to_string();
    let tag = tag.trim_start_matches('!');
    let name = match tag {
        "Ref" | "Condition" => tag.to_owned(),
        "Sub" | "Join" | "If" | "Equals" | "Not" | "And" | "Or" | "GetAtt" | "Select" | "Split" | "Base64" => {
            format!("Fn::{tag}")
        }
        other => return Err(TemplateError::at(path, format!("unknown YAML tag !{other}"))),
    };
    let value = match (&*name, &tagged.value) {
        ("Fn::GetAtt", Value::String(s)) => {
            Value::Sequence(s.splitn(2, '.').map(|p| Value::String(p.to_owned())).collect())
        }
        (_, v) => v.clone(),
    };
    let mut m = Mapping::new();
    m.insert(Value::String(name), value);
    Ok(Value::Mapping(m))
}

fn get<'a>(m: &'a Mapping, key: &str) -> Option<&'a Value> {
    m.get(Value::String(key.to_owned()))
}

fn get_str<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn key_str<'a>(k: &'a Value, path: &str) -> Result<&'a str> {
    k.as_str().ok_or_else(|| TemplateError::at(path, format!("key {k:?} is not a string")))
}

/// A scalar as the text ROS would see.
fn scalar(v: &Value, path: &str) -> Result<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Null => Ok(String::new()),
        Value::Tagged(_) => Err(TemplateError::at(path, "an intrinsic function where a plain value is expected")),
        Value::Sequence(_) | Value::Mapping(_) => {
            Err(TemplateError::at(path, "expected a single value, found a list or mapping"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_template() -> String {
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap()
    }

    fn options(params: &[(&str, &str)]) -> ResolveOptions {
        let mut all: BTreeMap<String, String> = [
            ("SourceBucket", "src-bucket"),
            ("DestBucket", "dst-bucket"),
            ("ReplicationRoleArn", "arn:aws:iam::222222222222:role/crr-replicator"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        for (k, v) in params {
            all.insert(k.to_string(), v.to_string());
        }
        ResolveOptions {
            params: all,
            region: "cn-hangzhou".into(),
            account_id: "1234567890123456".into(),
            stack_name: "local".into(),
        }
    }

    #[test]
    fn the_repository_template_resolves() {
        let stack = parse(&repo_template(), &options(&[("TriggerSuffix", ".jpg")])).unwrap();
        let names: Vec<&str> = stack.functions.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["object-created", "object-deleted", "backfill"]);

        let created = stack.function("object-created").unwrap();
        assert_eq!(created.service, "crr");
        assert_eq!(created.binary, "object-created");
        assert_eq!((created.memory_mb, created.timeout_secs, created.instance_concurrency), (512, 600, 20));
        assert_eq!(
            created.triggers,
            [Trigger::Oss(OssTrigger {
                name: "object-created".into(),
                bucket: "src-bucket".into(),
                events: vec!["oss:ObjectCreated:*".into()],
                prefix: String::new(),
                suffix: ".jpg".into(),
            })]
        );
        // No SourceEndpoint given: Fn::If takes the region's internal endpoint through Fn::Sub.
        assert_eq!(created.env["CRR_SOURCE_ENDPOINT"], "https://s3.oss-cn-hangzhou-internal.aliyuncs.com");
        assert_eq!(created.env["CRR_SOURCE_BUCKET"], "src-bucket");
        assert_eq!(created.env["CRR_ACTION"], "PUT");
        assert_eq!(created.env["CRR_STS_DURATION"], "3600");
        assert_eq!(created.env["CRR_SOURCE_REGION"], "");

        // The alias *crr-environment gives the other functions the same environment.
        let deleted = stack.function("object-deleted").unwrap();
        let backfill = stack.function("backfill").unwrap();
        assert_eq!(deleted.env, created.env);
        assert_eq!(backfill.env, created.env);
        let keys: Vec<&str> = created.env.keys().map(String::as_str).collect();
        for key in ["CRR_SOURCE_BUCKET", "CRR_DEST_BUCKET", "CRR_ROLE_ARN", "CRR_STS_ENDPOINT", "CRR_DELETE_UNMARKED"] {
            assert!(keys.contains(&key), "{key} in {keys:?}");
        }
        assert_eq!(deleted.binary, "object-deleted");
        assert_eq!((deleted.memory_mb, deleted.timeout_secs, deleted.instance_concurrency), (256, 60, 20));
        match &deleted.triggers[..] {
            [Trigger::Oss(t)] => assert_eq!(t.events, ["oss:ObjectRemoved:*"]),
            other => panic!("{other:?}"),
        }
        assert_eq!((backfill.memory_mb, backfill.timeout_secs, backfill.instance_concurrency), (1024, 7200, 1));
        assert_eq!(
            backfill.triggers,
            [Trigger::Timer(TimerTrigger {
                name: "backfill-schedule".into(),
                cron: "0 30 2 * * *".into(),
                payload: r#"{"mode":"missing"}"#.into(),
                enabled: true,
            })]
        );
    }

    #[test]
    fn parameters_override_defaults_and_conditions() {
        let stack = parse(
            &repo_template(),
            &options(&[
                ("SourceEndpoint", "http://127.0.0.1:4590"),
                ("Action", "ALL"),
                ("BackfillSchedule", "@every 6h"),
                ("TriggerPrefix", "logs/"),
            ]),
        )
        .unwrap();
        let created = stack.function("object-created").unwrap();
        assert_eq!(created.env["CRR_SOURCE_ENDPOINT"], "http://127.0.0.1:4590");
        assert_eq!(created.env["CRR_ACTION"], "ALL");
        assert_eq!(stack.values["Action"], "ALL");
        match &created.triggers[0] {
            Trigger::Oss(t) => assert_eq!((t.prefix.as_str(), t.suffix.as_str()), ("logs/", "")),
            other => panic!("{other:?}"),
        }
        match &stack.function("backfill").unwrap().triggers[0] {
            Trigger::Timer(t) => assert_eq!(t.cron, "@every 6h"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_input_names_what_to_fix() {
        let mut o = options(&[]);
        o.params.remove("DestBucket");
        let e = parse(&repo_template(), &o).unwrap_err().to_string();
        assert!(e.contains("CRR_DEST_BUCKET") && e.contains("--param DestBucket=VALUE"), "{e}");

        let e = parse(&repo_template(), &options(&[("Nope", "1")])).unwrap_err().to_string();
        assert!(e.contains("--param Nope") && e.contains("SourceBucket"), "{e}");

        let e = parse(&repo_template(), &options(&[("Action", "SOME")])).unwrap_err().to_string();
        assert!(e.contains("AllowedValues PUT, ALL"), "{e}");

        let e = parse(&repo_template(), &options(&[("BackfillSchedule", "every day")])).unwrap_err().to_string();
        assert!(e.contains("Resources.crr.backfill.Events.backfill-schedule.Properties.CronExpression"), "{e}");
    }

    const SMALL: &str = r#"
Parameters:
  Bucket: {Type: String, Default: b1}
  Mode: {Type: String, Default: a}
Conditions:
  IsA: !Equals [!Ref Mode, a]
  NotA: {Fn::Not: [{Condition: IsA}]}
  Both: {Fn::And: [{Condition: IsA}, {Fn::Or: [{Condition: NotA}, true]}]}
Resources:
  Role: {Type: 'ALIYUN::RAM::Role'}
  svc:
    Type: 'Aliyun::Serverless::Service'
    Properties: {Role: {Fn::GetAtt: [Role, Arn]}}
    f1:
      Type: 'Aliyun::Serverless::Function'
      Properties:
        CodeUri: ./dist/object-created.zip
        EnvironmentVariables: &env
          SHORT: !Sub '${Bucket}-${ALIYUN::Region}'
          LIST: {Fn::Sub: ['${X}/${!Literal}', {X: {Ref: Bucket}}]}
          JOINED: {Fn::Join: ['-', [a, {Ref: Mode}, 3]]}
          IF: {Fn::If: [Both, yes, no]}
          NUM: 42
      Events:
        t:
          Type: OSS
          Properties: {BucketName: !Ref Bucket, Events: ['oss:ObjectRemoved:DeleteObject']}
    f2:
      Type: 'Aliyun::Serverless::Function'
      Properties:
        CodeUri: ./build/backfill/
        EnvironmentVariables:
          <<: *env
          EXTRA: x
"#;

    #[test]
    fn intrinsics_short_tags_anchors_and_merge_keys() {
        let stack = parse(SMALL, &options(&[])).unwrap_err();
        // The helper sets parameters SMALL does not declare.
        assert!(stack.to_string().contains("declares no parameter"), "{stack}");

        let o = ResolveOptions { region: "r1".into(), ..Default::default() };
        let stack = parse(SMALL, &o).unwrap();
        let f1 = stack.function("f1").unwrap();
        assert_eq!(f1.env["SHORT"], "b1-r1");
        assert_eq!(f1.env["LIST"], "b1/${Literal}");
        assert_eq!(f1.env["JOINED"], "a-a-3");
        assert_eq!(f1.env["IF"], "yes");
        assert_eq!(f1.env["NUM"], "42");
        assert_eq!((f1.memory_mb, f1.timeout_secs, f1.instance_concurrency), (128, 3, 1));
        let f2 = stack.function("f2").unwrap();
        assert_eq!(f2.binary, "backfill");
        assert_eq!(f2.env["SHORT"], "b1-r1");
        assert_eq!(f2.env["EXTRA"], "x");

        let o = ResolveOptions { params: [("Mode".to_owned(), "b".to_owned())].into(), ..o };
        assert_eq!(parse(SMALL, &o).unwrap().function("f1").unwrap().env["IF"], "no");
    }

    #[test]
    fn unsupported_constructs_are_errors_with_their_path() {
        let o = ResolveOptions::default();
        let with = |extra: &str| SMALL.replace("          NUM: 42", &format!("          NUM: 42\n          {extra}"));
        let e = parse(&with("BAD: {Fn::GetAtt: [Role, Arn]}"), &o).unwrap_err().to_string();
        assert!(e.contains("Resources.svc.f1.Properties.EnvironmentVariables.BAD.Fn::GetAtt"), "{e}");
        let e = parse(&with("BAD: {Ref: Role}"), &o).unwrap_err().to_string();
        assert!(e.contains("BAD.Ref: Role is a resource"), "{e}");
        let e = parse(&with("BAD: {Fn::Select: [0, [a]]}"), &o).unwrap_err().to_string();
        assert!(e.contains("BAD.Fn::Select: Fn::Select is not resolved"), "{e}");
        let e = parse(&with("BAD: !Sub '${Role.Arn}'"), &o).unwrap_err().to_string();
        assert!(e.contains("resource attribute"), "{e}");
        let e = parse(&with("BAD: [1, 2]"), &o).unwrap_err().to_string();
        assert!(e.contains("BAD: expected a single value"), "{e}");

        let http = SMALL.replace("Type: OSS", "Type: HTTP");
        let e = parse(&http, &o).unwrap_err().to_string();
        assert!(e.contains("Resources.svc.f1.Events.t.Type: trigger type HTTP is not emulated"), "{e}");
        let e = parse("Resources: {}", &o).unwrap_err().to_string();
        assert!(e.contains("no Aliyun::Serverless::Service"), "{e}");
        let e = parse("a: [", &o).unwrap_err().to_string();
        assert!(e.contains("not a valid YAML template"), "{e}");
    }

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
