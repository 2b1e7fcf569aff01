#[tauri::command]
fn greet(name: &str) -> String {
    format!("Hello, {name}! You've been greeted from Rust!")
}

fn main() {
    let builder = tauri::Builder::default();
    #[cfg(feature = "required-plugins")]
    let builder = required::plugins(builder);
    let app = builder
        .plugin(tauri_plugin_opener::init())
        .invoke_handler(tauri::generate_handler![greet])
        .run(tauri::generate_context!());
    if let Err(e) = app {
        eprintln!("hello-tauri: {e}");
        std::process::exit(1);
    }
}

/// Every plugin Latchkey has and its tray, registered the way Latchkey
/// registers them (single-instance first), each used once: a confirmation
/// dialog and a notification with buttons from the tray menu, the login
/// entry checked at start.
#[cfg(feature = "required-plugins")]
mod required {
    use tauri::menu::{Menu, MenuItem};
    use tauri::tray::TrayIconBuilder;
    use tauri::{Manager, Wry};
    use tauri_plugin_deep_link::DeepLinkExt;

    pub fn plugins(builder: tauri::Builder<Wry>) -> tauri::Builder<Wry> {
        builder
            .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
                if let Some(w) = app.get_webview_window("main") {
                    let _ = w.set_focus();
                }
            }))
            .plugin(tauri_plugin_deep_link::init())
            .plugin(tauri_plugin_notification::init())
            .plugin(tauri_plugin_clipboard_manager::init())
            .plugin(tauri_plugin_log::Builder::new().build())
            .plugin(tauri_plugin_dialog::init())
            .plugin(tauri_plugin_autostart::Builder::new().arg("--hidden").build())
            .setup(|app| {
                use tauri_plugin_autostart::ManagerExt;
                let _ = app.autolaunch().is_enabled();
                let _ = app.deep_link().register_all();
                app.deep_link().on_open_url(|e| eprintln!("{} url(s)", e.urls().len()));
                let ask = MenuItem::with_id(app, "ask", "Ask", true, None::<&str>)?;
                let quit = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
                let menu = Menu::with_items(app, &[&ask, &quit])?;
                let mut tray = TrayIconBuilder::new()
                    .menu(&menu)
                    .on_menu_event(|app, e| {
                        if e.id() == "quit" {
                            return app.exit(0);
                        }
                        use tauri_plugin_dialog::DialogExt;
                        app.dialog().message("Sure?").show(|yes| {
                            std::thread::spawn(move || {
                                let mut n = notify_rust::Notification::new();
                                n.summary("Hello").body(if yes { "yes" } else { "no" });
                                n.action("default", "Open");
                                if let Ok(h) = n.show() {
                                    h.wait_for_action(|id| eprintln!("{id}"));
                                }
                            });
                        });
                    });
                if let Some(icon) = app.default_window_icon() {
                    tray = tray.icon(icon.clone());
                }
                tray.build(app)?;
                Ok(())
            })
    }
}
