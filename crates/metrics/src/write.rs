//! Writing Prometheus text: metric families known at scrape time ([`Families`], through a
//! collector), and registries of live instruments ([`encode_registry`]). Both go through
//! `prometheus-client`'s encoder for the Prometheus text format, which escapes label values
//! (`\\`, `\"`, `\n`) and help texts.

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeCounterValue, EncodeGaugeValue, NoLabelSet,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

/// The `Content-Type` of what [`crate::serve`] answers: Prometheus text, version 0.0.4.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The labels of one series, as (name, value) pairs. Values may hold any text (a peer's
/// name): they are escaped when written.
pub type Labels = Vec<(&'static str, String)>;

/// A histogram's state: bucket upper bounds, the observations in each bucket (one more
/// than the bounds: the last is above them all), their sum and count.
#[derive(Clone, Copy, Debug)]
pub struct Buckets<'a> {
    /// Upper bounds, increasing.
    pub bounds: &'a [f64],
    /// Observations in each bucket (not cumulative); `bounds.len() + 1` of them.
    pub counts: &'a [u64],
    /// Sum of the observations.
    pub sum: f64,
}

/// Writes metric families of values known at scrape time.
pub struct Families<'a, 'b> {
    encoder: &'b mut DescriptorEncoder<'a>,
}

impl Families<'_, '_> {
    /// A gauge family: one value per series.
    pub fn gauge<V: EncodeGaugeValue>(
        &mut self,
        name: &str,
        help: &str,
        series: impl IntoIterator<Item = (Labels, V)>,
    ) -> fmt::Result {
        let mut metric = self
            .encoder
            .encode_descriptor(name, help, None, MetricType::Gauge)?;
        for (labels, value) in series {
            metric.encode_family(&labels)?.encode_gauge(&value)?;
        }
        Ok(())
    }

    /// A counter family; `name` without the `_total` the encoder appends.
    pub fn counter<V: EncodeCounterValue>(
        &mut self,
        name: &str,
        help: &str,
        series: impl IntoIterator<Item = (Labels, V)>,
    ) -> fmt::Result {
        assert!(!name.ends_with("_total"), "the encoder appends _total");
        let mut metric = self
            .encoder
            .encode_descriptor(name, help, None, MetricType::Counter)?;
        for (labels, value) in series {
            metric
                .encode_family(&labels)?
                .encode_counter::<NoLabelSet, V, u64>(&value, None)?;
        }
        Ok(())
    }

    /// A histogram family.
    pub fn histogram<'h>(
        &mut self,
        name: &str,
        help: &str,
        series: impl IntoIterator<Item = (Labels, Buckets<'h>)>,
    ) -> fmt::Result {
        let mut metric = self
            .encoder
            .encode_descriptor(name, help, None, MetricType::Histogram)?;
        for (labels, histogram) in series {
            assert_eq!(histogram.counts.len(), histogram.bounds.len() + 1);
            let buckets: Vec<(f64, u64)> = histogram
                .bounds
                .iter()
                .copied()
                .chain([f64::INFINITY])
                .zip(histogram.counts.iter().copied())
                .collect();
            let count = histogram.counts.iter().sum();
            metric
                .encode_family(&labels)?
                .encode_histogram::<NoLabelSet>(histogram.sum, count, &buckets, None)?;
        }
        Ok(())
    }
}

/// The Prometheus text of the families `write` writes.
pub fn exposition<F>(write: F) -> String
where
    F: Fn(&mut Families<'_, '_>) -> fmt::Result + Send + Sync + 'static,
{
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Writer(write)));
    encode_registry(&registry)
}

/// The Prometheus text of `registry`.
pub fn encode_registry(registry: &Registry) -> String {
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, registry)
        .expect("writing to a String cannot fail");
    text
}

/// A closure as a collector.
struct Writer<F>(F);

impl<F> fmt::Debug for Writer<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Writer")
    }
}

impl<F> Collector for Writer<F>
where
    F: Fn(&mut Families<'_, '_>) -> fmt::Result + Send + Sync + 'static,
{
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        (self.0)(&mut Families {
            encoder: &mut encoder,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::{Kind, parse};

    #[test]
    fn families_are_written_as_valid_text_with_escaped_labels() {
        let text = exposition(|families| {
            families.gauge(
                "test_state",
                "A state.",
                [(vec![("peer", "a\"b\nc\\d".to_owned())], 1u64)],
            )?;
            families.counter("test_frames", "Frames.", [(Labels::new(), 3u64)])?;
            families.histogram(
                "test_latency_seconds",
                "Latency.",
                [(
                    vec![("precedence", "flash".to_owned())],
                    Buckets {
                        bounds: &[0.5, 1.0],
                        counts: &[1, 0, 2],
                        sum: 7.25,
                    },
                )],
            )
        });
        assert!(
            text.contains(r#"test_state{peer="a\"b\nc\\d"} 1"#),
            "{text}"
        );
        let parsed = parse(&text).expect("valid text");
        assert_eq!(
            parsed.value("test_state", &[("peer", "a\"b\nc\\d")]),
            Some(1.0)
        );
        assert_eq!(
            parsed.family("test_frames_total").map(|f| f.kind),
            Some(Kind::Counter)
        );
        assert_eq!(parsed.value("test_frames_total", &[]), Some(3.0));
        let flash = [("precedence", "flash")];
        assert_eq!(
            parsed.value("test_latency_seconds_count", &flash),
            Some(3.0)
        );
        assert_eq!(parsed.value("test_latency_seconds_sum", &flash), Some(7.25));
        let le = [("precedence", "flash"), ("le", "1")];
        assert_eq!(parsed.value("test_latency_seconds_bucket", &le), Some(1.0));
    }
}
