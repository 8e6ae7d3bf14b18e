//! Desktop entry point: everything lives in the library so Android and iOS share it.

// No console window next to the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    lineup_app_lib::run();
}
