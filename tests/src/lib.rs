//! ciranda workspace integration tests
