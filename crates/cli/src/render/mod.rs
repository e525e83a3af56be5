//! Everything the CLI shows a human, and the `--json` forms (the API's types, serialised as
//! they are). Text that came from another party (names, messages, reasons) is escaped before it
//! reaches a terminal: control characters, the Unicode controls that reorder text
//! (bidirectional overrides, embeddings, isolates, marks) and the line and paragraph separators
//! are shown as `\u{…}`, so a peer can neither move the cursor, nor forge a line, nor make text
//! read backwards. Message texts are also quoted, so where one begins and ends is never in
//! doubt. `--json` stays exact.

use std::fmt::Write as _;
use std::path::Path;

use parley_proto::names::escape_into;
use parley_proto::transcript::{Agreement, CheckpointProof, VerifiedTranscript};
use parley_proto::{Fingerprint, TestAnswer};
use parley_station::api::content::Shown;
use parley_station::api::records::{
    AlarmItem, AnswerItem, DeliveryState, Durations, InboxItem, ItemKind, OutboxItem, PeerItem,
    PrecedenceStats,
};
use parley_station::api::status::StatusReport;
use parley_station::api::{
    ApiError, CheckpointReport, ErrorClass, Event, Exported, Imported, KeyRotated,
    TranscriptChecked, TranscriptRecovered,
};
use serde::Serialize;

mod transcript;

pub use transcript::{
    agreed, checkpoint_proofs, transcript_checked, transcript_recovered, verified,
};

/// Untrusted text made safe for a terminal.
pub fn text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text, false);
    out
}

/// Untrusted text made safe for a terminal, in double quotes (`"` and `\` escaped inside).
pub fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    escape_into(&mut out, text, true);
    out.push('"');
    out
}

