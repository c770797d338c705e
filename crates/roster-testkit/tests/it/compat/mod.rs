//! The vendor dialects under `/compat/<vendor>`, each over real HTTP like every other surface.

mod mattr;
mod transmit;
mod ubisecure;
mod upvest;
mod zitadel;
