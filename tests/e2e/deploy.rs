//! The deployment artefacts a user ships: `template.yaml` (Function Compute, checked
//! with the pinned `fun validate`), `template-sam.yaml` (Lambda, checked with the
//! pinned `cfn-lint`) and the `dist/<function>.zip` packages of `scripts/package`,
//! whose `bootstrap` must run on Function Compute's old-glibc custom runtime.
//!
//! The tools come from `scripts/setup` (`node_modules/`, `.venv/`); the packages from
//! `scripts/package`, or from the directory named by `CRR_DIST_DIR`, which
//! `scripts/test` builds and sets. Nothing here is skipped when a tool is missing.

// Inside a module so that every test's name contains "deploy" (`scripts/test -- deploy`).
mod deploy {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::{Path, PathBuf};
    use std::process::{Command, Output};

    use crr::config::{variable, VARIABLES};
    use crr_e2e::repo_root;
    use serde_json::Value;

    const FUNCTIONS: [&str; 3] = ["object-created", "object-deleted", "backfill"];

    // ---------------------------------------------------------------------------
    // Tools

    fn fun() -> PathBuf {
        let path = repo_root().join("node_modules/.bin/fun");
        assert!(
            path.exists(),
            "{} is missing: run scripts/setup (it installs @alicloud/fun from package.json)",
            path.display()
        );
        path
    }

    fn venv_bin(name: &str) -> PathBuf {
        let path = repo_root().join(".venv/bin").join(name);
        assert!(path.exists(), "{} is missing: run scripts/setup (scripts/requirements.txt)", path.display());
        path
    }

    fn scratch_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("crr-deploy-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("create a scratch directory");
        dir
    }

    fn text(output: &Output) -> String {
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
    }

    /// `fun validate -t TEMPLATE`, offline: a HOME of its own whose profile turns
    /// usage reporting off (fun otherwise reports to an analytics service when it finds
    /// no profile on a CI machine), no update check, no credentials, no prompt.
    fn fun_validate(template: &Path) -> Output {
        assert!(template.is_file(), "{} is missing (fun validate passes when the file is absent)", template.display());
        let home = scratch_dir();
        std::fs::create_dir_all(home.join(".fcli")).unwrap();
        std::fs::write(home.join(".fcli/config.yaml"), "report: false\n").unwrap();
        let output = Command::new(fun())
            .args(["validate", "-t"])
            .arg(template)
            .current_dir(&home)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("FUN_DISABLE_VERSION_CHECK", "1")
            .env("NO_UPDATE_NOTIFIER", "1")
            .env("FORCE_COLOR", "0")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run fun validate (node must be on PATH)");
        std::fs::remove_dir_all(&home).ok();
        output
    }

    fn cfn_lint(template: &Path) -> Output {
        assert!(template.is_file(), "{} is missing", template.display());
        Command::new(venv_bin("cfn-lint"))
            .arg(template)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run cfn-lint")
    }

    /// A template as JSON, intrinsic functions in their long form (`!Ref X` becomes
    /// `{"Ref": "X"}`) and YAML aliases expanded, read by cfn-lint's YAML decoder.
    fn load(template: &Path) -> Value {
        let output = Command::new(venv_bin("python"))
            .args([
                "-c",
                "import json, sys\nfrom cfnlint.decode import cfn_yaml\n\
                 print(json.dumps(cfn_yaml.loads(open(sys.argv[1]).read())))",
            ])
            .arg(template)
            .output()
            .expect("run python");
        assert!(output.status.success(), "cannot read {}: {}", template.display(), text(&output));
        serde_json::from_slice(&output.stdout).expect("the decoder prints JSON")
    }

    fn fc_template() -> PathBuf {
        repo_root().join("template.yaml")
    }

    fn sam_template() -> PathBuf {
        repo_root().join("template-sam.yaml")
    }

