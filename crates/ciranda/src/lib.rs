//! ciranda
