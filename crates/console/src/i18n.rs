//! The console's interface in each operator's language: Project Fluent messages
//! (`locales/*.ftl`, embedded), looked up by id. Message contents are not translated here: a
//! message shows as its sender wrote it, with its renderings and translations beside it.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource};

/// The interface languages, each with its messages; the first is the fallback.
const LOCALES: [(&str, &str); 2] = [
    ("en", include_str!("../locales/en.ftl")),
    ("ru", include_str!("../locales/ru.ftl")),
];

static BUNDLES: LazyLock<BTreeMap<&'static str, FluentBundle<FluentResource>>> =
    LazyLock::new(|| {
        LOCALES
            .into_iter()
            .map(|(lang, source)| {
                let resource = FluentResource::try_new(source.to_owned())
                    .expect("the embedded messages parse (tested)");
                let id = lang.parse().expect("a valid language tag");
                let mut bundle = FluentBundle::new_concurrent(vec![id]);
                // Values go into text HTML-escaped by the templates; no isolation marks.
                bundle.set_use_isolating(false);
                bundle
                    .add_resource(resource)
                    .expect("no message is defined twice (tested)");
                (lang, bundle)
            })
            .collect()
    });

/// The interface language for `lang`: itself when the console speaks it, else English.
pub(crate) fn interface_lang(lang: &str) -> &'static str {
    LOCALES
        .iter()
        .map(|(known, _)| *known)
        .find(|known| known.eq_ignore_ascii_case(lang))
        .unwrap_or(LOCALES[0].0)
}

/// Message `id` in `lang` with `args`; the fallback language's when `lang` lacks it, and the
/// id itself when no language has it (a test checks none is missing). An argument may be a
/// peer's text (a cancellation's reason, a request to clarify): whatever in it could drive the
/// display (a text-direction override reversing the rest of the line) is shown escaped, as the
/// terminal shows it. Line breaks and tabs stay: a page lays them out as spaces.
pub(crate) fn text(lang: &str, id: &str, args: &[(&str, &str)]) -> String {
    let mut fluent_args = FluentArgs::new();
    for (name, value) in args {
        fluent_args.set(*name, shown(value));
    }
    for lang in [interface_lang(lang), LOCALES[0].0] {
        let bundle = &BUNDLES[lang];
        if let Some(pattern) = bundle.get_message(id).and_then(|m| m.value()) {
            let mut errors = Vec::new();
            let args = (!args.is_empty()).then_some(&fluent_args);
            return bundle
                .format_pattern(pattern, args, &mut errors)
                .into_owned();
        }
    }
    id.to_owned()
}

/// `text` with every character that could drive a display shown as `\u{…}`, line breaks and
/// tabs aside.
fn shown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for part in text.split_inclusive(['\n', '\t']) {
        let (body, end) = match part.strip_suffix(['\n', '\t']) {
            Some(body) => (body, &part[body.len()..]),
            None => (part, ""),
        };
        parley_proto::names::escape_into(&mut out, body, false);
        out.push_str(end);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A peer's text put into a sentence cannot reverse or break what follows it.
    #[test]
    fn arguments_are_shown_escaped() {
        let shown = text(
            "en",
            "cancelled",
            &[("reason", "x\u{202E}y\u{1b}[2J\nz\tw")],
        );
        assert_eq!(shown, "CANCELLED: x\\u{202e}y\\u{1b}[2J\nz\tw");
    }

    /// Every language has every message, each parses, and none is defined twice.
    #[test]
    fn every_language_has_every_message() {
        let ids = |source: &str| -> Vec<String> {
            let resource = FluentResource::try_new(source.to_owned()).expect("parses");
            resource
                .entries()
                .filter_map(|entry| match entry {
                    fluent_syntax::ast::Entry::Message(message) => Some(message.id.name.to_owned()),
                    _ => None,
                })
                .collect()
        };
        let english = ids(LOCALES[0].1);
        let mut unique = english.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), english.len(), "an id defined twice");
        for (lang, source) in LOCALES {
            let mut theirs = ids(source);
            theirs.sort();
            assert_eq!(theirs, unique, "{lang} has exactly the English ids");
        }
        assert!(!BUNDLES.is_empty());
    }

    /// Every state and kind the pages show by name has a message in every language: no
    /// operator reads an internal name.
    #[test]
    fn every_state_and_kind_shown_has_its_message() {
        use parley_station::api::records::{AlarmState, ItemKind};
        use parley_station::codebooks::Standing;
        use parley_station::core::health::Health;
        let mut ids: Vec<String> = parley_store::AlarmKind::ALL
            .iter()
            .map(|kind| format!("alarm-kind-{}", kind.name()))
            .collect();
        ids.extend(AlarmState::ALL.map(|state| format!("alarm-state-{}", state.name())));
        ids.extend(Health::ALL.map(|state| format!("channel-state-{}", state.name())));
        ids.extend(ItemKind::ALL.map(|kind| format!("item-kind-{}", kind.name())));
        ids.extend(Standing::ALL.map(|standing| format!("codebook-standing-{}", standing.name())));
        for (lang, _) in LOCALES {
            for id in &ids {
                assert!(BUNDLES[lang].has_message(id), "{lang} lacks {id}");
            }
        }
        assert_eq!(
            text("ru", "alarm-kind-over_intake", &[]),
            "превышен объём приёма"
        );
    }

    #[test]
    fn messages_take_their_arguments() {
        assert_eq!(
            text("en", "from", &[("peer", "Bravo"), ("seq", "3")]),
            "from Bravo #3"
        );
        assert_eq!(text("RU", "nav-inbox", &[]), "Входящие");
        let at = [("by", "Ana"), ("peer", "Alpha")];
        assert_eq!(text("en", "operator-at-peer", &at), "\"Ana\" at Alpha");
        assert_eq!(text("ru", "operator-at-peer", &at), "«Ana» (Alpha)");
        assert_eq!(
            text("fr", "nav-inbox", &[]),
            "Inbox",
            "English when the console lacks it"
        );
        assert_eq!(interface_lang("xx"), "en");
    }
}
