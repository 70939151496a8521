//! The Grafana dashboards (`dashboards/*.json`) as the tests read them.

use serde_json::Value;

/// All panels of dashboard `d`, including those nested in collapsed rows.
pub fn panels(d: &Value) -> Vec<&Value> {
    fn walk<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
        for p in v.as_array().into_iter().flatten() {
            out.push(p);
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&d["panels"], &mut out);
    out
}

/// The windows Grafana's range variables stand for in one test.
pub struct Windows {
    /// `$__rate_interval`.
    pub rate_interval: &'static str,
    /// `$__interval`.
    pub interval: &'static str,
    /// `$__range`.
    pub range: &'static str,
}

/// `expr` with Grafana's variables replaced: the range variables by `w`,
/// `$instance`/`$job`/`$zone` (plain or `${…:regex}`) by `.*`, as a user
/// selecting "All" would send.
pub fn substitute(expr: &str, w: &Windows) -> String {
    expr.replace("$__rate_interval", w.rate_interval)
        .replace("$__interval", w.interval)
        .replace("$__range", w.range)
        .replace("${instance:regex}", ".*")
        .replace("${job:regex}", ".*")
        .replace("$instance", ".*")
        .replace("$job", ".*")
        .replace("${zone:regex}", ".*")
        .replace("$zone", ".*")
}
