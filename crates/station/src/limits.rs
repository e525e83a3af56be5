//! Every bound the station keeps above the protocol, each a named constant with its unit last.
//! The protocol's own bounds are in `parley_proto::limits`.

/// Most reports (frames, health, batches) waiting for the driver; a transport waits for room,
/// except the direct channel's unasked frames, which are dropped and counted.
pub const DRIVER_REPORTS_QUEUE_MAX: usize = 8_192;
/// Most bytes of unasked frames (the direct channel) waiting for the driver, in bytes.
pub const DRIVER_FRAME_BYTES_QUEUE_MAX: usize = 32 * 1024 * 1024;
/// Most operator requests waiting for the driver; the API server waits for room.
pub const DRIVER_REQUESTS_QUEUE_MAX: usize = 1_024;
/// Most inputs the driver takes into one commit.
pub const DRIVER_BATCH_INPUTS_MAX: usize = 4_096;
/// Longest the driver sleeps without looking at its timers, in milliseconds.
pub const DRIVER_IDLE_MS_MAX: u64 = 1_000;
/// At most one warning per this interval that the system clock and the station's differ.
pub const CLOCK_WALL_LOG_INTERVAL_MS: u64 = 60 * 60 * 1_000;
/// Longest the record of a frame's first transmission on a kind of channel waits for a commit
/// to go with, in milliseconds: it goes with the next commit, or on its own this long after the
/// first record waiting (the core's `Pending`).
pub const TRANSMISSION_RECORD_WAIT_MS: u64 = 1_000;
/// Most frames queued for one peer's direct connection; a full queue drops the frame (counted
/// as `queue_full`; the protocol resends it).
pub const DIRECT_SEND_QUEUE_FRAMES_MAX: usize = 8_192;
/// Most frames queued for one relay's deposits.
pub const RELAY_SEND_QUEUE_FRAMES_MAX: usize = 65_536;
/// Most operator API connections served at once; one more is answered with an error and
/// closed.
pub const API_CLIENTS_MAX: usize = 64;
/// How long the API server waits after a failed accept (out of descriptors) before it tries
/// again, in milliseconds.
pub const API_ACCEPT_RETRY_MS: u64 = 100;
/// Longest request or response line on the operator API, in bytes.
pub const API_LINE_SIZE_MAX_BYTES: usize = 1024 * 1024;
/// Most reasons a courier import's answer gives for the frames it refused; the rest are
/// counted. A reason takes a few hundred bytes at most: these stay far within an API line.
pub const IMPORT_REASONS_MAX: usize = 64;
/// Longest the CLI waits for the daemon's answer, in milliseconds.
pub const API_TIMEOUT_MS: u64 = 30_000;
/// Longest the daemon waits for an API client to take an answer, in milliseconds; then it
/// closes the connection.
pub const API_ANSWER_WRITE_MS_MAX: u64 = 10_000;
/// At most one warning per this interval of API requests with a wrong token, in
/// milliseconds (the others counted in the next).
pub const WRONG_TOKEN_LOG_INTERVAL_MS: u64 = 60_000;
/// Longest the API server waits for a connection's next request line, in milliseconds; then
/// it closes the connection, so connections that send nothing cannot hold every place of
/// [`API_CLIENTS_MAX`] and lock the operators out.
pub const API_REQUEST_WAIT_MS_MAX: u64 = 5_000;
/// Most events buffered for each subscriber; one that falls further behind is told how many
/// it missed.
pub const EVENTS_QUEUE_MAX: usize = 4_096;
/// Threads that run the alarm hook: at most this many runs at once, one alarm's changes
/// always on the same thread, in order.
pub const HOOK_WORKERS: usize = 8;
/// Most hook runs waiting for one worker; a change beyond it runs no hook (logged).
pub const HOOK_QUEUE_MAX: usize = 256;
/// Most hook runs the alarms of one peer may have queued or running at once; its further
/// changes wait until one ends. A peer that sets off alarms by the thousand then delays
/// another peer's by this many runs at most, and by about two when its alarms spread over
/// the workers.
pub const HOOK_RUNS_PER_PEER_MAX: usize = 2 * HOOK_WORKERS;
/// Most changes of one peer's alarms waiting for a hook run (one per alarm: a later change
/// replaces an earlier one waiting); past it the oldest waiting runs no hook (logged, and
/// counted in the next run's `PARLEY_ALARM_HELD_BACK`).
pub const HOOK_WAITING_PER_PEER_MAX: usize = 1_024;
/// Longest an alarm hook may run before it is killed, in milliseconds.
pub const HOOK_RUN_MS_MAX: u64 = 30_000;
/// How long after a failed run of the hook it runs again the first time, in milliseconds;
/// each later wait is twice the one before, up to [`HOOK_RETRY_MS_MAX`].
pub const HOOK_RETRY_MS_MIN: u64 = 5_000;
/// Longest wait between two runs of the hook for one change while it fails, in milliseconds:
/// a hook that stays broken is tried again every 5 minutes for as long as the change is the
/// alarm's latest and the daemon runs (a pager restored pages each alarm's latest state).
pub const HOOK_RETRY_MS_MAX: u64 = 300_000;
/// Most failed hook runs waiting to be tried again, over all alarms; one more is not tried
/// again until the next start (logged), so a hook that stays broken holds bounded memory.
pub const HOOK_RETRIES_MAX: usize = 1_024;
/// Most hook runs reported done and waiting for the driver to record them; one more is not
/// recorded (logged), and its change runs again at the next start.
pub const HOOK_REPORTS_MAX: usize = 4_096;
/// Most alarm changes whose hook did not run (made while no daemon ran, or before a crash)
/// that run when the daemon starts, the newest first; older ones run none (logged).
pub const HOOK_RESUMED_MAX: usize = 256;
/// Most recent alarms listed in status.
pub const STATUS_ALARMS_MAX: usize = 20;
/// Longest `parley run` waits for the station lock held by a CLI command, in milliseconds.
pub const LOCK_WAIT_MS_MAX: u64 = 3_000;
/// Shortest operator password, in bytes (of UTF-8).
pub const PASSWORD_SIZE_MIN_BYTES: usize = 12;
/// Longest operator password, in bytes (of UTF-8).
pub const PASSWORD_SIZE_MAX_BYTES: usize = 1024;