/// Prints a value as pretty JSON.
pub fn json(value: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// `HH:MM:SSZ` of a UTC time in milliseconds.
pub fn time(ms: u64) -> String {
    let secs = ms / 1000;
    format!(
        "{:02}:{:02}:{:02}Z",
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60
    )
}

/// `peer list`.
pub fn peers(peers: &[PeerItem], as_json: bool) -> anyhow::Result<()> {
    if as_json {
        return json(&peers);
    }
    if peers.is_empty() {
        println!("no peers; pair with `parley peer add CARD --fingerprint FP`");
    }
    for peer in peers {
        println!(
            "{:<22} {}  {}",
            quoted(&peer.name),
            peer.fingerprint,
            peer.address
                .as_deref()
                .map_or_else(|| "(no address)".to_owned(), text)
        );
    }
    Ok(())
}

/// What a message or test says, quoted, with its marks.
fn contents(
    kind: ItemKind,
    message: &str,
    exercise: bool,
    answer_by: Option<TestAnswer>,
    shown: &Shown,
) -> String {
    let body = match kind {
        ItemKind::Message => quoted(message),
        ItemKind::Coded => format!("CODE {} {}", shown.code.unwrap_or(0), quoted(message)),
        // A notice's title here; its fields, one a line, below (`more_lines`).
        ItemKind::Notice => format!(
            "NOTICE {} {}",
            text(shown.form.as_deref().unwrap_or("")),
            quoted(message.lines().next().unwrap_or_default())
        ),
        ItemKind::Test => format!(
            "TEST ({} answers)",
            answer_by.map_or("machine", TestAnswer::name)
        ),
    };
    let body = match &shown.invalid {
        Some(why) => format!("INVALID ({}) {body}", text(why)),
        None => body,
    };
    if exercise {
        format!("EXERCISE {body}")
    } else {
        body
    }
}

/// The lines under a message: the rest of a notice (its fields, one a line), its renderings
/// in the other languages of its codebook, and its translations, each marked by language and
/// by who made it. Every line of text from the peer is quoted: a field's label or value (the
/// peer's codebook chose them) can never pass for a line of the listing.
fn more_lines(shown: &Shown, shown_lang: &str) {
    let fields = |rendered: &str| {
        for line in rendered.lines().skip(1) {
            println!("      {}", quoted(line));
        }
    };
    // A notice's title is on the message's line; its fields follow, one a line. (Any other
    // text is on its line whole, its line breaks escaped.)
    if let Some(own) = shown
        .rendered
        .get(shown_lang)
        .filter(|_| shown.form.is_some())
    {
        fields(own);
    }
    for (lang, rendered) in &shown.rendered {
        if lang != shown_lang {
            let first = rendered.lines().next().unwrap_or_default();
            println!("    {}: {}", text(lang), quoted(first));
            fields(rendered);
        }
    }
    for translation in &shown.translations {
        let by = match (translation.from_sender, translation.by.is_empty()) {
            (true, true) => "the sender".to_owned(),
            (true, false) => format!("{} (sender)", quoted(&translation.by)),
            (false, _) => format!("{} (recipient)", quoted(&translation.by)),
        };
        println!(
            "    {} translated by {by}: {}",
            text(&translation.lang),
            quoted(&translation.text)
        );
    }
}

/// An answer as a short phrase. `peer`: the answer is the peer's, to an own message, and
/// its operator's name, which the peer chose, is quoted and named as of that station: it may
/// be the name of one of this station's operators, or read like more words of the phrase.
fn answer_phrase(answer: &AnswerItem, peer: Option<&str>) -> String {
    let by = match (answer.by.is_empty(), peer) {
        (true, None) => "the station".to_owned(),
        (true, Some(peer)) => format!("the station at {}", quoted(peer)),
        (false, None) => text(&answer.by),
        (false, Some(peer)) => format!("{} at {}", quoted(&answer.by), quoted(peer)),
    };
    match (answer.understood, answer.text.is_empty()) {
        (true, true) => format!("understood by {by} {}", time(answer.at_ms)),
        (true, false) => format!(
            "understood by {by} {}: {}",
            time(answer.at_ms),
            quoted(&answer.text)
        ),
        (false, _) => format!(
            "clarify from {by} {}: {}",
            time(answer.at_ms),
            quoted(&answer.text)
        ),
    }
}

/// `inbox`.
pub fn inbox(items: &[InboxItem], as_json: bool) -> anyhow::Result<()> {
    if as_json {
        return json(&items);
    }
    for item in items {
        let state = match (&item.cancelled, &item.answer) {
            (Some(reason), _) => match &item.cancelled_by {
                Some(by) => {
                    format!(
                        "CANCELLED by the sender ({}): {}",
                        quoted(by),
                        quoted(reason)
                    )
                }
                None => format!("CANCELLED by the sender: {}", quoted(reason)),
            },
            (None, Some(answer)) => answer_phrase(answer, None),
            (None, None) if item.answer_by == Some(TestAnswer::Machine) => {
                "answered by the station".into()
            }
            (None, None) => format!(
                "awaiting your answer, due {}",
                due(item.understood_due_ms, item.received_at)
            ),
        };
        let state = match &item.sent_by {
            Some(by) => format!("{state}; written by {}", quoted(by)),
            None => state,
        };
        println!(
            "{} #{:<5} {:<9} {:<12} {}  [{}]  {}",
            quoted(&item.from),
            item.seq,
            item.precedence.name().to_uppercase(),
            time(item.received_at),
            contents(
                item.kind,
                &item.text,
                item.exercise,
                item.answer_by,
                &item.shown
            ),
            state,
            item.id,
        );
        more_lines(&item.shown, &item.lang);
    }
    Ok(())
}

/// `outbox`.
pub fn outbox(items: &[OutboxItem], as_json: bool) -> anyhow::Result<()> {
    if as_json {
        return json(&items);
    }
    for item in items {
        let mut notes = Vec::new();
        match (&item.cancelled, &item.cancelled_by) {
            (Some(reason), Some(by)) => {
                notes.push(format!("CANCELLED by {}: {}", text(by), quoted(reason)));
            }
            (Some(reason), None) => notes.push(format!("CANCELLED: {}", quoted(reason))),
            (None, _) => {}
        }
        if let (Some(by), Some(at_ms)) = (&item.answered_by, item.answered_at_ms) {
            let answer = AnswerItem {
                understood: item.state == DeliveryState::Understood,
                by: by.clone(),
                at_ms,
                text: item
                    .restatement
                    .clone()
                    .or_else(|| item.question.clone())
                    .unwrap_or_default(),
            };
            notes.push(answer_phrase(&answer, Some(&item.to)));
        } else if item.cancelled.is_none() {
            notes.push(format!(
                "answer due {}",
                due(item.understood_due_ms, item.created_at)
            ));
        }
        if !item.sent_on.is_empty() {
            let on: Vec<&str> = item.sent_on.iter().map(|kind| kind.name()).collect();
            notes.push(format!("sent on {}", on.join(", ")));
        }
        if item.overdue {
            notes.push("OVERDUE (signed)".into());
        }
        println!(
            "{} #{:<5} {:<9} {:<10} {}  [{}]  {}",
            quoted(&item.to),
            item.seq,
            item.precedence.name().to_uppercase(),
            item.state.name(),
            contents(
                item.kind,
                &item.text,
                item.exercise,
                item.answer_by,
                &item.shown
            ),
            notes.join("; "),
            item.id,
        );
        more_lines(&item.shown, &item.lang);
    }
    Ok(())
}

/// One alarm on one line.
fn alarm_line(alarm: &AlarmItem) -> String {
    let mut line = format!(
        "#{:<4} {:<12} {:<26} level {} {} {}: {}",
        alarm.id,
        alarm.state.name(),
        alarm.kind.name(),
        alarm.level,
        time(alarm.raised_at_ms),
        quoted(&alarm.peer),
        text(&alarm.detail)
    );
    if let Some(by) = &alarm.acknowledged_by {
        let _ = write!(line, "  (acknowledged by {}", text(by));
        if let Some(note) = &alarm.note {
            let _ = write!(line, ": {}", quoted(note));
        }
        line.push(')');
    }
    if let Some(at_ms) = alarm.cleared_at_ms {
        let _ = write!(line, "  (cleared {})", time(at_ms));
    }
    line
}

/// `alarms`.
pub fn alarms(alarms: &[AlarmItem], as_json: bool) -> anyhow::Result<()> {
    if as_json {
        return json(&alarms);
    }
    if alarms.is_empty() {
        println!("no alarms");
    }
    for alarm in alarms {
        println!("{}", alarm_line(alarm));
    }
    Ok(())
}

/// `alarm ack`.
pub fn acknowledged(alarm: &AlarmItem) {
    println!("{}", alarm_line(alarm));
}

/// `key rotate`.
pub fn key_rotated(rotated: &KeyRotated, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        return json(rotated);
    }
    let names = |peers: &[String]| -> String {
        let shown: Vec<String> = peers.iter().map(|name| quoted(name)).collect();
        if shown.is_empty() {
            "no peer".to_owned()
        } else {
            shown.join(", ")
        }
    };
    println!(
        "new epoch key {}: announced to {}",
        rotated.key_id,
        names(&rotated.announced_to)
    );
    if !rotated.announce_later.is_empty() {
        println!(
            "  outbox full, announced at the next look (within an hour): {}",
            names(&rotated.announce_later)
        );
    }
    if !rotated.not_announced.is_empty() {
        println!(
            "  not announced, nothing more is written to them (`log_closed` in status): {}",
            names(&rotated.not_announced)
        );
    }
    Ok(())
}

