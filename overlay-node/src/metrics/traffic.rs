//! [`Traffic`]: messages and bytes read and written, per message type.

use overlay_proto::xdr::MessageType;

/// Slots: message type codes go up to 24 today; later codes share the last slot.
const SLOTS: usize = 32;

/// Messages and bytes (frame headers included) read and written, per message type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Traffic {
    read: [(u64, u64); SLOTS],
    written: [(u64, u64); SLOTS],
}

impl Default for Traffic {
    fn default() -> Self {
        Traffic { read: [(0, 0); SLOTS], written: [(0, 0); SLOTS] }
    }
}

fn slot(code: i32) -> usize {
    usize::try_from(code).unwrap_or(SLOTS - 1).min(SLOTS - 1)
}

impl Traffic {
    /// A message of type `code` (the XDR `MessageType` value) and `bytes` read.
    pub fn note_read(&mut self, code: i32, bytes: usize) {
        let s = &mut self.read[slot(code)];
        s.0 += 1;
        s.1 += bytes as u64;
    }

    /// A message of type `code` and `bytes` written.
    pub fn note_written(&mut self, code: i32, bytes: usize) {
        let s = &mut self.written[slot(code)];
        s.0 += 1;
        s.1 += bytes as u64;
    }

    /// Add another's counts.
    pub fn add(&mut self, other: &Traffic) {
        for (a, b) in self.read.iter_mut().zip(other.read).chain(self.written.iter_mut().zip(other.written)) {
            a.0 += b.0;
            a.1 += b.1;
        }
    }

    /// (type, messages, bytes) read, for every type seen.
    pub fn read(&self) -> Vec<(MessageType, u64, u64)> {
        by_type(&self.read)
    }

    /// (type, messages, bytes) written, for every type seen.
    pub fn written(&self) -> Vec<(MessageType, u64, u64)> {
        by_type(&self.written)
    }

    /// Messages of type `t` read.
    pub fn read_of(&self, t: MessageType) -> u64 {
        self.read[slot(t as i32)].0
    }
}

fn by_type(slots: &[(u64, u64); SLOTS]) -> Vec<(MessageType, u64, u64)> {
    MessageType::VARIANTS
        .iter()
        .filter_map(|t| {
            let (m, b) = slots[slot(*t as i32)];
            (m > 0).then_some((*t, m, b))
        })
        .collect()
}