/// Most bytes of `parley.toml` read. The file is read as the courier's files are (a regular
/// file, no link followed, never blocking on a FIFO), so a planted device or FIFO cannot hang
/// or exhaust a command.
pub const CONFIG_SIZE_MAX_BYTES: usize = 1024 * 1024;
/// Most new entries the checkpoint cadence may wait for (`checkpoints.every_entries`).
pub const CHECKPOINT_EVERY_ENTRIES_MAX: u64 = 1_000_000;
/// Longest the checkpoint cadence may wait, in seconds (`checkpoints.every_s`): 30 days.
pub const CHECKPOINT_EVERY_S_MAX: u64 = 30 * 24 * 3_600;
/// Longest a checkpoint the entry cadence asked for waits for a turn of the core that writes
/// nothing else before it is written with other writes, in ms: under a stream of messages
/// that never pauses, the cadence becomes one checkpoint about this often.
pub const CHECKPOINT_WAIT_MS_MAX: u64 = 1_000;
/// Longest a configuration may keep an epoch key current before the next
/// (`keys.epoch_rotate_days`), in days: ten years.
pub const EPOCH_ROTATE_DAYS_MAX: u64 = 3_650;
/// Shortest a configuration may retain a superseded epoch key (`keys.epoch_retain_days`), in
/// days: a courier's disk takes days to travel.
pub const EPOCH_RETAIN_DAYS_MIN: u64 = 1;
/// Longest a configuration may retain a superseded epoch key, in days: ten years.
pub const EPOCH_RETAIN_DAYS_MAX: u64 = 3_650;
/// How long after the last entry of a peer refused for its allowance its `over_intake` alarm
/// may clear, in milliseconds: longer than the longest a sender waits to send an entry again
/// on a relay (`RELAY_RETRANSMIT_MS_MAX`) or a direct channel, so a peer still held at the
/// limit keeps one alarm open rather than one raised and cleared at each resend.
pub const INTAKE_ALARM_QUIET_MS: u64 = parley_proto::limits::RELAY_RETRANSMIT_MS_MAX;
/// Largest burst a configuration may give each peer's intake (`intake.burst_mib`), in MiB:
/// a TiB, more than any disk a station is likely to have.
pub const INTAKE_BURST_MIB_MAX: u64 = 1024 * 1024;
/// Fastest a configuration may let each peer's intake grow (`intake.per_day_mib`), in MiB a
/// day: a TiB.
pub const INTAKE_PER_DAY_MIB_MAX: u64 = 1024 * 1024;
/// While a superseded epoch key is past its retention but still held for a peer that has not
/// written since it read the new key, how often the station looks again (besides each
/// delivery from a peer), in milliseconds.
pub const KEY_RECHECK_MS: u64 = 60 * 60 * 1_000;
/// While a superseded epoch key is held for a peer, a delivery from a peer makes the station
/// look again, at most this often, in milliseconds (a look walks back through the own log).
pub const KEY_DELIVERY_RECHECK_MS: u64 = 10_000;
/// How long after a witness could not be reached, or refused a checkpoint, it is sent the
/// latest one again, in milliseconds.
pub const WITNESS_RETRY_MS: u64 = 60_000;
/// Most `409 Conflict` answers in a row a station follows for one checkpoint (each names the
/// size the witness holds, and the checkpoint goes again from it); past it, it waits
/// [`WITNESS_RETRY_MS`].
pub const WITNESS_CONFLICTS_MAX: u32 = 3;

/// Most stock witnesses a station may be configured with (`[[witnesses]]`): each checkpoint
/// goes to every one.
pub const STOCK_WITNESSES_MAX: usize = 16;