/// `checkpoint show`.
pub fn checkpoints(report: &CheckpointReport, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        return json(report);
    }
    let peer = quoted(&report.peer);
    for (whose, log, cosigner) in [
        ("this station's", &report.own, peer.as_str()),
        (&*format!("{peer}'s"), &report.peer_log, "this station"),
    ] {
        println!("{whose} log: {} entries held", log.size);
        println!("  origin {}", text(&log.origin));
        match &log.latest {
            Some(latest) => {
                println!(
                    "  latest checkpoint: size {}, root {}, entry {} at {}",
                    latest.size,
                    text(&latest.root),
                    latest.seq,
                    time(latest.at_ms)
                );
                note_lines(&latest.note);
            }
            None => println!("  no checkpoint yet"),
        }
        match &log.cosigned {
            Some(cosigned) => {
                println!(
                    "  cosigned by {cosigner}: size {}, root {}, at {}",
                    cosigned.size,
                    text(&cosigned.root),
                    time(cosigned.time_s.saturating_mul(1_000))
                );
                note_lines(&cosigned.note);
            }
            None => println!("  not cosigned yet"),
        }
    }
    if report.witnesses.is_empty() {
        println!(
            "witnesses: none (the link has no relay channel, and no stock witness is configured)"
        );
    }
    for witness in &report.witnesses {
        println!(
            "witness {}{}: holds size {} of this station's log",
            text(&witness.witness),
            if witness.stock { " (stock)" } else { "" },
            witness.holds
        );
        if witness.stock {
            println!("  verifier key: {}", text(&witness.verifier_key));
        }
        match &witness.cosigned {
            Some(cosigned) => {
                println!(
                    "  cosigned: size {}, at {}",
                    cosigned.size,
                    time(cosigned.time_s.saturating_mul(1_000))
                );
                note_lines(&cosigned.note);
            }
            None => println!("  not cosigned yet"),
        }
        if let Some(error) = &witness.error {
            println!("  last submission: {}", text(error));
        }
    }
    Ok(())
}

