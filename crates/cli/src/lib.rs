//! Support shared by the `parley` binary's demo and the integration tests: real `parley`
//! processes in temporary homes, driven through the CLI exactly as an operator would.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod harness;
pub mod proxy;
