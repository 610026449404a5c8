//! Numbered frames for the split-stream echo tests: every byte says which connection and
//! which frame it belongs to, so a lost, doubled or reordered byte fails a comparison.

use ciranda::io::{AsyncWrite, AsyncWriteExt};

/// An odd frame size, so frames straddle the kernel's segment and buffer boundaries.
pub const FRAME: usize = 61;

/// Frame `i` of connection `c`.
pub fn frame(c: usize, i: usize) -> [u8; FRAME] {
    let mut f = [0u8; FRAME];
    for (k, b) in f.iter_mut().enumerate() {
        *b = (c.wrapping_mul(31) ^ i.wrapping_mul(7) ^ k) as u8;
    }
    f
}

/// Writes `frames` frames of connection `c` in bursts of 64 (a yield between bursts), then
/// shuts the write side down.
pub async fn write_frames(mut writer: impl AsyncWrite + Unpin, c: usize, frames: usize) {
    for i in 0..frames {
        writer.write_all(&frame(c, i)).await.unwrap();
        if i % 64 == 63 {
            ciranda::task::yield_now().await;
        }
    }
    writer.close().await.unwrap();
}
