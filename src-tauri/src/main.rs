// Hide the console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    // First: it sets an environment variable, before any thread exists.
    latchkey_app::rendering::paint_without_compositing();
    latchkey_app::ensure_utf8_args();
    latchkey_app::run()
}
