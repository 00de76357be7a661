//! Client commands that manage models on the server: list, show, cp, rm, ps, stop, pull,
//! push, printed the way ollama prints them.

use clap::Args;
use serde_json::json;

use super::{client, CliError};

#[derive(Args)]
pub struct ShowArgs {
    /// The model's name.
    model: String,
    /// Print the Modelfile.
    #[arg(long)]
    modelfile: bool,
    /// Print the parameters.
    #[arg(long)]
    parameters: bool,
    /// Print the template.
    #[arg(long)]
    template: bool,
    /// Print the system message.
    #[arg(long)]
    system: bool,
    /// Print the license.
    #[arg(long)]
    license: bool,
}

#[derive(Args)]
pub struct CopyArgs {
    source: String,
    destination: String,
}

#[derive(Args)]
pub struct NamesArgs {
    /// One or more model names.
    #[arg(required = true)]
    models: Vec<String>,
}

#[derive(Args)]
pub struct NameArgs {
    model: String,
    /// Allow plain http to the registry.
    #[arg(long)]
    insecure: bool,
}

pub fn list() -> Result<(), CliError> {
    let tags = client::get("/api/tags")?;
    let mut rows = vec![["NAME".to_string(), "ID".into(), "SIZE".into(), "MODIFIED".into()]];
    for m in tags["models"].as_array().into_iter().flatten() {
        rows.push([
            m["name"].as_str().unwrap_or("").to_string(),
            m["digest"].as_str().unwrap_or("").chars().take(12).collect(),
            human_bytes(m["size"].as_u64().unwrap_or(0)),
            m["modified_at"].as_str().map(ago).unwrap_or_default(),
        ]);
    }
    print_table(&rows);
    Ok(())
}

pub fn ps() -> Result<(), CliError> {
    let ps = client::get("/api/ps")?;
    let mut rows =
        vec![["NAME".to_string(), "ID".into(), "SIZE".into(), "PROCESSOR".into(), "CONTEXT".into(), "UNTIL".into()]];
    for m in ps["models"].as_array().into_iter().flatten() {
        let until = match m["expires_at"].as_str() {
            None => "Forever".to_string(),
            Some(t) => until(t),
        };
        let size = m["size"].as_u64().unwrap_or(0);
        rows.push([
            m["name"].as_str().unwrap_or("").to_string(),
            m["digest"].as_str().unwrap_or("").chars().take(12).collect(),
            human_bytes(size),
            processor(size, m["size_vram"].as_u64().unwrap_or(0)),
            m["context_length"].as_u64().map_or_else(String::new, |n| n.to_string()),
            until,
        ]);
    }
    print_table(&rows);
    Ok(())
}

/// Where a loaded model lives, as `ollama ps` words it: "100% CPU", "100% GPU", or the
/// split, "48%/52% CPU/GPU", by the bytes on each.
fn processor(size: u64, size_vram: u64) -> String {
    if size_vram == 0 {
        "100% CPU".into()
    } else if size_vram == size {
        "100% GPU".into()
    } else if size_vram > size || size == 0 {
        "Unknown".into()
    } else {
        let cpu = ((size - size_vram) as f64 / size as f64 * 100.0).round() as u64;
        format!("{cpu}%/{}% CPU/GPU", 100 - cpu)
    }
}

pub fn show(a: ShowArgs) -> Result<(), CliError> {
    let v = client::post("/api/show", &json!({ "model": a.model }))?;
    let field = |k: &str| v[k].as_str().unwrap_or("").to_string();
    let picked = [
        (a.modelfile, "modelfile"),
        (a.parameters, "parameters"),
        (a.template, "template"),
        (a.system, "system"),
        (a.license, "license"),
    ];
    if let Some((_, key)) = picked.iter().find(|(on, _)| *on) {
        println!("{}", field(key));
        return Ok(());
    }
    let d = &v["details"];
    println!("  Model");
    let info = &v["model_info"];
    let arch = info["general.architecture"].as_str().unwrap_or(d["family"].as_str().unwrap_or(""));
    let mut rows = vec![
        ("architecture", arch.to_string()),
        ("parameters", d["parameter_size"].as_str().unwrap_or("").to_string()),
    ];
    if let Some(n) = info[format!("{arch}.context_length")].as_u64() {
        rows.push(("context length", n.to_string()));
    }
    if let Some(n) = info[format!("{arch}.embedding_length")].as_u64() {
        rows.push(("embedding length", n.to_string()));
    }
    rows.push(("quantization", d["quantization_level"].as_str().unwrap_or("").to_string()));
    for (k, val) in rows {
        println!("    {k:<20}{val}");
    }
    if let Some(caps) = v["capabilities"].as_array() {
        println!("\n  Capabilities");
        for c in caps {
            println!("    {}", c.as_str().unwrap_or(""));
        }
    }
    let params = field("parameters");
    if !params.is_empty() {
        println!("\n  Parameters");
        for line in params.lines() {
            println!("    {line}");
        }
    }
    let system = field("system");
    if !system.is_empty() {
        println!("\n  System\n    {}", system.lines().next().unwrap_or(""));
    }
    let license = field("license");
    if !license.is_empty() {
        println!("\n  License\n    {}", license.lines().next().unwrap_or(""));
    }
    Ok(())
}

