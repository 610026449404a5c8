//! ciranda-reactor
