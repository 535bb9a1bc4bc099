//! Signet's domain model: pure types, no I/O.
//!
//! Untrusted input is parsed into these types at the edge (HTTP, CLI, store);
//! past the edge a value of one of these types is valid ("parse, don't validate").
//!
//! | concept      | type                       |
//! |--------------|----------------------------|
//! | Subject      | [`subject::Subject`]       |
//! | Profile      | [`profile::Profile`]       |
//! | Request      | [`request::Request`]       |
//! | Grant        | [`request::Grant`]         |
//! | Credential   | [`credential::Credential`] |
//! | Event        | [`event::Event`]           |
//! | Operator     | [`operator::Operator`]     |

pub mod credential;
pub mod duration;
pub mod error;
pub mod event;
pub mod ids;
pub mod names;
pub mod operator;
pub mod profile;
pub mod request;
pub mod subject;

pub use error::FieldError;
pub use time::OffsetDateTime;