/// A signed note, indented, each line escaped (a note is built from hex and base64 only,
/// but it is shown as text from elsewhere is).
fn note_lines(note: &str) {
    for line in note.lines() {
        println!("    | {}", text(line));
    }
}

/// `stats`.
pub fn stats(stats: &[PrecedenceStats], as_json: bool) -> anyhow::Result<()> {
    if as_json {
        return json(&stats);
    }
    let shown = |durations: &Durations| match (durations.p50_ms, durations.p99_ms, durations.max_ms)
    {
        (Some(p50), Some(p99), Some(max)) => format!(
            "{:>9} {:>9} {:>9}",
            seconds(p50),
            seconds(p99),
            seconds(max)
        ),
        _ => format!("{:>9} {:>9} {:>9}", "-", "-", "-"),
    };
    println!(
        "{:<10} {:>6}  {:>29}  {:>29}  {:>7} {:>7}",
        "", "sent", "receipt  p50 / p99 / max", "understood  p50 / p99 / max", "overdue", "waiting"
    );
    for row in stats {
        println!(
            "{:<10} {:>6}  {}  {}  {:>7} {:>7}",
            row.precedence.name().to_uppercase(),
            row.count,
            shown(&row.receipt),
            shown(&row.understood),
            row.overdue,
            row.waiting
        );
    }
    Ok(())
}