    /// Writes `template` with `from` replaced by `to` (which must occur) into a scratch directory.
    fn broken_copy(template: &Path, from: &str, to: &str) -> PathBuf {
        let original = std::fs::read_to_string(template).unwrap();
        assert!(original.contains(from), "{} no longer contains {from:?}; update this test", template.display());
        let path = scratch_dir().join(template.file_name().unwrap());
        std::fs::write(&path, original.replacen(from, to, 1)).unwrap();
        path
    }

    // ---------------------------------------------------------------------------
    // The templates pass their validators, and the validators do catch mistakes

    #[test]
    fn fun_validate_accepts_the_function_compute_template() {
        let output = fun_validate(&fc_template());
        assert!(output.status.success(), "fun validate -t template.yaml failed:\n{}", text(&output));
        assert!(!text(&output).contains("ERR!"), "{}", text(&output));
    }

    #[test]
    fn fun_validate_rejects_broken_copies_of_the_template() {
        let cases = [
            // A runtime Function Compute does not have.
            ("        Runtime: custom\n", "        Runtime: rust\n", "Properties/Runtime"),
            // A memory size Function Compute does not offer.
            ("        MemorySize: 512\n", "        MemorySize: 500\n", "Properties/MemorySize"),
            // A misspelt Timer trigger property.
            ("            CronExpression:", "            Cron:", "Unexpected property Cron"),
        ];
        for (from, to, complaint) in cases {
            let broken = broken_copy(&fc_template(), from, to);
            let output = fun_validate(&broken);
            std::fs::remove_dir_all(broken.parent().unwrap()).ok();
            assert!(!output.status.success(), "fun validate accepted {to:?}:\n{}", text(&output));
            assert!(text(&output).contains(complaint), "fun validate did not name {complaint:?}:\n{}", text(&output));
        }
    }

    #[test]
    fn cfn_lint_accepts_the_sam_template() {
        let output = cfn_lint(&sam_template());
        assert!(output.status.success(), "cfn-lint template-sam.yaml failed:\n{}", text(&output));
    }

    #[test]
    fn cfn_lint_rejects_broken_copies_of_the_sam_template() {
        let cases = [
            // Lambda offers at least 128 MB.
            ("      MemorySize: 256\n", "      MemorySize: 64\n", "E3034"),
            // A resource type that does not exist.
            ("Type: AWS::SQS::Queue", "Type: AWS::SQS::Queues", "E3006"),
        ];
        for (from, to, rule) in cases {
            let broken = broken_copy(&sam_template(), from, to);
            let output = cfn_lint(&broken);
            std::fs::remove_dir_all(broken.parent().unwrap()).ok();
            assert!(!output.status.success(), "cfn-lint accepted {to:?}:\n{}", text(&output));
            assert!(text(&output).contains(rule), "cfn-lint did not report {rule}:\n{}", text(&output));
        }
    }

    // ---------------------------------------------------------------------------
    // What the templates configure

    fn fc_service(t: &Value) -> &serde_json::Map<String, Value> {
        t["Resources"]["crr"].as_object().expect("template.yaml declares the service crr")
    }

