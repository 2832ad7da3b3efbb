//! Signals when the `signals` feature is off: a type with no values, so
//! the reactor's `Option<Signals>` is always `None` and the loop's call
//! below is dead code; `Reactor::on_signal` does not exist.

use crate::Context;

pub(crate) enum Signals {}

impl Signals {
    pub(crate) fn dispatch(&mut self, _: &mut Context) {
        match *self {}
    }
}
