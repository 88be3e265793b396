//! Reading what a script writes: the first bytes up to a cap are kept, the rest is read and
//! thrown away (so a script writing without end never blocks on a full pipe), and reading stops
//! when told to (the script's processes are gone but something still holds the pipe open).

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::watch;

/// What was read from one stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    /// The bytes kept (at most the cap).
    pub bytes: Vec<u8>,
    /// Bytes read beyond the cap and thrown away.
    pub dropped: u64,
}

impl Captured {
    /// The kept bytes as text (invalid UTF-8 replaced), with a note when some were cut.
    pub fn text(&self, name: &str, cap: usize) -> String {
        let mut s = String::from_utf8_lossy(&self.bytes).into_owned();
        if self.dropped > 0 {
            if !s.ends_with('\n') {
                s.push('\n');
            }
            s.push_str(&cut_note(name, self.dropped, cap));
        }
        s
    }
}

/// The note that ends a cut stream.
pub fn cut_note(name: &str, dropped: u64, cap: usize) -> String {
    format!(
        "[hookflow: {name} cut here: {dropped} more bytes were not kept ({name} is capped at {} KiB)]",
        cap / 1024
    )
}

/// Reads `r` to its end, or until `stop` turns true, keeping at most `cap` bytes.
pub async fn read_capped<R: AsyncRead + Unpin>(
    mut r: R,
    cap: usize,
    mut stop: watch::Receiver<bool>,
) -> Captured {
    let mut out = Captured::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = tokio::select! {
            biased;
            n = r.read(&mut buf) => match n {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            },
            _ = stop.wait_for(|s| *s) => break,
        };
        let room = cap.saturating_sub(out.bytes.len());
        let keep = n.min(room);
        out.bytes.extend_from_slice(&buf[..keep]);
        out.dropped += (n - keep) as u64;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keeps_the_cap_and_counts_the_rest() {
        let data = vec![b'x'; 200_000];
        let (_tx, rx) = watch::channel(false);
        let got = read_capped(&data[..], 100_000, rx).await;
        assert_eq!(got.bytes.len(), 100_000);
        assert_eq!(got.dropped, 100_000);
        let text = got.text("stdout", 100 * 1024);
        assert!(text.ends_with("(stdout is capped at 100 KiB)]"), "{text}");
    }

    #[tokio::test]
    async fn stops_when_told() {
        let (mut w, r) = tokio::io::duplex(16);
        let (tx, rx) = watch::channel(false);
        let reader = tokio::spawn(read_capped(r, 10, rx));
        tokio::io::AsyncWriteExt::write_all(&mut w, b"abc")
            .await
            .unwrap();
        tx.send(true).unwrap();
        let got = reader.await.unwrap();
        assert!(got.bytes.len() <= 3);
        drop(w);
    }
}