    fn fc_function<'a>(t: &'a Value, name: &str) -> &'a Value {
        let f = &fc_service(t)[name];
        assert_eq!(f["Type"], "Aliyun::Serverless::Function", "{name} in template.yaml");
        f
    }

    fn sam_function<'a>(t: &'a Value, function: &str) -> &'a Value {
        let id: String = function.split('-').map(|w| w[..1].to_uppercase() + &w[1..]).collect();
        let f = &t["Resources"][&id];
        assert_eq!(f["Type"], "AWS::Serverless::Function", "{id} in template-sam.yaml");
        f
    }

    /// The `CRR_*` variables each function of a template sets.
    fn environments(template: &Path) -> BTreeMap<&'static str, BTreeSet<String>> {
        let t = load(template);
        let keys =
            |v: &Value| -> BTreeSet<String> { v.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default() };
        FUNCTIONS
            .iter()
            .map(|&f| {
                let names = if template == fc_template() {
                    keys(&fc_function(&t, f)["Properties"]["EnvironmentVariables"])
                } else {
                    let mut names = keys(&t["Globals"]["Function"]["Environment"]["Variables"]);
                    names.extend(keys(&sam_function(&t, f)["Properties"]["Environment"]["Variables"]));
                    names
                };
                (f, names)
            })
            .collect()
    }

    #[test]
    fn templates_set_known_variables_and_every_required_one() {
        for template in [fc_template(), sam_template()] {
            for (function, names) in environments(&template) {
                let unknown: Vec<&String> =
                    names.iter().filter(|n| n.starts_with("CRR_") && variable(n).is_none()).collect();
                assert!(
                    unknown.is_empty(),
                    "{} sets {unknown:?} for {function}, which the configuration never reads (crr::config::VARIABLES)",
                    template.display()
                );
                let missing: Vec<&str> =
                    VARIABLES.iter().filter(|v| v.required && !names.contains(v.name)).map(|v| v.name).collect();
                assert!(missing.is_empty(), "{} does not set {missing:?} for {function}", template.display());
            }
        }
    }

    #[test]
    fn function_compute_functions_are_custom_runtimes_triggered_by_the_right_events() {
        let t = load(&fc_template());
        for name in FUNCTIONS {
            let p = &fc_function(&t, name)["Properties"];
            assert_eq!(p["Runtime"], "custom", "{name}");
            assert_eq!(p["Handler"], "bootstrap", "{name}");
            assert_eq!(p["CodeUri"], format!("./dist/{name}.zip"), "{name}");
            let onfailure = &p["AsyncConfiguration"]["Destination"]["OnFailure"];
            assert!(onfailure.to_string().contains("/queues/${FailureQueueName}/messages"), "{name}: {onfailure}");
            // Events are retried by the platform (a failed record fails the invocation); a
            // backfill run that failed is not: its checkpoint lets the next tick go on.
            let retries = if name == "backfill" { 0 } else { 3 };
            assert_eq!(p["AsyncConfiguration"]["MaxAsyncRetryAttempts"], retries, "{name}");
            assert!(p["AsyncConfiguration"]["MaxAsyncEventAgeInSeconds"].as_u64().is_some_and(|s| s >= 3600), "{name}");
        }
        let oss_events = |name: &str| -> Vec<Value> {
            let events = fc_function(&t, name)["Events"].as_object().unwrap();
            assert_eq!(events.len(), 1, "{name} has one trigger");
            let trigger = events.values().next().unwrap();
            assert_eq!(trigger["Type"], "OSS", "{name}");
            assert_eq!(trigger["Properties"]["BucketName"]["Ref"], "SourceBucket", "{name}");
            let key = &trigger["Properties"]["Filter"]["Key"];
            assert_eq!(key["Prefix"]["Ref"], "TriggerPrefix", "{name}");
            assert_eq!(key["Suffix"]["Ref"], "TriggerSuffix", "{name}");
            trigger["Properties"]["Events"].as_array().unwrap().clone()
        };
        assert_eq!(oss_events("object-created"), vec![Value::from("oss:ObjectCreated:*")]);
        assert_eq!(oss_events("object-deleted"), vec![Value::from("oss:ObjectRemoved:*")]);

        let timers: Vec<&Value> = fc_function(&t, "backfill")["Events"].as_object().unwrap().values().collect();
        assert_eq!(timers.len(), 1);
        assert_eq!(timers[0]["Type"], "Timer");
        assert_eq!(timers[0]["Properties"]["CronExpression"]["Ref"], "BackfillSchedule");
        let payload: Value = serde_json::from_str(timers[0]["Properties"]["Payload"].as_str().unwrap()).unwrap();
        assert_eq!(payload, serde_json::json!({"mode": "missing"}));
    }

    #[test]
    fn lambda_functions_are_provided_runtimes_triggered_by_the_right_events() {
        let t = load(&sam_template());
        let globals = &t["Globals"]["Function"];
        for name in FUNCTIONS {
            let p = &sam_function(&t, name)["Properties"];
            assert_eq!(p.get("Handler").unwrap_or(&globals["Handler"]), "bootstrap", "{name}");
            assert_eq!(p.get("Runtime").unwrap_or(&globals["Runtime"]), "provided.al2023", "{name}");
            assert_eq!(p["CodeUri"], format!("dist/{name}.zip"), "{name}");
            let invoke = p.get("EventInvokeConfig").unwrap_or(&globals["EventInvokeConfig"]);
            assert_eq!(invoke["DestinationConfig"]["OnFailure"]["Type"], "SQS", "{name}");
        }
        let s3_events = |name: &str| -> Value {
            let events = sam_function(&t, name)["Properties"]["Events"].as_object().unwrap();
            assert_eq!(events.len(), 1, "{name} has one event source");
            let source = events.values().next().unwrap();
            assert_eq!(source["Type"], "S3", "{name}");
            source["Properties"]["Events"].clone()
        };
        assert_eq!(s3_events("object-created"), "s3:ObjectCreated:*");
        assert_eq!(s3_events("object-deleted"), "s3:ObjectRemoved:*");
        let events = sam_function(&t, "backfill")["Properties"]["Events"].as_object().unwrap();
        let schedule = events.values().next().unwrap();
        assert_eq!(schedule["Type"], "Schedule");
        let input: Value = serde_json::from_str(schedule["Properties"]["Input"].as_str().unwrap()).unwrap();
        assert_eq!(input, serde_json::json!({"mode": "missing"}));
    }

    /// Every (action, resource) pair a policy document's Allow statements grant;
    /// resources are shown as their JSON (intrinsic functions included).
    fn grants(document: &Value) -> BTreeSet<(String, String)> {
        let as_list = |v: &Value| -> Vec<Value> { v.as_array().cloned().unwrap_or_else(|| vec![v.clone()]) };
        let mut out = BTreeSet::new();
        for statement in document["Statement"].as_array().expect("a policy document has statements") {
            assert_eq!(statement["Effect"], "Allow");
            for action in as_list(&statement["Action"]) {
                for resource in as_list(&statement["Resource"]) {
                    let resource = resource.as_str().map(str::to_owned).unwrap_or_else(|| resource.to_string());
                    out.insert((action.as_str().unwrap().to_owned(), resource));
                }
            }
        }
        out
    }

    #[test]
    fn the_functions_own_identity_may_read_the_source_and_assume_the_role_only() {
        let t = load(&fc_template());
        let role = &t["Resources"]["FunctionRole"];
        assert_eq!(role["Type"], "ALIYUN::RAM::Role");
        assert_eq!(fc_service(&t)["Properties"]["Role"]["Fn::GetAtt"], serde_json::json!(["FunctionRole", "Arn"]));
        let trusted = &role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"];
        assert_eq!(trusted, &serde_json::json!(["fc.aliyuncs.com"]));
        let mut granted = BTreeSet::new();
        for policy in role["Properties"]["Policies"].as_array().unwrap() {
            granted.extend(grants(&policy["PolicyDocument"]));
        }
        let bucket = r#"{"Fn::Sub":"acs:oss:*:${ALIYUN::AccountId}:${SourceBucket}"}"#;
        let objects = r#"{"Fn::Sub":"acs:oss:*:${ALIYUN::AccountId}:${SourceBucket}/*"}"#;
        let logstore = r#"{"Fn::Sub":"acs:log:${ALIYUN::Region}:${ALIYUN::AccountId}:project/${LogProject}/logstore/${LogStore}"}"#;
        let queue =
            r#"{"Fn::Sub":"acs:mns:${ALIYUN::Region}:${ALIYUN::AccountId}:/queues/${FailureQueueName}/messages"}"#;
        let expected: BTreeSet<(String, String)> = [
            ("oss:ListObjects", bucket),
            ("oss:ListObjectVersions", bucket),
            ("oss:GetBucketVersioning", bucket),
            ("oss:GetBucketInfo", bucket),
            ("oss:GetObject", objects),
            ("oss:GetObjectVersion", objects),
            ("oss:GetObjectTagging", objects),
            ("sts:AssumeRole", r#"{"Ref":"ReplicationRoleArn"}"#),
            // Function Compute itself: delivering this service's logs and failed events.
            ("log:PostLogStoreLogs", logstore),
            ("mns:SendMessage", queue),
        ]
        .iter()
        .map(|(a, r)| (a.to_string(), r.to_string()))
        .collect();
        assert_eq!(granted, expected, "template.yaml: the function role's grants");

        let t = load(&sam_template());
        let granted = grants(&t["Resources"]["FunctionIdentity"]["Properties"]["PolicyDocument"]);
        let actions: BTreeSet<&str> = granted.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(
            actions,
            BTreeSet::from([
                "s3:ListBucket",
                "s3:ListBucketVersions",
                "s3:GetBucketVersioning",
                "s3:GetBucketLocation",
                "s3:GetObject",
                "s3:GetObjectVersion",
                "s3:GetObjectTagging",
                "sts:AssumeRole",
            ]),
            "template-sam.yaml: the function identity's actions"
        );
        for name in FUNCTIONS {
            let policies = &sam_function(&t, name)["Properties"]["Policies"];
            assert_eq!(policies, &serde_json::json!([{"Ref": "FunctionIdentity"}]), "{name}");
        }
    }

    /// Names an intrinsic function may refer to: parameters, resources, conditions
    /// and the platform's pseudo parameters.
    fn references(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v) {
                        ("Ref", Value::String(name)) => {
                            out.insert(name.clone());
                        }
                        ("Fn::Sub", Value::String(s)) => {
                            for part in s.split("${").skip(1) {
                                out.insert(part.split('}').next().unwrap_or_default().to_owned());
                            }
                        }
                        ("Fn::GetAtt", Value::Array(a)) => {
                            out.insert(a[0].as_str().unwrap_or_default().to_owned());
                        }
                        _ => references(v, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| references(v, out)),
            _ => {}
        }
    }

    #[test]
    fn the_function_compute_template_refers_only_to_what_it_declares() {
        // fun validate checks the shape of the template but not its references; ROS
        // would only refuse a dangling one at deploy time.
        let t = load(&fc_template());
        let mut declared: BTreeSet<String> =
            ["ALIYUN::AccountId", "ALIYUN::Region", "ALIYUN::StackName"].iter().map(|s| s.to_string()).collect();
        let parameters: BTreeSet<String> = t["Parameters"].as_object().unwrap().keys().cloned().collect();
        declared.extend(parameters.iter().cloned());
        declared.extend(t["Resources"].as_object().unwrap().keys().cloned());
        let mut referred = BTreeSet::new();
        references(&t["Resources"], &mut referred);
        let dangling: Vec<&String> = referred.difference(&declared).collect();
        assert!(dangling.is_empty(), "template.yaml refers to undeclared {dangling:?}");
        let unused: Vec<&String> = parameters.difference(&referred).collect();
        assert!(unused.is_empty(), "template.yaml declares parameters it never uses: {unused:?}");
    }

    // ---------------------------------------------------------------------------
    // The packages

    fn dist_dir() -> PathBuf {
        // Relative to the repository root, where scripts run (tests run in tests/).
        let dir = repo_root().join(std::env::var_os("CRR_DIST_DIR").unwrap_or_else(|| "dist".into()));
        for f in FUNCTIONS {
            assert!(
                dir.join(format!("{f}.zip")).is_file(),
                "{}/{f}.zip is missing: run scripts/package (scripts/test builds the packages and sets CRR_DIST_DIR)",
                dir.display()
            );
        }
        dir
    }

    /// Extracts a package with Python's zipfile, keeping the permissions the archive
    /// records (as the platforms do), and returns each entry's name and Unix mode.
    fn unpack(zip: &Path, into: &Path) -> Vec<(String, u32)> {
        let output = Command::new(venv_bin("python"))
            .args([
                "-c",
                "import json, os, sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nz.extractall(sys.argv[2])\n\
                 for i in z.infolist(): os.chmod(os.path.join(sys.argv[2], i.filename), (i.external_attr >> 16) & 0o777)\n\
                 print(json.dumps([[i.filename, i.external_attr >> 16] for i in z.infolist()]))",
            ])
            .arg(zip)
            .arg(into)
            .output()
            .expect("run python");
        assert!(output.status.success(), "cannot unpack {}: {}", zip.display(), text(&output));
        serde_json::from_slice(&output.stdout).unwrap()
    }

    /// What an x86-64 ELF executable needs from the dynamic loader: its `DT_NEEDED`
    /// libraries and the symbol versions of its version-needed section.
    #[derive(Debug, Default)]
    struct DynamicNeeds {
        libraries: BTreeSet<String>,
        versions: BTreeSet<String>,
    }

    fn elf_needs(bytes: &[u8]) -> DynamicNeeds {
        const SHT_DYNAMIC: u32 = 6;
        const SHT_GNU_VERNEED: u32 = 0x6fff_fffe;
        const DT_NEEDED: u64 = 1;
        let u16_at = |o: usize| u16::from_le_bytes(bytes[o..o + 2].try_into().unwrap());
        let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
        let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap());
        assert_eq!(&bytes[..4], b"\x7fELF", "not an ELF file");
        assert_eq!((bytes[4], bytes[5]), (2, 1), "not a 64-bit little-endian ELF");
        assert_eq!(u16_at(18), 62, "not an x86-64 executable");

        struct Section {
            kind: u32,
            offset: usize,
            size: usize,
            link: usize,
            info: usize,
        }
        let (shoff, shentsize, shnum) = (u64_at(0x28) as usize, u16_at(0x3a) as usize, u16_at(0x3c) as usize);
        let sections: Vec<Section> = (0..shnum)
            .map(|i| {
                let h = shoff + i * shentsize;
                Section {
                    kind: u32_at(h + 4),
                    offset: u64_at(h + 24) as usize,
                    size: u64_at(h + 32) as usize,
                    link: u32_at(h + 40) as usize,
                    info: u32_at(h + 44) as usize,
                }
            })
            .collect();
        let string = |table: &Section, at: usize| -> String {
            let start = table.offset + at;
            let end = bytes[start..].iter().position(|&b| b == 0).map(|n| start + n).expect("terminated string");
            String::from_utf8_lossy(&bytes[start..end]).into_owned()
        };

        let mut needs = DynamicNeeds::default();
        for s in &sections {
            match s.kind {
                SHT_DYNAMIC => {
                    for entry in (s.offset..s.offset + s.size).step_by(16) {
                        match u64_at(entry) {
                            0 => break,
                            DT_NEEDED => {
                                needs.libraries.insert(string(&sections[s.link], u64_at(entry + 8) as usize));
                            }
                            _ => {}
                        }
                    }
                }
                SHT_GNU_VERNEED => {
                    // Elf64_Verneed { vn_version: u16, vn_cnt: u16, vn_file, vn_aux, vn_next: u32 }
                    // Elf64_Vernaux { vna_hash: u32, vna_flags, vna_other: u16, vna_name, vna_next: u32 }
                    let mut need = s.offset;
                    for _ in 0..s.info {
                        let mut aux = need + u32_at(need + 8) as usize;
                        for _ in 0..u16_at(need + 2) {
                            needs.versions.insert(string(&sections[s.link], u32_at(aux + 8) as usize));
                            aux += u32_at(aux + 12) as usize;
                        }
                        need += u32_at(need + 12) as usize;
                    }
                }
                _ => {}
            }
        }
        needs
    }

    /// `GLIBC_2.17` -> `[2, 17]`; `None` for other version names.
    fn glibc_version(name: &str) -> Option<Vec<u32>> {
        name.strip_prefix("GLIBC_")?.split('.').map(|p| p.parse().ok()).collect()
    }

    #[test]
    fn elf_reader_finds_what_a_host_binary_needs() {
        // The reader itself, on a binary of this build: linked by the host toolchain
        // against the host's glibc, it needs libc and some GLIBC_2.x versions.
        let needs = elf_needs(&std::fs::read(std::env::current_exe().unwrap()).unwrap());
        assert!(needs.libraries.contains("libc.so.6"), "{needs:?}");
        assert!(needs.versions.iter().any(|v| glibc_version(v).is_some_and(|v| v[0] == 2)), "{needs:?}");
    }

    #[test]
    fn packaged_bootstraps_run_on_glibc_2_17() {
        const LOADABLE: [&str; 8] = [
            "libc.so.6",
            "libm.so.6",
            "libpthread.so.0",
            "libdl.so.2",
            "librt.so.1",
            "libutil.so.1",
            "libgcc_s.so.1",
            "ld-linux-x86-64.so.2",
        ];
        let dist = dist_dir();
        for function in FUNCTIONS {
            let unpacked = scratch_dir();
            let entries = unpack(&dist.join(format!("{function}.zip")), &unpacked);
            assert_eq!(entries.len(), 1, "{function}.zip holds only bootstrap: {entries:?}");
            let (name, mode) = &entries[0];
            assert_eq!(name, "bootstrap", "{function}.zip");
            assert_eq!(mode & 0o170777, 0o100755, "{function}.zip: bootstrap must be an executable regular file");

            let bootstrap = unpacked.join("bootstrap");
            let needs = elf_needs(&std::fs::read(&bootstrap).unwrap());
            let glibc: Vec<(Vec<u32>, &String)> =
                needs.versions.iter().filter_map(|v| glibc_version(v).map(|n| (n, v))).collect();
            let highest = glibc.iter().max().map(|(_, v)| v.as_str()).unwrap_or("none");
            eprintln!("{function}: highest glibc symbol version {highest}; needs {:?}", needs.libraries);
            assert!(!glibc.is_empty(), "{function}: no GLIBC symbol versions found: {needs:?}");
            assert!(
                glibc.iter().all(|(n, _)| n <= &vec![2, 17]),
                "{function}: needs {highest}, newer than Function Compute's glibc 2.17 baseline: {:?}",
                needs.versions
            );
            assert!(!needs.versions.contains("GLIBC_PRIVATE"), "{function} links against glibc internals");
            let unexpected: Vec<&String> = needs.libraries.iter().filter(|l| !LOADABLE.contains(&l.as_str())).collect();
            assert!(unexpected.is_empty(), "{function} needs {unexpected:?}, which the custom runtime lacks");

            // And it starts here: a one-shot run reaches the function (which refuses
            // the empty configuration) instead of failing in the dynamic loader.
            let event = unpacked.join("event.json");
            std::fs::write(&event, "{}").unwrap();
            let run = Command::new(&bootstrap).arg("--event").arg(&event).env_clear().output().expect("run bootstrap");
            let output = text(&run);
            assert!(matches!(run.status.code(), Some(0 | 1)), "{function}: {:?} {output}", run.status);
            assert!(!output.contains("GLIBC") && !output.is_empty(), "{function}: {output}");
            std::fs::remove_dir_all(&unpacked).ok();
        }
    }
}
