//! ciranda-scheduler
