//! Silences and maintenance windows as the engine sees them: label matchers with a start and an
//! end ([`Silence`]), and the set in force ([`Silences`]). An incident a silence covers is kept
//! and marked `silenced` (not dropped): it is not notified and its SLA clocks stand still; when
//! the last silence over it ends it is notified then, if it never was.
//!
//! A matcher names a label of the incident, or `host`, `service`, `check`, `source` or
//! `severity`; `=` / `!=` compare the value, `=~` / `!~` an anchored regular expression; a
//! missing label is the empty string (so `env!=prod` covers an incident without `env`).

use super::model::Incident;
use regex::Regex;

/// How a matcher compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~` (anchored)
    Matches,
    /// `!~` (anchored)
    NotMatches,
}

impl Op {
    /// Parses `=`, `!=`, `=~` or `!~`.
    pub fn parse(text: &str) -> Option<Op> {
        match text {
            "=" => Some(Op::Equal),
            "!=" => Some(Op::NotEqual),
            "=~" => Some(Op::Matches),
            "!~" => Some(Op::NotMatches),
            _ => None,
        }
    }

    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Equal => "=",
            Op::NotEqual => "!=",
            Op::Matches => "=~",
            Op::NotMatches => "!~",
        }
    }
}

/// `pattern` anchored at both ends, the one rule for every pattern in Vigil (silences, routes,
/// token host limits); an invalid one is [`MatcherError::Regex`] with the regex error's last
/// line.
pub fn anchored(pattern: &str) -> Result<Regex, MatcherError> {
    Regex::new(&format!("^(?:{pattern})$")).map_err(|error| MatcherError::Regex {
        pattern: pattern.to_owned(),
        reason: error
            .to_string()
            .lines()
            .last()
            .unwrap_or("invalid")
            .trim()
            .to_owned(),
    })
}

/// One matcher.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// A label name, or `host`, `service`, `check`, `source`, `severity`.
    pub name: String,
    /// How.
    pub op: Op,
    /// The value or the pattern.
    pub value: String,
    regex: Option<Regex>,
}

/// Why a matcher was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatcherError {
    /// Unknown operator.
    #[error("unknown op {0:?}: use =, !=, =~ or !~")]
    Op(String),
    /// Bad regular expression.
    #[error("invalid regular expression {pattern:?}: {reason}")]
    Regex {
        /// The pattern.
        pattern: String,
        /// Why.
        reason: String,
    },
    /// Empty name.
    #[error("a matcher needs a name (a label, or host, service, check, source, severity)")]
    Name,
}

impl Matcher {
    /// A checked matcher.
    pub fn new(name: &str, op: &str, value: &str) -> Result<Matcher, MatcherError> {
        if name.trim().is_empty() {
            return Err(MatcherError::Name);
        }
        let op = Op::parse(op).ok_or_else(|| MatcherError::Op(op.to_owned()))?;
        let regex = match op {
            Op::Matches | Op::NotMatches => Some(anchored(value)?),
            Op::Equal | Op::NotEqual => None,
        };
        Ok(Matcher {
            name: name.to_owned(),
            op,
            value: value.to_owned(),
            regex,
        })
    }

    /// True when the incident's field or label satisfies it.
    pub fn matches(&self, incident: &Incident) -> bool {
        let value = field(incident, &self.name);
        match (self.op, &self.regex) {
            (Op::Equal, _) => value == self.value,
            (Op::NotEqual, _) => value != self.value,
            (Op::Matches, Some(regex)) => regex.is_match(value),
            (Op::NotMatches, Some(regex)) => !regex.is_match(value),
            _ => false,
        }
    }
}

/// The incident's value for a matcher `name`: a field, else a label ("" when missing).
fn field<'a>(incident: &'a Incident, name: &str) -> &'a str {
    match name {
        "host" => incident.host.as_deref().unwrap_or(""),
        "service" => incident.service.as_deref().unwrap_or(""),
        "check" => incident.check.as_str(),
        "source" => incident.source.as_deref().unwrap_or(""),
        "severity" => incident.severity.as_str(),
        label => incident.labels.get(label).map(String::as_str).unwrap_or(""),
    }
}

