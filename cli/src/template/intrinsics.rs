//! Intrinsic functions and conditions, resolved as far as they mean anything
//! locally: `Ref` to a parameter or pseudo parameter, `Fn::Sub`, `Fn::Join`, `Fn::If`
//! with `Fn::Equals`/`Fn::Not`/`Fn::And`/`Fn::Or`, and the short tags (`!Ref`, ...).
//! What exists only once the stack is deployed is an error naming its place.

use std::collections::{BTreeMap, BTreeSet};

use serde_yaml::{Mapping, Value};

use super::stack::ResolveOptions;
use super::value::{get, key_str, scalar, Result, TemplateError};

/// Resolves values of one template: its declared parameters and their values in
/// force, its resources (to name them in errors), its conditions and the pseudo
/// parameters' values.
pub(super) struct Resolver<'a> {
    pub(super) declared: BTreeSet<String>,
    pub(super) values: &'a BTreeMap<String, String>,
    pub(super) resources: BTreeSet<String>,
    pub(super) conditions: &'a Mapping,
    pub(super) options: &'a ResolveOptions,
}

const PSEUDO: &[&str] = &["ALIYUN::Region", "ALIYUN::AccountId", "ALIYUN::StackName", "ALIYUN::NoValue"];

impl Resolver<'_> {
    /// Resolves `v` to a string: scalars as written, intrinsic functions evaluated.
    pub(super) fn resolve_scalar(&self, v: &Value, path: &str) -> Result<String> {
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
