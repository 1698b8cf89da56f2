//! A borrowed view of a [`super::Batch`] for receivers: sample names and labels point into the
//! decoded buffer instead of being copied, so a collector decodes a batch with about one
//! allocation per labelled sample instead of several. Same wire shape, same validation rules.

use super::{AgentInfo, Event, Inventory, Limits, ValidationError};
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::borrow::Cow;
use std::fmt;

/// A batch whose samples borrow from the bytes it was decoded from.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BatchView<'a> {
    /// The sender's protocol version.
    pub version: u32,
    /// Who sent it.
    pub agent: AgentInfo,
    /// The agent's sequence stream.
    pub stream: u64,
    /// Sequence number within `stream`.
    pub seq: u64,
    /// When the batch was taken, Unix milliseconds.
    pub time_ms: i64,
    /// Metric samples.
    #[serde(default, borrow)]
    pub samples: Vec<SampleView<'a>>,
    /// Events detected on the host.
    #[serde(default)]
    pub events: Vec<Event>,
    /// The host's configuration record, when new or changed.
    #[serde(default)]
    pub inventory: Option<Inventory>,
}

/// One sample, borrowing its name and labels.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SampleView<'a> {
    /// Metric name.
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    /// Labels in the order sent (an encoder of [`super::Sample`] sends them sorted).
    #[serde(default, borrow)]
    pub labels: LabelsView<'a>,
    /// The value.
    pub value: f64,
    /// When it was taken, Unix ms; absent means the batch's.
    #[serde(default)]
    pub time_ms: Option<i64>,
}

/// Label pairs decoded from a map without building one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelsView<'a>(pub Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'de: 'a, 'a> Deserialize<'de> for LabelsView<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PairsVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for PairsVisitor<'a> {
            type Value = LabelsView<'a>;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a map of label names to values")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                // Never trust the declared length for the allocation: cap the hint.
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(0).min(16));
                while let Some((name, value)) = map.next_entry::<BorrowedStr, BorrowedStr>()? {
                    pairs.push((name.0, value.0));
                }
                Ok(LabelsView(pairs))
            }
        }
        deserializer.deserialize_map(PairsVisitor(std::marker::PhantomData))
    }
}

/// A string that borrows from the input when it can.
struct BorrowedStr<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for BorrowedStr<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrVisitor;
        impl<'de> Visitor<'de> for StrVisitor {
            type Value = BorrowedStr<'de>;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Self::Value, E> {
                Ok(BorrowedStr(Cow::Borrowed(text)))
            }
            fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
                Ok(BorrowedStr(Cow::Owned(text.to_owned())))
            }
            fn visit_string<E>(self, text: String) -> Result<Self::Value, E> {
                Ok(BorrowedStr(Cow::Owned(text)))
            }
        }
        deserializer.deserialize_str(StrVisitor)
    }
}

impl LabelsView<'_> {
    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The pairs as `&str`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + Clone {
        self.0
            .iter()
            .map(|(name, value)| (name.as_ref(), value.as_ref()))
    }
}

impl BatchView<'_> {
    /// Sorts each sample's labels by name (as [`super::Sample`] holds them), then checks
    /// everything a receiver relies on with the same rules as [`super::Batch::validate`], plus
    /// that no sample repeats a label name.
    pub fn prepare(&mut self, limits: &Limits) -> Result<(), ValidationError> {
        super::check_header(self.version, &self.agent, self.seq, limits)?;
        super::check_count("samples", self.samples.len(), limits.max_samples)?;
        for sample in &mut self.samples {
            let pairs = &mut sample.labels.0;
            if !pairs.is_sorted_by(|a, b| a.0 < b.0) {
                pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                if pairs.windows(2).any(|pair| pair[0].0 == pair[1].0) {
                    return Err(ValidationError::DuplicateLabel {
                        sample: sample.name.chars().take(128).collect(),
                    });
                }
            }
            super::check_sample(
                &sample.name,
                sample.value,
                sample.labels.len(),
                sample.labels.iter(),
                limits,
            )?;
        }
        super::check_events(&self.events, limits)?;
        super::check_inventory(self.inventory.as_ref(), limits)
    }
}
