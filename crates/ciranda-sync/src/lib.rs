//! ciranda-sync
