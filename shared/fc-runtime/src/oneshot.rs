//! One-shot mode: `--event FILE` (or `-` for stdin) handles a single event and
//! exits, for local runs, scripts and debugging.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use crate::invoke::{invoke, Init};
use crate::{Context, Error, Handler};

#[derive(Debug, PartialEq)]
pub(crate) struct Args {
    pub event: String,
    pub timeout: Option<Duration>,
}

impl Args {
    /// `None` when the process was not asked to run one event.
    pub(crate) fn parse(mut args: impl Iterator<Item = String>) -> Result<Option<Self>, Error> {
        let mut event = None;
        let mut timeout = None;
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--event" => event = Some(args.next().ok_or("--event needs a file name, or - for stdin")?),
                "--timeout" => {
                    let t = args.next().ok_or("--timeout needs a number of seconds")?;
                    let secs: u64 =
                        t.parse().map_err(|_| format!("--timeout {t:?} is not a whole number of seconds"))?;
                    timeout = Some(Duration::from_secs(secs));
                }
                other if other.starts_with("--event=") => event = Some(other["--event=".len()..].to_owned()),
                "-h" | "--help" => {
                    println!("usage: {} [--event FILE|- [--timeout SECS]]\n\nWithout --event the function serves Function Compute (FC_SERVER_PORT, default 9000)\nor, when AWS_LAMBDA_RUNTIME_API is set, the Lambda Runtime API.", program());
                    std::process::exit(0);
                }
                other => {
                    return Err(format!("unknown argument {other:?}; expected --event FILE|- [--timeout SECS]").into())
                }
            }
        }
        match (event, timeout) {
            (Some(event), timeout) => Ok(Some(Args { event, timeout })),
            (None, Some(_)) => Err("--timeout only applies with --event".into()),
            (None, None) => Ok(None),
        }
    }
}

fn program() -> String {
    std::env::args().next().unwrap_or_else(|| "function".into())
}

pub(crate) async fn run<T, H>(init: Arc<Init<H>>, args: Args) -> Result<(), Error>
where
    T: DeserializeOwned + Send + 'static,
    H: Handler<T>,
{
    let body = read_event(&args.event).map_err(|e| format!("cannot read the event from {:?}: {e}", args.event))?;
    let mut context = Context::new(uuid::Uuid::new_v4().to_string());
    context.function_name = std::env::var("FC_FUNCTION_NAME").ok();
    context.deadline = args.timeout.map(|t| Instant::now() + t);
    match invoke::<T, H>(&init, &body, context).await {
        Ok(result) => {
            let mut out = std::io::stdout().lock();
            out.write_all(&result)?;
            out.write_all(b"\n")?;
            out.flush()?;
            std::process::exit(0);
        }
        Err(d) => {
            eprintln!("error: {d}");
            std::process::exit(1);
        }
    }
}

fn read_event(source: &str) -> std::io::Result<Vec<u8>> {
    if source == "-" {
        read_limited(std::io::stdin().lock(), crate::MAX_EVENT)
    } else {
        let file = std::fs::File::open(source)?;
        let len = file.metadata()?.len();
        if len > crate::MAX_EVENT as u64 {
            return Err(too_big(crate::MAX_EVENT));
        }
        read_limited(file, crate::MAX_EVENT)
    }
}

/// Reads at most `limit` bytes; more is an error, found without reading them all.
fn read_limited(source: impl Read, limit: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    source.take(limit as u64 + 1).read_to_end(&mut buf)?;
    if buf.len() > limit {
        return Err(too_big(limit));
    }
    Ok(buf)
}

fn too_big(limit: usize) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, format!("the event is larger than {limit} bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Args>, Error> {
        Args::parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn parses_event_and_timeout() {
        assert_eq!(parse(&[]).unwrap(), None);
        let a = parse(&["--event", "-", "--timeout", "30"]).unwrap().unwrap();
        assert_eq!(a.event, "-");
        assert_eq!(a.timeout, Some(Duration::from_secs(30)));
        assert_eq!(parse(&["--event=e.json"]).unwrap().unwrap().event, "e.json");
    }

    #[test]
    fn oversized_events_are_refused_before_they_are_read_whole() {
        let small = read_limited(&b"{}"[..], 2).unwrap();
        assert_eq!(small, b"{}");
        let err = read_limited(std::io::repeat(b' '), 1024).unwrap_err();
        assert!(err.to_string().contains("larger than 1024 bytes"), "{err}");
        // A sparse file far beyond the limit is refused by its length alone.
        let path = std::env::temp_dir().join(format!("fc-runtime-big-{}.json", uuid::Uuid::new_v4()));
        std::fs::File::create(&path).unwrap().set_len(crate::MAX_EVENT as u64 * 64).unwrap();
        let err = read_event(path.to_str().unwrap()).unwrap_err();
        std::fs::remove_file(&path).unwrap();
        assert!(err.to_string().contains("larger than"), "{err}");
    }

    #[test]
    fn rejects_bad_arguments_with_a_hint() {
        let err = parse(&["--evnt", "x"]).unwrap_err().to_string();
        assert!(err.contains("expected --event"), "{err}");
        assert!(parse(&["--event"]).is_err());
        assert!(parse(&["--timeout", "3"]).is_err());
    }
}
