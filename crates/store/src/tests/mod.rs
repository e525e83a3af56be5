//! Tests of the store, one data-driven `check` helper per area.

mod alarms;
mod channels;
mod checkpoints;
mod console;
mod corrupt;
mod fixture;
mod open;
mod pairing;
mod writes;
