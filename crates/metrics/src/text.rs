//! A strict reader of the Prometheus text format (version 0.0.4), to check what the metrics
//! endpoints serve and to read values back in tests. It refuses what a Prometheus server
//! would refuse, and more: a line it cannot read; a metric or label name outside the allowed
//! characters; a label value with an escape other than `\\`, `\"` and `\n`, or a label twice;
//! a value that is not a float; a second `HELP` or `TYPE` for a name, or a `TYPE` after its
//! samples; the samples of a family not all together; the same series twice; a negative
//! counter; a histogram whose buckets are not cumulative or lack `+Inf`, `_sum` or `_count`,
//! or whose `+Inf` bucket is not its `_count`.

use std::collections::{BTreeMap, BTreeSet};

use crate::limits::METRICS_TEXT_SIZE_MAX_BYTES;

/// The type a `TYPE` line gives a family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `counter`.
    Counter,
    /// `gauge`.
    Gauge,
    /// `histogram`.
    Histogram,
    /// `summary`.
    Summary,
    /// `untyped`, or no `TYPE` line.
    Untyped,
}

/// One sample: a series and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The sample's name (for a histogram, with `_bucket`, `_sum` or `_count`).
    pub name: String,
    /// Its labels, unescaped.
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

/// A metric family: its name, help, type and samples, in the order written.
#[derive(Clone, Debug, PartialEq)]
pub struct Family {
    /// The family's name (as in its `TYPE` line).
    pub name: String,
    /// Its help text, unescaped.
    pub help: Option<String>,
    /// Its type.
    pub kind: Kind,
    /// Its samples.
    pub samples: Vec<Sample>,
}

/// A whole exposition.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Exposition {
    /// The families, in the order written.
    pub families: Vec<Family>,
}

impl Exposition {
    /// The family named `name` (its `TYPE` name), if any.
    pub fn family(&self, name: &str) -> Option<&Family> {
        self.families.iter().find(|family| family.name == name)
    }

    /// Every sample named `name` whose labels include `labels`.
    pub fn samples<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.families
            .iter()
            .flat_map(|family| &family.samples)
            .filter(move |sample| {
                sample.name == name
                    && labels.iter().all(|(key, value)| {
                        sample.labels.get(*key).map(String::as_str) == Some(value)
                    })
            })
    }

    /// The value of the one sample named `name` whose labels include `labels`; `None` when
    /// there is none or more than one.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut found = self.samples(name, labels);
        let first = found.next()?;
        found.next().is_none().then_some(first.value)
    }

    /// The sum of the samples named `name` whose labels include `labels` (0 when none).
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples(name, labels).map(|sample| sample.value).sum()
    }
}

/// Why a text was refused: the line (from 1) and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct TextError {
    /// The line, from 1 (0: the text as a whole).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Reads `text`, checking every rule above.
pub fn parse(text: &str) -> Result<Exposition, TextError> {
    let whole = |message: &str| TextError {
        line: 0,
        message: message.to_owned(),
    };
    if text.len() > METRICS_TEXT_SIZE_MAX_BYTES {
        return Err(whole("the text is over the size limit"));
    }
    if !text.is_empty() && !text.ends_with('\n') {
        return Err(whole("the text does not end with a line feed"));
    }
    let mut reader = Reader::default();
    for (index, line) in text.split_terminator('\n').enumerate() {
        reader.line(line).map_err(|message| TextError {
            line: index + 1,
            message,
        })?;
    }
    reader.finish().map_err(|message| whole(&message))
}

#[derive(Default)]
struct Reader {
    families: Vec<Family>,
    /// Names given a `HELP` or a `TYPE` line, and families already left.
    helped: BTreeSet<String>,
    typed: BTreeMap<String, Kind>,
    closed: BTreeSet<String>,
    series: BTreeSet<(String, BTreeMap<String, String>)>,
}

impl Reader {
    fn line(&mut self, line: &str) -> Result<(), String> {
        if line.contains('\r') {
            return Err("carriage return in a line".into());
        }
        if line.trim().is_empty() {
            return Ok(());
        }
        if let Some(comment) = line.strip_prefix('#') {
            return self.comment(comment);
        }
        self.sample(line)
    }