/// A duration in milliseconds as seconds with one decimal.
fn seconds(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

/// `status`.
pub fn status(report: &StatusReport, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        return json(report);
    }
    let daemon = match report.daemon {
        parley_station::api::status::DaemonState::Running => "running",
        parley_station::api::status::DaemonState::Stopped => "stopped",
    };
    println!(
        "station {} ({}) — daemon {daemon}",
        quoted(&report.station.name),
        report.station.fingerprint
    );
    for peer in &report.peers {
        println!(
            "  peer {}: sent {} (unreceipted {}, cosigned up to {}), received {} (cosigned up to {})",
            quoted(&peer.name),
            peer.out_seq,
            peer.outbox_depth,
            peer.cosigned_upto,
            peer.in_head,
            peer.peer_cosigned_upto
        );
        if let Some(closed) = &peer.log_closed {
            println!("    no more is written to it: {}", text(&closed.reason));
        }
        for channel in &peer.channels {
            let live = channel.live.as_ref();
            println!(
                "    {:<8} {:<9}{} {}{}",
                channel.kind.name(),
                channel.state.name(),
                live.map(|l| format!(" since {}", time(l.since_ms)))
                    .unwrap_or_default(),
                channel
                    .target
                    .as_deref()
                    .map_or_else(|| "-".to_owned(), text),
                live.and_then(|l| l.rtt_ms)
                    .map(|rtt| format!(" rtt {rtt:.2} ms"))
                    .unwrap_or_default()
            );
            let Some(live) = live else {
                continue;
            };
            let c = &live.counters;
            println!(
                "             sent {} env / {} rcpt, received {} env / {} rcpt, duplicates {}, rejected {}",
                c.envelopes_sent,
                c.receipts_sent,
                c.envelopes_received,
                c.receipts_received,
                c.duplicates_dropped,
                c.rejected,
            );
            for change in &live.transitions {
                println!(
                    "             {} {} -> {}: {}",
                    time(change.at_ms),
                    change.from.name(),
                    change.to.name(),
                    text(&change.reason)
                );
            }
            if let Some(refused) = &live.last_refused_file {
                println!("             refused file: {}", text(refused));
            }
        }
    }
    for key in &report.epoch_keys {
        let now_ms = report.now_ms.unwrap_or_else(|| {
            let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            since_epoch.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        });
        let days = now_ms.saturating_sub(key.created_ms) / 86_400_000;
        let role = match key.superseded_ms {
            None => "current".to_owned(),
            Some(ms) => format!("retained, superseded {}", due(ms, now_ms)),
        };
        let needed: Vec<String> = key.needed_by.iter().map(|name| quoted(name)).collect();
        println!(
            "  epoch key {}: {role}, made {} ({days} d old){}",
            key.key_id,
            due(key.created_ms, now_ms),
            if needed.is_empty() {
                String::new()
            } else {
                format!(", still needed by {}", needed.join(", "))
            }
        );
    }
    let alarms = &report.alarms;
    if alarms.open + alarms.acknowledged > 0 {
        println!(
            "  ALARMS: {} open, {} acknowledged",
            alarms.open, alarms.acknowledged
        );
        for alarm in &alarms.recent {
            println!("    {}", alarm_line(&alarm.alarm));
        }
    }
    Ok(())
}

/// A channel as `channel list --json` shows it: the status's channel with its peer.
#[derive(Serialize)]
struct ChannelRow<'a> {
    peer: &'a str,
    #[serde(flatten)]
    channel: &'a parley_station::api::status::ChannelStatus,
}

/// `channel list`.
pub fn channel_list(report: &StatusReport, as_json: bool) -> anyhow::Result<()> {
    let rows: Vec<ChannelRow<'_>> = report
        .peers
        .iter()
        .flat_map(|peer| {
            peer.channels.iter().map(|channel| ChannelRow {
                peer: &peer.name,
                channel,
            })
        })
        .collect();
    if as_json {
        return json(&rows);
    }
    if rows.is_empty() {
        println!("no channels (pair with a peer first)");
    }
    for row in &rows {
        let rtt = row
            .channel
            .live
            .as_ref()
            .and_then(|live| live.rtt_ms)
            .map_or_else(|| "-".to_owned(), |ms| format!("{ms:.1} ms"));
        println!(
            "{:<12} {:<8} {:<9} rtt {:<9} {}",
            quoted(row.peer),
            row.channel.kind.name(),
            row.channel.state.name(),
            rtt,
            row.channel
                .target
                .as_deref()
                .map_or_else(|| "-".to_owned(), text),
        );
    }
    Ok(())
}

/// `courier export`.
pub fn exported(exported: &Exported, out: &Path) {
    println!(
        "wrote {} envelope(s){} for {} to {} ({} bytes)",
        exported.envelopes,
        if exported.receipt {
            " and a receipt"
        } else {
            ""
        },
        quoted(&exported.peer),
        text(&out.display().to_string()),
        exported.bytes,
    );
    if exported.left_out > 0 {
        println!(
            "{} envelope(s) did not fit; export again once this bundle is receipted",
            exported.left_out
        );
    }
}

