//! `--output json`: one JSON object per event, per line.

use super::{Event, Reporter};
use std::io::Write;
use std::sync::Mutex;

pub struct JsonLines<W: Write + Send>(pub Mutex<W>);

impl<W: Write + Send> Reporter for JsonLines<W> {
    fn event(&self, e: &Event) {
        let mut w = self.0.lock().expect("reporter lock");
        let _ = serde_json::to_writer(&mut *w, e);
        let _ = w.write_all(b"\n");
        let _ = w.flush();
    }
}
