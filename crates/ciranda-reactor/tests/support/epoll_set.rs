//! Which descriptors this process has in an epoll set, read from `/proc`: for the tests of
//! when a socket enters the poller.

/// The descriptor numbers in this process's epoll sets (the `tfd:` lines of each epoll
/// descriptor's `/proc/self/fdinfo` entry).
pub fn in_an_epoll_set() -> Vec<i32> {
    let mut fds = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fdinfo").unwrap().flatten() {
        // A descriptor closed since the listing has no entry any more.
        let Ok(info) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        for line in info.lines() {
            if let Some(rest) = line.strip_prefix("tfd:") {
                fds.push(rest.split_whitespace().next().unwrap().parse().unwrap());
            }
        }
    }
    fds
}