pub fn copy(a: CopyArgs) -> Result<(), CliError> {
    client::post("/api/copy", &json!({ "source": a.source, "destination": a.destination }))?;
    println!("copied '{}' to '{}'", a.source, a.destination);
    Ok(())
}

pub fn remove(a: NamesArgs) -> Result<(), CliError> {
    for m in a.models {
        client::delete("/api/delete", &json!({ "model": m }))?;
        println!("deleted '{m}'");
    }
    Ok(())
}

pub fn stop(a: NameArgs) -> Result<(), CliError> {
    client::post("/api/generate", &json!({ "model": a.model, "keep_alive": 0 }))?;
    Ok(())
}

/// pull and push: the server streams statuses; a progress line is redrawn in place.
pub fn transfer(a: NameArgs, push: bool) -> Result<(), CliError> {
    let path = if push { "/api/push" } else { "/api/pull" };
    let mut bar = super::progress::Progress::new();
    client::stream(path, &json!({ "model": a.model, "insecure": a.insecure, "stream": true }), |v| {
        bar.status(v);
        true
    })?;
    bar.finish();
    Ok(())
}

fn print_table<const N: usize>(rows: &[[String; N]]) {
    let widths: Vec<usize> = (0..N).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    for r in rows {
        let line: Vec<String> = r.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}", w = w + 4)).collect();
        println!("{}", line.concat().trim_end());
    }
}

/// Sizes as ollama prints them: decimal units, up to three significant digits.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    match u {
        0 => format!("{n} B"),
        _ if v >= 100.0 => format!("{v:.0} {}", UNITS[u]),
        _ if v >= 10.0 => format!("{:.0} {}", v, UNITS[u]),
        _ => format!("{v:.1} {}", UNITS[u]),
    }
}

/// Seconds between now and an RFC 3339 UTC time (positive if it is in the past).
fn seconds_since(t: &str) -> Option<i64> {
    let date = t.get(..10)?;
    let clock = t.get(11..19)?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut c = clock.split(':').map(|p| p.parse::<i64>().ok());
    let (hh, mm, ss) = (c.next()??, c.next()??, c.next()??);
    // Days from civil (Howard Hinnant), the inverse of api::time's conversion.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let then = days * 86_400 + hh * 3600 + mm * 60 + ss;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?.as_secs() as i64;
    Some(now - then)
}

fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{s} seconds"),
        60..=119 => "About a minute".into(),
        120..=3599 => format!("{} minutes", s / 60),
        3600..=7199 => "About an hour".into(),
        7200..=172_799 => format!("{} hours", s / 3600),
        172_800..=1_209_599 => format!("{} days", s / 86_400),
        1_209_600..=5_183_999 => format!("{} weeks", s / 604_800),
        5_184_000..=63_071_999 => format!("{} months", s / 2_592_000),
        _ => format!("{} years", s / 31_536_000),
    }
}

fn ago(t: &str) -> String {
    seconds_since(t).map(|s| format!("{} ago", human_duration(s))).unwrap_or_default()
}

fn until(t: &str) -> String {
    match seconds_since(t) {
        Some(s) if s <= 0 => format!("{} from now", human_duration(-s)),
        Some(_) => "Stopping...".into(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_like_ollamas() {
        assert_eq!(human_bytes(98_362_432), "98 MB");
        assert_eq!(human_bytes(4_661_224_676), "4.7 GB");
        assert_eq!(human_bytes(934_000_000), "934 MB");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(300), "5 minutes");
        assert_eq!(human_duration(3 * 86_400), "3 days");
        assert!(ago(&crate::api::time::now()).contains("second"));
        assert_eq!(ago("garbage"), "");
    }

    #[test]
    fn processor_reads_like_ollamas() {
        assert_eq!(processor(1000, 0), "100% CPU");
        assert_eq!(processor(1000, 1000), "100% GPU");
        assert_eq!(processor(1000, 520), "48%/52% CPU/GPU");
        assert_eq!(processor(1000, 1001), "Unknown");
        assert_eq!(processor(0, 5), "Unknown");
    }
}