    fn comment(&mut self, comment: &str) -> Result<(), String> {
        let comment = comment.trim_start_matches([' ', '\t']);
        let (keyword, rest) = comment.split_once([' ', '\t']).unwrap_or((comment, ""));
        if keyword != "HELP" && keyword != "TYPE" {
            return Ok(());
        }
        let rest = rest.trim_start_matches([' ', '\t']);
        let (name, value) = rest.split_once([' ', '\t']).unwrap_or((rest, ""));
        check_metric_name(name)?;
        if keyword == "HELP" {
            if !self.helped.insert(name.to_owned()) {
                return Err(format!("a second HELP line for {name}"));
            }
            let help = unescape(value, false)?;
            self.open(name)?.help = Some(help);
            return Ok(());
        }
        let kind = match value.trim_end() {
            "counter" => Kind::Counter,
            "gauge" => Kind::Gauge,
            "histogram" => Kind::Histogram,
            "summary" => Kind::Summary,
            "untyped" => Kind::Untyped,
            other => return Err(format!("unknown type {other:?} for {name}")),
        };
        if self.typed.insert(name.to_owned(), kind).is_some() {
            return Err(format!("a second TYPE line for {name}"));
        }
        let family = self.open(name)?;
        if !family.samples.is_empty() {
            return Err(format!("the TYPE line for {name} comes after its samples"));
        }
        family.kind = kind;
        Ok(())
    }

    /// The family `name`, the current one or a new one; refuses a family already left.
    fn open(&mut self, name: &str) -> Result<&mut Family, String> {
        let current = self.families.last().map(|family| family.name.as_str());
        if current != Some(name) {
            if self.closed.contains(name) {
                return Err(format!("the lines of {name} are not all together"));
            }
            if let Some(left) = current {
                self.closed.insert(left.to_owned());
            }
            self.families.push(Family {
                name: name.to_owned(),
                help: None,
                kind: self.typed.get(name).copied().unwrap_or(Kind::Untyped),
                samples: Vec::new(),
            });
        }
        Ok(self.families.last_mut().expect("pushed above"))
    }

    fn sample(&mut self, line: &str) -> Result<(), String> {
        let name_end = line
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(line.len());
        let name = &line[..name_end];
        check_metric_name(name)?;
        let mut rest = &line[name_end..];
        let mut labels = BTreeMap::new();
        if let Some(after) = rest.strip_prefix('{') {
            rest = read_labels(after, &mut labels)?;
        }
        if !rest.starts_with([' ', '\t']) {
            return Err(format!("no value after {name}"));
        }
        let mut fields = rest.split_whitespace();
        let value = fields
            .next()
            .ok_or_else(|| format!("no value for {name}"))?;
        let value = parse_float(value).ok_or_else(|| format!("{value:?} is not a value"))?;
        if let Some(timestamp) = fields.next()
            && timestamp.parse::<i64>().is_err()
        {
            return Err(format!("{timestamp:?} is not a timestamp"));
        }
        if fields.next().is_some() {
            return Err("text after the timestamp".into());
        }
        let family_name = self.family_of(name);
        let kind = self
            .typed
            .get(&family_name)
            .copied()
            .unwrap_or(Kind::Untyped);
        match kind {
            Kind::Counter if value.is_nan() || value < 0.0 => {
                return Err(format!("counter {name} is {value}"));
            }
            Kind::Histogram if name.ends_with("_bucket") && !labels.contains_key("le") => {
                return Err(format!("bucket {name} has no le label"));
            }
            _ => {}
        }
        if !self.series.insert((name.to_owned(), labels.clone())) {
            return Err(format!("the series {name}{labels:?} appears twice"));
        }
        self.open(&family_name)?.samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
        Ok(())
    }

