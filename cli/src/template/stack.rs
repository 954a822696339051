//! What a template resolves to for a local run: its parameters and values, and its
//! functions with their settings, environment and triggers; and the values the
//! template cannot give itself ([`ResolveOptions`]).

use std::collections::BTreeMap;

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