/// `courier import`.
pub fn imported(imported: &Imported) {
    println!(
        "from {}: {} new envelope(s), {} already held, {} receipt(s), {} refused{}",
        quoted(&imported.peer),
        imported.envelopes_new,
        imported.duplicates,
        imported.receipts,
        imported.rejected_total.max(imported.rejected.len() as u64),
        if imported.salvaged {
            " (bundle signature failed; frames verified one by one)"
        } else {
            ""
        }
    );
    for reason in &imported.rejected {
        println!("  refused {}", text(reason));
    }
    let untold = (imported.rejected_total).saturating_sub(imported.rejected.len() as u64);
    if untold > 0 {
        println!("  and {untold} more refused");
    }
    if imported.refused_for_now > 0 {
        println!(
            "  {} of them refused for now (over the peer's intake allowance, or written by a clock ahead of this one): import the same bundle again later to take them",
            imported.refused_for_now
        );
    }
}

/// One event of `watch`.
pub fn event(event: &Event, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        println!("{}", serde_json::to_string(event)?);
        return Ok(());
    }
    let line = match event {
        Event::MessageStored {
            peer,
            seq,
            precedence,
            at_ms,
            ..
        } => format!(
            "{} message #{seq} from {} stored ({})",
            time(*at_ms),
            quoted(peer),
            precedence.name().to_uppercase()
        ),
        Event::Delivered { peer, upto } => {
            format!("delivered from {} up to #{upto}", quoted(peer))
        }
        Event::Receipted { peer, upto, newly } => {
            format!("{} receipted up to #{upto} ({newly} newly)", quoted(peer))
        }
        Event::ChannelState {
            peer,
            kind,
            from,
            to,
            reason,
            at_ms,
            ..
        } => format!(
            "{} {} channel to {}: {} -> {} ({})",
            time(*at_ms),
            kind.name(),
            quoted(peer),
            from.name(),
            to.name(),
            text(reason)
        ),
        Event::Alarm { change, alarm } => {
            format!("ALARM {}: {}", change.name(), alarm_line(alarm))
        }
        Event::DeadlineWarning {
            peer,
            id,
            objective,
            own,
            due_ms,
        } => format!(
            "half the time for the {} of {} ({}) has passed; due {}",
            objective.name(),
            &id.to_string()[..16],
            if *own {
                format!("sent to {}", quoted(peer))
            } else {
                format!("from {}", quoted(peer))
            },
            time(*due_ms)
        ),
        Event::Answered {
            peer,
            of,
            understood,
            operator,
            by_us,
            at_ms,
        } => format!(
            "{} {} {} {} ({})",
            time(*at_ms),
            if *by_us { "this station" } else { "the peer" },
            if *understood {
                "understood"
            } else {
                "asked about"
            },
            &of.to_string()[..16],
            if operator.is_empty() {
                format!("the station, link with {}", quoted(peer))
            } else {
                format!("{}, link with {}", quoted(operator), quoted(peer))
            }
        ),
        Event::Lagged { missed } => {
            format!("({missed} events missed; `parley status` shows the state)")
        }
    };
    println!("{line}");
    Ok(())
}

/// A deadline: `HH:MM:SSZ` when it falls on the UTC day of `from_ms` (when the message came
/// or was written, which its line shows by the time alone), else with its date as RFC 3339,
/// so a deadline a day or more ahead never reads as one already past. Also any other time
/// shown against a reference (an epoch key's against now).
pub(crate) fn due(due_ms: u64, from_ms: u64) -> String {
    const DAY_MS: u64 = 24 * 3_600 * 1_000;
    if due_ms / DAY_MS == from_ms / DAY_MS {
        time(due_ms)
    } else {
        instant(due_ms)
    }
}

/// A UTC time as RFC 3339 to the second (`2026-12-01T09:00:00Z`).
pub(crate) fn instant(ms: u64) -> String {
    let seconds = i64::try_from(ms / 1000).unwrap_or(i64::MAX);
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|at| {
            at.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("{ms} ms"))
}

#[cfg(test)]
mod tests;