    /// The family a sample named `name` belongs to: a histogram's or summary's for its
    /// suffixed samples, its own name otherwise.
    fn family_of(&self, name: &str) -> String {
        for (suffix, kinds) in [
            ("_bucket", &[Kind::Histogram][..]),
            ("_sum", &[Kind::Histogram, Kind::Summary][..]),
            ("_count", &[Kind::Histogram, Kind::Summary][..]),
        ] {
            if let Some(base) = name.strip_suffix(suffix)
                && self
                    .typed
                    .get(base)
                    .is_some_and(|kind| kinds.contains(kind))
            {
                return base.to_owned();
            }
        }
        name.to_owned()
    }

    fn finish(self) -> Result<Exposition, String> {
        for family in &self.families {
            if family.kind == Kind::Histogram {
                check_histogram(family)?;
            }
        }
        Ok(Exposition {
            families: self.families,
        })
    }
}

/// Reads `name="value",…}` into `labels`; returns what follows the `}`.
fn read_labels<'a>(
    mut rest: &'a str,
    labels: &mut BTreeMap<String, String>,
) -> Result<&'a str, String> {
    loop {
        rest = rest.trim_start_matches([' ', '\t']);
        if let Some(after) = rest.strip_prefix('}') {
            return Ok(after);
        }
        let name_end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .ok_or("a label list that does not end")?;
        let name = &rest[..name_end];
        check_label_name(name)?;
        rest = rest[name_end..].trim_start_matches([' ', '\t']);
        rest = rest
            .strip_prefix("=\"")
            .ok_or_else(|| format!("label {name} has no quoted value"))?;
        let end =
            closing_quote(rest).ok_or_else(|| format!("label {name}'s value does not end"))?;
        let value = unescape(&rest[..end], true)?;
        if labels.insert(name.to_owned(), value).is_some() {
            return Err(format!("label {name} appears twice"));
        }
        rest = rest[end + 1..].trim_start_matches([' ', '\t']);
        if let Some(after) = rest.strip_prefix(',') {
            rest = after;
        } else if !rest.starts_with('}') {
            return Err("labels not separated by commas".into());
        }
    }
}

/// The index of the first quote not escaped.
fn closing_quote(text: &str) -> Option<usize> {
    let mut escaped = false;
    for (index, byte) in text.bytes().enumerate() {
        match byte {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b'"' => return Some(index),
            _ => {}
        }
    }
    None
}

/// Undoes the escapes of a label value (`\\`, `\"`, `\n`) or a help text (`\\`, `\n`).
fn unescape(text: &str, label: bool) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            if label && c == '\n' {
                return Err("a raw line feed in a label value".into());
            }
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if label => out.push('"'),
            other => return Err(format!("unknown escape \\{}", other.unwrap_or(' '))),
        }
    }
    Ok(out)
}

fn check_metric_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        Ok(())
    } else {
        Err(format!("{name:?} is not a metric name"))
    }
}

fn check_label_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') && !name.starts_with("__") {
        Ok(())
    } else {
        Err(format!("{name:?} is not a label name"))
    }
}

/// A value as Go's `strconv.ParseFloat` reads it, as Prometheus does.
fn parse_float(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ if text
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-')) =>
        {
            text.parse().ok()
        }
        _ => None,
    }
}