/// Every matcher of a set of silences, grouped by the name it looks at: one `RegexSet` per name
/// answers all of that name's matchers in one pass over the value, so checking an incident
/// against 1,000 silences costs a few passes and a count per silence, not 1,000 regex runs.
/// Per pattern of a name's set: the silence it belongs to, and whether its matcher is negated.
type Entries = Vec<(usize, bool)>;

#[derive(Debug)]
struct Index {
    /// (name, the set of its matchers' anchored patterns, per pattern: the silence and whether
    /// the matcher is negated).
    by_name: Vec<(String, regex::RegexSet, Entries)>,
    /// Matchers per silence.
    counts: Vec<usize>,
}

impl Index {
    /// `None` when a set would not compile (size limits): checks then go one by one.
    fn build(silences: &[Silence]) -> Option<Index> {
        let mut names: Vec<(String, Vec<String>, Entries)> = Vec::new();
        for (index, silence) in silences.iter().enumerate() {
            for matcher in &silence.matchers {
                let pattern = match matcher.op {
                    Op::Equal | Op::NotEqual => format!("^{}$", regex::escape(&matcher.value)),
                    Op::Matches | Op::NotMatches => format!("^(?:{})$", matcher.value),
                };
                let negate = matches!(matcher.op, Op::NotEqual | Op::NotMatches);
                let slot = match names.iter().position(|(name, ..)| *name == matcher.name) {
                    Some(slot) => slot,
                    None => {
                        names.push((matcher.name.clone(), Vec::new(), Vec::new()));
                        names.len() - 1
                    }
                };
                names[slot].1.push(pattern);
                names[slot].2.push((index, negate));
            }
        }
        let by_name = names
            .into_iter()
            .map(|(name, patterns, entries)| {
                regex::RegexSet::new(&patterns)
                    .ok()
                    .map(|set| (name, set, entries))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Index {
            by_name,
            counts: silences
                .iter()
                .map(|silence| silence.matchers.len())
                .collect(),
        })
    }

    fn covers(&self, silences: &[Silence], incident: &Incident, now_ms: i64) -> bool {
        let mut satisfied = vec![0usize; self.counts.len()];
        for (name, set, entries) in &self.by_name {
            let matched = set.matches(field(incident, name));
            for (pattern, &(silence, negate)) in entries.iter().enumerate() {
                if matched.matched(pattern) != negate {
                    satisfied[silence] += 1;
                }
            }
        }
        silences.iter().enumerate().any(|(index, silence)| {
            satisfied[index] == self.counts[index]
                && silence.starts_ms <= now_ms
                && now_ms < silence.ends_ms
        })
    }
}

/// One silence: every matcher must hold, between `starts_ms` and `ends_ms`.
#[derive(Debug, Clone)]
pub struct Silence {
    /// Its id.
    pub id: String,
    /// All must hold.
    pub matchers: Vec<Matcher>,
    /// From, Unix ms.
    pub starts_ms: i64,
    /// Until (exclusive), Unix ms.
    pub ends_ms: i64,
}

impl Silence {
    /// True when it covers `incident` at `now_ms`.
    pub fn covers(&self, incident: &Incident, now_ms: i64) -> bool {
        self.starts_ms <= now_ms
            && now_ms < self.ends_ms
            && self
                .matchers
                .iter()
                .all(|matcher| matcher.matches(incident))
    }
}

/// The silences in force or to come.
#[derive(Debug, Default)]
pub struct Silences {
    silences: Vec<Silence>,
    /// Bumped on every change of the set.
    version: u64,
    /// When a shared store's silences were last read, Unix ms.
    pub loaded_ms: Option<i64>,
    /// The matchers indexed, built at the first check after a change (`None` inside: could not
    /// be built, check one by one).
    index: std::sync::OnceLock<Option<Index>>,
}

impl Clone for Silences {
    fn clone(&self) -> Self {
        Silences {
            silences: self.silences.clone(),
            version: self.version,
            loaded_ms: self.loaded_ms,
            index: std::sync::OnceLock::new(),
        }
    }
}

impl Silence {
    /// Compiles a silence from its matchers as (name, op, value); the first invalid matcher's
    /// error otherwise.
    pub fn compile<'a>(
        id: &str,
        matchers: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
        starts_ms: i64,
        ends_ms: i64,
    ) -> Result<Silence, MatcherError> {
        Ok(Silence {
            id: id.to_owned(),
            matchers: matchers
                .into_iter()
                .map(|(name, op, value)| Matcher::new(name, op, value))
                .collect::<Result<_, _>>()?,
            starts_ms,
            ends_ms,
        })
    }
}

