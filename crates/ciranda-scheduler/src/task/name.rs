//! A task's name: one pointer wide, shared by the header, `JoinError`s and `TaskInfo`s.
//!
//! Every task header carries an `Option<TaskName>`; most tasks have no name, so the field
//! should cost as little as possible. `Arc<str>` is two words; an `Arc` of a boxed `str` is
//! one, at the price of a second indirection when a name is read — which only happens for
//! diagnostics (errors, task listings, slow-poll reports).

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

#[derive(Clone, PartialEq, Eq)]
pub(crate) struct TaskName(Arc<Box<str>>);

impl From<&str> for TaskName {
    fn from(name: &str) -> TaskName {
        TaskName(Arc::new(Box::from(name)))
    }
}

impl Deref for TaskName {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TaskName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl fmt::Display for TaskName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::TaskName;

    #[test]
    fn one_pointer_wide_and_reads_like_a_str() {
        assert_eq!(size_of::<Option<TaskName>>(), size_of::<usize>());
        let name = TaskName::from("fetch");
        assert_eq!(&*name, "fetch");
        assert_eq!(format!("{name:?} {name}"), "\"fetch\" fetch");
        assert_eq!(Some(name.clone()).as_deref(), Some("fetch"));
    }
}
