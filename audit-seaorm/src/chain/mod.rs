//! Tamper evidence: hash chains over the audit rows, [`verify`](verify::verify), signed
//! checkpoints.
//!
//! Writers never wait for the chains: [`seal`](seal::seal) links the rows written since
//! its last run into per-subject chains afterwards, in the manner of a transparency log's
//! sequencer (RFC 6962, Trillian): rows are evidence from the moment they are sealed.

pub(crate) mod anchor;
pub(crate) mod checkpoint;
pub(crate) mod erase;
pub(crate) mod hash;
pub(crate) mod rows;
pub(crate) mod seal;
pub(crate) mod verify;

pub(crate) use anchor::{changed_rows, mark_pruned, reanchor};
pub(crate) use seal::ensure_origin;
