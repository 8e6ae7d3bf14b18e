//! Android only: what must know the app's JNI context before first use.
//! - rustls-platform-verifier (reqwest's certificate checks through Android's own trust store)
//!   panics at the first HTTPS request with "Expect rustls-platform-verifier to be
//!   initialized" unless it was given the JVM and a Context.
//! - android-native-keyring-store (the identity key) reads the context from the `ndk-context`
//!   crate, which tao fills in its `onCreate`, before the activity's webview exists.
//!
//! Both are ready once the main activity exists, so the setup hook asks the main webview to run
//! [`init_verifier`] on the activity's thread (Tauri's public JNI door:
//! `PlatformWebview::jni_handle().exec`, which hands over the JNI env and the activity) and
//! holds back whatever may reach the network or the keystore before the UI does (resuming
//! unfinished claims at start and on `Resumed`, which Android also sends at start) until that
//! has run ([`ready`]).

use std::sync::OnceLock;
use std::time::Duration;
use tauri::{Manager, Runtime};
use tokio::sync::watch;

/// Whether the verifier was initialised (or could not be: then waiting longer will not help).
fn gate() -> &'static watch::Sender<bool> {
    static GATE: OnceLock<watch::Sender<bool>> = OnceLock::new();
    GATE.get_or_init(|| watch::channel(false).0)
}

/// Waits until [`init`] has run on the activity's thread, at most 30 s (then goes on with a
/// warning: plain HTTP still works, and a stuck start must not keep every claim waiting).
pub async fn ready() {
    let mut done = gate().subscribe();
    if tokio::time::timeout(Duration::from_secs(30), done.wait_for(|d| *d))
        .await
        .is_err()
    {
        tracing::warn!("the Android context was not ready after 30 s; going on without it");
    }
}

/// Asks the activity's thread to initialise the verifier; [`ready`] returns once it has.
pub fn init<R: Runtime>(app: &tauri::AppHandle<R>) {
    let window = app
        .get_webview_window("main")
        .or_else(|| app.webview_windows().into_values().next());
    let Some(window) = window else {
        tracing::error!("no webview window to reach the Android context through");
        gate().send_replace(true);
        return;
    };
    let asked = window.with_webview(move |webview| {
        webview.jni_handle().exec(move |env, activity, _webview| {
            // Tauri's JNI types come from another version of the `jni` crate than the
            // verifier's: the raw pointers are the common ground.
            let result = match env.get_java_vm() {
                Ok(vm) => init_verifier(vm.get_java_vm_pointer().cast(), activity.as_raw().cast()),
                Err(e) => Err(e.to_string()),
            };
            match result {
                Ok(()) => tracing::info!("Android context handed to the certificate verifier"),
                Err(e) => tracing::error!(error = %e, "cannot initialise the certificate verifier: HTTPS will fail"),
            }
            gate().send_replace(true);
        });
    });
    if let Err(e) = asked {
        tracing::error!(error = %e, "cannot reach the Android context");
        gate().send_replace(true);
    }
}

/// Gives rustls-platform-verifier the JVM and the application Context (not the activity,
/// which may be destroyed and recreated). Idempotent: the verifier keeps the first.
fn init_verifier(vm: *mut jni::sys::JavaVM, activity: jni::sys::jobject) -> Result<(), String> {
    use jni::objects::JObject;
    use jni::{jni_sig, jni_str};
    // SAFETY: the pointer comes from the JNI env of the thread this runs on, so it is the
    // process's live JavaVM.
    let vm = unsafe { jni::JavaVM::from_raw(vm) };
    vm.attach_current_thread(|env| -> Result<(), jni::errors::Error> {
        // SAFETY: a local reference of this thread's current JNI frame (the activity handed to
        // the `exec` closure), alive until that closure returns, which is after this call.
        let activity = unsafe { JObject::from_raw(env, activity) };
        let context = env
            .call_method(
                &activity,
                jni_str!("getApplicationContext"),
                jni_sig!("()Landroid/content/Context;"),
                &[],
            )?
            .l()?;
        rustls_platform_verifier::android::init_with_env(env, context)
    })
    .map_err(|e| e.to_string())
}
