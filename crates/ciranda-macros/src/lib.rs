//! ciranda-macros