impl Silences {
    /// Adds or replaces (by id) a silence; one that has ended is dropped.
    pub fn upsert(&mut self, silence: Silence, now_ms: i64) {
        self.silences.retain(|known| known.id != silence.id);
        if silence.ends_ms > now_ms {
            self.silences.push(silence);
        }
        self.version += 1;
        self.index = std::sync::OnceLock::new();
    }

    /// Replaces the whole set (a shared store's reload); the version moves only if it changed.
    pub fn replace(&mut self, silences: Vec<Silence>) {
        let same = silences.len() == self.silences.len()
            && silences
                .iter()
                .zip(&self.silences)
                .all(|(a, b)| a.id == b.id && a.starts_ms == b.starts_ms && a.ends_ms == b.ends_ms);
        if !same {
            self.silences = silences;
            self.version += 1;
            self.index = std::sync::OnceLock::new();
        }
    }

    /// Drops silences that ended before `now_ms`.
    pub fn forget_ended(&mut self, now_ms: i64) {
        let before = self.silences.len();
        self.silences.retain(|silence| silence.ends_ms > now_ms);
        if self.silences.len() != before {
            self.version += 1;
            self.index = std::sync::OnceLock::new();
        }
    }

    /// True when any silence covers `incident` at `now_ms`.
    pub fn covers(&self, incident: &Incident, now_ms: i64) -> bool {
        if self.silences.is_empty() {
            return false;
        }
        match self.index.get_or_init(|| Index::build(&self.silences)) {
            Some(index) => index.covers(&self.silences, incident, now_ms),
            None => self
                .silences
                .iter()
                .any(|silence| silence.covers(incident, now_ms)),
        }
    }

    /// The next start or end after `now_ms` (when coverage may change without a new silence).
    pub fn next_boundary(&self, now_ms: i64) -> Option<i64> {
        self.silences
            .iter()
            .flat_map(|silence| [silence.starts_ms, silence.ends_ms])
            .filter(|at| *at > now_ms)
            .min()
    }

