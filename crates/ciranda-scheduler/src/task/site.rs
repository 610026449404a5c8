//! Where a task was spawned and, for the few tasks that have one, its name: one word.
//!
//! Every task header carries both; most tasks have no name, so the pair is a tagged pointer:
//! the spawn location itself (a `&'static Location`), or, with the low bit set, a box holding
//! the location and the name. The box is paid only by named tasks (see the memory bench: the
//! word saved keeps a small task in the allocator's 96-byte class).

use super::TaskName;
use std::panic::Location;
use std::ptr::NonNull;

/// The low bit of the pointer: set when it points at a [`Named`] box.
const NAMED: usize = 1;

struct Named {
    location: &'static Location<'static>,
    name: TaskName,
}

// Both pointees are at least word-aligned, so the tag bit is free in either.
const _: () = assert!(align_of::<Location<'static>>() > NAMED && align_of::<Named>() > NAMED);

/// A task's spawn location and optional name (see the module docs).
pub(crate) struct Site(NonNull<()>);

// SAFETY: `Site` owns either a shared `&'static Location` or a `Box<Named>`, both `Send` and
// `Sync`; it never hands out mutable access.
unsafe impl Send for Site {}
// SAFETY: as above.
unsafe impl Sync for Site {}

impl Site {
    pub(crate) fn new(location: &'static Location<'static>, name: Option<TaskName>) -> Site {
        match name {
            None => Site(NonNull::from(location).cast()),
            Some(name) => {
                let named = NonNull::from(Box::leak(Box::new(Named { location, name })));
                Site(named.cast::<()>().map_addr(|addr| addr | NAMED))
            }
        }
    }

    /// The box's pointer, with the provenance `Box::leak` gave it (so `drop` may free
    /// through it, which a pointer made from a `&Named` may not).
    fn named_ptr(&self) -> Option<NonNull<Named>> {
        if self.0.addr().get() & NAMED == 0 {
            return None;
        }
        let ptr = self.0.map_addr(|addr| {
            // The tag bit is set, so clearing it leaves the (non-null) box address.
            std::num::NonZeroUsize::new(addr.get() & !NAMED).expect("a box address is non-null")
        });
        Some(ptr.cast::<Named>())
    }

    fn named(&self) -> Option<&Named> {
        // SAFETY: a tagged pointer comes from `Box::leak` in `new`, and the box lives until
        // `drop`; `&self` keeps it alive for the returned borrow.
        self.named_ptr().map(|ptr| unsafe { ptr.as_ref() })
    }

    pub(crate) fn location(&self) -> &'static Location<'static> {
        match self.named() {
            Some(named) => named.location,
            // SAFETY: an untagged pointer is the `&'static Location` given to `new`.
            None => unsafe { self.0.cast::<Location<'static>>().as_ref() },
        }
    }

    pub(crate) fn name(&self) -> Option<&TaskName> {
        self.named().map(|named| &named.name)
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        if let Some(ptr) = self.named_ptr() {
            // SAFETY: the box was leaked in `new` and is freed only here, once, through the
            // pointer `Box::leak` returned.
            drop(unsafe { Box::from_raw(ptr.as_ptr()) });
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn one_word_holding_a_location_and_maybe_a_name() {
        assert_eq!(size_of::<Site>(), size_of::<usize>());
        let here = Location::caller();
        let plain = Site::new(here, None);
        assert_eq!(plain.location(), here);
        assert!(plain.name().is_none());
        let named = Site::new(here, Some(TaskName::from("fetch")));
        assert_eq!(named.location(), here);
        assert_eq!(named.name().map(|n| &**n), Some("fetch"));
        let shared = named.name().cloned().unwrap();
        drop(named);
        // The name outlives the site that held it (a `JoinError` or `TaskInfo` keeps it).
        assert_eq!(&*shared, "fetch");
    }
}