/// Per series (labels but `le`): buckets cumulative in the order of `le`, a `+Inf` bucket
/// equal to `_count`, and `_sum`.
fn check_histogram(family: &Family) -> Result<(), String> {
    type Series = BTreeMap<String, String>;
    let mut buckets: BTreeMap<Series, Vec<(f64, f64)>> = BTreeMap::new();
    let mut counts: BTreeMap<Series, f64> = BTreeMap::new();
    let mut sums: BTreeSet<Series> = BTreeSet::new();
    let name = &family.name;
    for sample in &family.samples {
        let mut series = sample.labels.clone();
        let suffix = &sample.name[name.len()..];
        match suffix {
            "_bucket" => {
                let le = series.remove("le").expect("checked when read");
                let le = parse_float(&le).ok_or_else(|| format!("{name}: le {le:?}"))?;
                buckets.entry(series).or_default().push((le, sample.value));
            }
            "_count" => {
                counts.insert(series, sample.value);
            }
            "_sum" => {
                sums.insert(series);
            }
            _ => {
                return Err(format!(
                    "{name}: a sample {} of no histogram part",
                    sample.name
                ));
            }
        }
    }
    for (series, mut series_buckets) in buckets {
        series_buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        if series_buckets.windows(2).any(|pair| pair[1].1 < pair[0].1) {
            return Err(format!("{name}{series:?}: buckets are not cumulative"));
        }
        let last = series_buckets.last().expect("one bucket at least");
        if last.0 != f64::INFINITY {
            return Err(format!("{name}{series:?}: no +Inf bucket"));
        }
        if counts.get(&series) != Some(&last.1) {
            return Err(format!("{name}{series:?}: _count is not the +Inf bucket"));
        }
        if !sums.contains(&series) {
            return Err(format!("{name}{series:?}: no _sum"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expect: Result<(), &str>) {
        match (parse(text), expect) {
            (Ok(_), Ok(())) => {}
            (Err(error), Err(want)) => {
                assert!(error.to_string().contains(want), "{error} lacks {want}");
            }
            (got, want) => panic!("{text:?}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn the_rules_of_the_format_are_enforced() {
        let histogram = "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n";
        check(histogram, Ok(()));
        check("", Ok(()));
        check(
            "# HELP a A \\\\ help\\n.\n# TYPE a gauge\na 1\n\n# other comment\n",
            Ok(()),
        );
        check("a{b=\"x\\\"y\\\\z\\n\",c=\"\",} 1 1700000000000\n", Ok(()));
        check("a 1", Err("does not end with a line feed"));
        check("a 1\r\n", Err("carriage return"));
        check("1a 1\n", Err("not a metric name"));
        check("a{__b=\"x\"} 1\n", Err("not a label name"));
        check("a{b=\"x\\t\"} 1\n", Err("unknown escape"));
        check("a{b=\"x} 1\n", Err("does not end"));
        check("a{b=\"x\",b=\"y\"} 1\n", Err("appears twice"));
        check("a{b=\"x\" c=\"y\"} 1\n", Err("separated by commas"));
        check("a one\n", Err("is not a value"));
        check("a 1 2 3\n", Err("after the timestamp"));
        check("a\n", Err("no value"));
        check("a 1\na 2\n", Err("appears twice"));
        check("a 1\nb 1\na{c=\"d\"} 1\n", Err("not all together"));
        check("# TYPE a gauge\n# TYPE a gauge\n", Err("second TYPE"));
        check("# HELP a x\n# HELP a y\n", Err("second HELP"));
        check("a 1\n# TYPE a gauge\n", Err("after its samples"));
        check("# TYPE a meter\n", Err("unknown type"));
        check(
            "# TYPE a_total counter\na_total -1\n",
            Err("counter a_total is -1"),
        );
        check("# TYPE h histogram\nh_bucket 1\n", Err("no le label"));
        let not_cumulative = histogram.replace("\"1\"} 1", "\"1\"} 3");
        check(&not_cumulative, Err("not cumulative"));
        let no_inf = "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 3\nh_count 1\n";
        check(no_inf, Err("no +Inf"));
        check(
            &histogram.replace("h_count 2", "h_count 3"),
            Err("_count is not"),
        );
        check(&histogram.replace("h_sum 3\n", ""), Err("no _sum"));
    }

    #[test]
    fn values_are_read_back_unescaped() {
        let text = "# HELP a A\\nB.\n# TYPE a gauge\na{p=\"x\\\"y\\nz\"} 2.5\na{p=\"w\"} +Inf\n";
        let parsed = parse(text).expect("valid");
        let family = parsed.family("a").expect("a");
        assert_eq!(family.help.as_deref(), Some("A\nB."));
        assert_eq!(family.kind, Kind::Gauge);
        assert_eq!(parsed.value("a", &[("p", "x\"y\nz")]), Some(2.5));
        assert_eq!(parsed.value("a", &[("p", "w")]), Some(f64::INFINITY));
        assert_eq!(parsed.value("a", &[]), None, "two samples match");
        assert_eq!(parsed.sum("a", &[("p", "x\"y\nz")]), 2.5);
    }
}
