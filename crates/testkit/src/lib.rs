//! Real stations and relays as child `parley` processes in temporary homes, driven through the
//! CLI exactly as an operator would, and a UDP forwarder that cuts a path without touching
//! either end. The integration tests, `parley demo` and `parley bench` use it; no product
//! code does.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod go;
pub mod harness;
pub mod proxy;
