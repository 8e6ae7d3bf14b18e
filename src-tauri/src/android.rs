//! Android only: what must know the app's JNI context before first use.
//! - rustls-platform-verifier (reqwest's certificate checks through Android's own trust store)
//!   panics at the first HTTPS request with "Expect rustls-platform-verifier to be
//!   initialized" unless it was given the JVM and a Context.
//! - android-native-keyring-store (the identity key) reads the context from the `ndk-context`
//!   crate, which tao fills in its `onCreate` before the activity's webview exists.
//!
//! Both are ready once the main activity exists, so the setup hook asks the main webview to run
//! [`init_on_ui_thread`] on the activity's thread (Tauri's public JNI door:
//! `PlatformWebview::jni_handle().exec`) and holds back whatever may reach the network or the
//! keystore before the UI does (resuming unfinished claims) until that has run.

use tauri::{Manager, Runtime};
use tokio::sync::oneshot;

/// Asks the activity's thread to initialise the verifier; the receiver hears when it is done
/// (or is dropped when it could not be asked).
pub fn init<R: Runtime>(app: &tauri::AppHandle<R>) -> oneshot::Receiver<()> {
    let (tx, rx) = oneshot::channel();
    let Some(window) = app.webview_windows().into_values().next() else {
        tracing::error!("no webview window to reach the Android context through");
        return rx;
    };
    let asked = window.with_webview(move |webview| {
        webview.jni_handle().exec(move |_env, _activity, _webview| {
            match init_on_ui_thread() {
                Ok(()) => tracing::info!("Android context handed to the certificate verifier"),
                Err(e) => tracing::error!(error = %e, "cannot initialise the certificate verifier: HTTPS will fail"),
            }
            let _ = tx.send(());
        });
    });
    if let Err(e) = asked {
        tracing::error!(error = %e, "cannot reach the Android context");
    }
    rx
}

/// Gives rustls-platform-verifier the JVM and the application Context that tao recorded in
/// `ndk-context` (its jni version differs from Tauri's, so the raw pointers are the common
/// ground). Runs on a thread the JVM knows (the activity's); idempotent.
fn init_on_ui_thread() -> Result<(), jni::errors::Error> {
    let ctx = ndk_context::android_context();
    // SAFETY: tao's onCreate stored a valid JavaVM pointer and a global reference to the
    // application Context in ndk-context; both live as long as the process.
    let vm = unsafe { jni::JavaVM::from_raw(ctx.vm().cast()) };
    vm.attach_current_thread(|env| -> Result<(), jni::errors::Error> {
        // SAFETY: a global reference (see above), valid on any attached thread.
        let context = unsafe { jni::objects::JObject::from_raw(env, ctx.context().cast()) };
        rustls_platform_verifier::android::init_with_env(env, context)
    })
}
