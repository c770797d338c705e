//! Vendor dialects: each platform's Users API as a thin translation over the directory, mounted
//! under `/compat/<vendor>`. A dialect holds wire types, the mapping to and from the core, its
//! error shape and its routes — no SQL and no business rule (see ARCHITECTURE.md, "How to add a
//! dialect").

pub(crate) mod mattr;
pub(crate) mod transmit;
pub(crate) mod ubisecure;
pub(crate) mod upvest;
pub(crate) mod zitadel;
