//! The vendor dialects under `/compat/<vendor>`, each over real HTTP like every other surface.

mod upvest;
mod zitadel;
