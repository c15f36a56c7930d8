//! Flows: reading a flow file ([`load`], [`Loader`]) and compiling it into a [`Flow`], the
//! typed model the engine runs. Compiling *is* `dmflow check`: whatever it accepts, a run never
//! refuses for a reason that was visible before sending.

pub mod compile;
pub mod load;
pub mod model;
pub mod redact;
pub mod shape;
pub mod step;

pub use load::{Loader, load};
pub use model::{Flow, Input, Step, StepAction, Var};
