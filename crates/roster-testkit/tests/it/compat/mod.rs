//! The vendor dialects under `/compat/<vendor>`, each over real HTTP like every other surface.

mod transmit;
mod upvest;
mod zitadel;