    /// Changes whenever the set does.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.silences.len()
    }

    /// None at all.
    pub fn is_empty(&self) -> bool {
        self.silences.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incidents::EventIn;
    use crate::incidents::lifecycle::new_incident;
    use vigil_shared::event::{Severity, Status};

    fn incident() -> Incident {
        let mut event = EventIn::new("nagios", "http_5xx", Status::Firing, Severity::Major)
            .with_host("web-1")
            .with_service("billing");
        event.labels.insert("env".into(), "prod".into());
        new_incident("0000000000000001".into(), "f".into(), &event, 0)
    }

    #[test]
    fn matchers_compare_fields_and_labels_anchored() {
        let incident = incident();
        let table = [
            ("service", "=", "billing", true),
            ("service", "=", "bill", false),
            ("service", "=~", "bill.*", true),
            ("service", "=~", "bill", false),
            ("host", "!~", "db-.*", true),
            ("env", "!=", "prod", false),
            ("dc", "=", "", true),
            ("severity", "=", "major", true),
            ("check", "=~", "http_.*|tcp", true),
            ("source", "!=", "nagios", false),
        ];
        for (name, op, value, expected) in table {
            let matcher = Matcher::new(name, op, value).unwrap();
            assert_eq!(matcher.matches(&incident), expected, "{name} {op} {value}");
        }
        assert_eq!(
            Matcher::new("x", "==", "y").unwrap_err(),
            MatcherError::Op("==".into())
        );
        assert!(matches!(
            Matcher::new("x", "=~", "(").unwrap_err(),
            MatcherError::Regex { .. }
        ));
        assert_eq!(Matcher::new(" ", "=", "y").unwrap_err(), MatcherError::Name);
    }

    #[test]
    fn a_silence_covers_within_its_window_and_the_set_tracks_boundaries() {
        let incident = incident();
        let silence = Silence {
            id: "s1".into(),
            matchers: vec![Matcher::new("service", "=", "billing").unwrap()],
            starts_ms: 100,
            ends_ms: 200,
        };
        assert!(!silence.covers(&incident, 99));
        assert!(silence.covers(&incident, 100));
        assert!(!silence.covers(&incident, 200));
        let mut set = Silences::default();
        set.upsert(silence.clone(), 0);
        let version = set.version();
        assert_eq!(set.next_boundary(0), Some(100));
        assert_eq!(set.next_boundary(100), Some(200));
        assert_eq!(set.next_boundary(200), None);
        set.replace(vec![silence.clone()]);
        assert_eq!(
            set.version(),
            version,
            "an unchanged reload keeps the version"
        );
        set.forget_ended(250);
        assert!(set.is_empty());
        assert!(set.version() > version);
        let mut ended = silence;
        ended.ends_ms = 50;
        set.upsert(ended, 60);
        assert_eq!(set.len(), 0, "an ended silence is not kept");
    }

    mod indexed {
        use super::*;
        use proptest::prelude::*;

        const VALUES: [&str; 4] = ["web-1", "billing", "", "db.2"];
        const NAMES: [&str; 4] = ["host", "service", "env", "check"];
        const OPS: [&str; 4] = ["=", "!=", "=~", "!~"];
        const PATTERNS: [&str; 4] = ["web-.*", "billing|db", "", ".*\\.2"];

        fn incident_with(host: &str, service: &str, env: &str) -> Incident {
            let mut event = EventIn::new("nagios", "db.2", Status::Firing, Severity::Major)
                .with_host(host)
                .with_service(service);
            if !env.is_empty() {
                event.labels.insert("env".into(), env.into());
            }
            new_incident("0000000000000001".into(), "f".into(), &event, 0)
        }

        proptest! {
            /// The index answers exactly what checking each silence one by one answers.
            #[test]
            fn the_index_agrees_with_checking_one_by_one(
                specs in proptest::collection::vec(
                    (proptest::collection::vec((0..4usize, 0..4usize, 0..4usize), 0..4), 0..3i64, 1..4i64),
                    0..12,
                ),
                host in 0..4usize, service in 0..4usize, env in 0..4usize, now in 0..4i64,
            ) {
                let mut set = Silences::default();
                let mut plain = Vec::new();
                for (n, (matchers, starts, length)) in specs.iter().enumerate() {
                    let triples: Vec<(&str, &str, &str)> = matchers
                        .iter()
                        .map(|&(name, op, value)| {
                            let value = if op >= 2 { PATTERNS[value] } else { VALUES[value] };
                            (NAMES[name], OPS[op], value)
                        })
                        .collect();
                    let silence =
                        Silence::compile(&format!("s{n}"), triples, *starts, starts + length).unwrap();
                    plain.push(silence.clone());
                    set.upsert(silence, -1);
                }
                let incident = incident_with(VALUES[host], VALUES[service], VALUES[env]);
                let one_by_one = plain.iter().any(|silence| silence.covers(&incident, now));
                prop_assert_eq!(set.covers(&incident, now), one_by_one);
            }
        }
    }
}
