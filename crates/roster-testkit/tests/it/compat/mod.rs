//! The vendor dialects under `/compat/<vendor>`, each over real HTTP like every other surface.

mod mattr;
mod transmit;
mod upvest;
mod zitadel;
