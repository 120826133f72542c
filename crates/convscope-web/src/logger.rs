//! Forward the `log` crate to the browser console: cubecl reports shader errors only there.

struct Console;

impl log::Log for Console {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::Level::Warn
    }

    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            let msg = format!("[{}] {}", r.target(), r.args());
            if r.level() == log::Level::Error {
                web_sys::console::error_1(&msg.into());
            } else {
                web_sys::console::warn_1(&msg.into());
            }
        }
    }

    fn flush(&self) {}
}

static LOGGER: Console = Console;

/// Install the console logger once; later calls do nothing.
pub fn init() {
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Warn);
    }
}
