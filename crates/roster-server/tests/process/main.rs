//! The `roster` binary as an operator runs it, under the faults a deployment meets: killed at any
//! instant, stopped under load, its database gone. Each test starts real processes on
//! 127.0.0.1:0 over a fresh SQLite file or PostgreSQL schema (as the rest of the suite), drives
//! them over HTTP, and checks what they kept. Loops are bounded in count and time.

mod background;
mod crash;
mod faults;
mod node;
mod nodes;
mod overload;
mod proxy;
mod shutdown;
