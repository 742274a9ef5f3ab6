//! The process-wide CPython runtime.

use std::ffi::CString;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use interp_sys as sys;

use crate::error::{Error, Result};
use crate::interpreter::Interpreter;
use crate::tstate::{self, Shared, TsPtr, FINALIZED};

/// How the runtime initializes CPython. Ignored when the host process has
/// already initialized Python (then interp attaches to it).
#[derive(Debug, Clone, Default)]
pub struct RuntimeConfig {
    install_signal_handlers: bool,
    home: Option<PathBuf>,
    python_path: Vec<PathBuf>,
    use_environment: bool,
}

impl RuntimeConfig {
    /// The default: CPython's isolated configuration (no environment
    /// variables, no user site directory, no signal handlers), with `home`
    /// set to the prefix of the CPython interp was built against.
    pub fn new() -> Self {
        Self::default()
    }

    /// Let CPython install its signal handlers (SIGINT raises
    /// `KeyboardInterrupt` in the main interpreter). Off by default: a
    /// library should not take the host's signals.
    pub fn install_signal_handlers(mut self, yes: bool) -> Self {
        self.install_signal_handlers = yes;
        self
    }

    /// The Python installation prefix (`PYTHONHOME`). Default: the prefix of
    /// the CPython interp was built against.
    pub fn home(mut self, home: impl Into<PathBuf>) -> Self {
        self.home = Some(home.into());
        self
    }

    /// Adds a directory to `sys.path` of every interpreter (like
    /// `PYTHONPATH`): where the modules of functions called by name live.
    pub fn python_path(mut self, dir: impl Into<PathBuf>) -> Self {
        self.python_path.push(dir.into());
        self
    }

    /// Read `PYTHON*` environment variables (`PYTHONPATH`, ...). Off by
    /// default (isolated configuration).
    pub fn use_environment(mut self, yes: bool) -> Self {
        self.use_environment = yes;
        self
    }
}

/// The CPython runtime of this process.
///
/// Created once, by [`Runtime::init`] or implicitly by the first
/// [`Interpreter::new`]. When interp initializes Python itself it releases
/// the main interpreter's GIL right away, so any thread can create and use
/// interpreters, and [`Runtime::finalize`] finalizes it. When the host has
/// already initialized Python (a C++ program embedding Python, or interp
/// loaded into `python`), interp attaches to that runtime and never
/// finalizes it.
pub struct Runtime {
    owned: bool,
    main: Interpreter,
    live: AtomicUsize,
    finalize_lock: Mutex<()>,
}

static RUNTIME: OnceLock<Result<Runtime>> = OnceLock::new();

impl Runtime {
    /// Initializes the runtime with the default [`RuntimeConfig`], or
    /// returns the one already initialized.
    pub fn init() -> Result<&'static Runtime> {
        Self::init_with(RuntimeConfig::default())
    }

    /// Initializes the runtime with `config`, or returns the one already
    /// initialized (then `config` is ignored).
    ///
    /// # Errors
    /// [`Error::Runtime`] when CPython fails to initialize (for example when
    /// its standard library is not found under `home`) or when the runtime
    /// was finalized before: CPython cannot be initialized twice reliably.
    pub fn init_with(config: RuntimeConfig) -> Result<&'static Runtime> {
        RUNTIME.get_or_init(|| Runtime::start(config)).as_ref().map_err(Clone::clone).and_then(
            |rt| {
                if FINALIZED.load(Ordering::Acquire) {
                    Err(Error::Runtime(
                        "the Python runtime was finalized; it cannot be initialized again in this process"
                            .into(),
                    ))
                } else {
                    Ok(rt)
                }
            },
        )
    }

    /// The runtime, if it was initialized (and not finalized).
    pub fn get() -> Option<&'static Runtime> {
        match RUNTIME.get() {
            Some(Ok(rt)) if !FINALIZED.load(Ordering::Acquire) => Some(rt),
            _ => None,
        }
    }

    fn start(config: RuntimeConfig) -> Result<Runtime> {
        // SAFETY: Py_IsInitialized may be called at any time.
        if unsafe { sys::Py_IsInitialized() } != 0 {
            return Ok(Self::attach_to_host());
        }
        // SAFETY: PyConfig is plain data initialized by
        // PyConfig_InitIsolatedConfig before any other use, and cleared on
        // every path below. Python is not initialized (checked above) and
        // OnceLock guarantees a single initializer.
        unsafe {
            let mut cfg: sys::PyConfig = std::mem::zeroed();
            sys::PyConfig_InitIsolatedConfig(&mut cfg);
            cfg.install_signal_handlers = config.install_signal_handlers as _;
            cfg.use_environment = config.use_environment as _;
            let home = config
                .home
                .clone()
                .unwrap_or_else(|| PathBuf::from(sys::PYTHON_PREFIX));
            let cfgp: *mut sys::PyConfig = &mut cfg;
            let set = |field: *mut *mut libc::wchar_t, value: &str, what: &str| {
                let c = CString::new(value).map_err(|_| {
                    Error::InvalidArgument(format!("{what} contains a NUL byte: {value:?}"))
                })?;
                sys::check_status(sys::PyConfig_SetBytesString(cfgp, field, c.as_ptr()))
                    .map_err(|e| Error::Runtime(format!("could not set {what}: {e}")))
            };
            // `import interp` in every interpreter (multi-phase init).
            if sys::PyImport_AppendInittab(
                crate::module::module_name_c().as_ptr(),
                Some(crate::module::init_module),
            ) < 0
            {
                sys::PyConfig_Clear(cfgp);
                return Err(Error::Runtime(
                    "could not register the interp module".into(),
                ));
            }
            let result = (|| {
                set(&raw mut (*cfgp).home, &home.to_string_lossy(), "home")?;
                if !config.python_path.is_empty() {
                    let joined = std::env::join_paths(&config.python_path)
                        .map_err(|e| Error::InvalidArgument(format!("python_path: {e}")))?;
                    set(
                        &raw mut (*cfgp).pythonpath_env,
                        &joined.to_string_lossy(),
                        "python_path",
                    )?;
                }
                sys::check_status(sys::Py_InitializeFromConfig(cfgp)).map_err(|e| {
                    Error::Runtime(format!(
                        "CPython failed to initialize: {e}. Its standard library was looked for under \
                         home = {}; set RuntimeConfig::home to the prefix of a CPython {} installation.",
                        home.display(),
                        sys::PYTHON_VERSION
                    ))
                })
            })();
            sys::PyConfig_Clear(cfgp);
            result?;
            // The main thread state is attached: register it as this thread's
            // main-interpreter thread state, then release the main GIL.
            let ts = TsPtr(sys::current_thread_state());
            let shared = Shared::new(sys::PyInterpreterState_Main(), true);
            shared.lock().tstates.push(ts);
            tstate::register(&shared, ts);
            sys::detach();
            Ok(Runtime {
                owned: true,
                main: Interpreter::from_shared(shared),
                live: AtomicUsize::new(0),
                finalize_lock: Mutex::new(()),
            })
        }
    }

    fn attach_to_host() -> Runtime {
        // SAFETY: Python is initialized; PyInterpreterState_Main only reads
        // runtime state.
        let shared = Shared::new(unsafe { sys::PyInterpreterState_Main() }, true);
        Runtime {
            owned: false,
            main: Interpreter::from_shared(shared),
            live: AtomicUsize::new(0),
            finalize_lock: Mutex::new(()),
        }
    }

    /// The main interpreter. Use it for code that must run there: extension
    /// modules that refuse subinterpreters, or objects shared with a host
    /// that embeds Python. Dropping or closing the returned handle's clones
    /// never ends the main interpreter.
    pub fn main(&self) -> &Interpreter {
        &self.main
    }

    /// Whether interp initialized Python itself (and may finalize it), as
    /// opposed to attaching to a runtime its host had initialized.
    pub fn owns_python(&self) -> bool {
        self.owned
    }

    /// The version of the CPython library loaded at run time, as
    /// `(major, minor, micro)`.
    pub fn python_version(&self) -> (u8, u8, u8) {
        // SAFETY: Py_Version is an immutable exported constant.
        let v = unsafe { sys::Py_Version } as u32;
        ((v >> 24) as u8, (v >> 16) as u8, (v >> 8) as u8)
    }

    /// How many subinterpreters are open now.
    pub fn live_interpreters(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    pub(crate) fn interpreter_opened(&self) {
        self.live.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn interpreter_closed(&self) {
        self.live.fetch_sub(1, Ordering::AcqRel);
    }

    /// Finalizes Python (`Py_FinalizeEx`). Afterwards no interpreter can be
    /// created or entered in this process.
    ///
    /// # Errors
    /// [`Error::Runtime`] when subinterpreters are still open (close them
    /// first: finalizing under them would pull their memory away), or when
    /// interp did not initialize Python itself (the host finalizes it).
    pub fn finalize(&self) -> Result<()> {
        let _g = self.finalize_lock.lock().unwrap_or_else(|e| e.into_inner());
        if !self.owned {
            return Err(Error::Runtime(
                "Python was initialized by the host process; the host must finalize it".into(),
            ));
        }
        if FINALIZED.load(Ordering::Acquire) {
            return Ok(());
        }
        let live = self.live_interpreters();
        if live > 0 {
            return Err(Error::Runtime(format!(
                "{live} subinterpreter(s) still open; close (drop) them before finalizing"
            )));
        }
        let shared = self.main.shared();
        let _detached = tstate::Detached::new();
        let ts = tstate::thread_state_for(shared)
            .ok_or_else(|| Error::Runtime("the main interpreter is gone".into()))?;
        let mut st = shared.lock();
        shared.mark_closed(&mut st);
        FINALIZED.store(true, Ordering::Release);
        // SAFETY: `ts` is this thread's main-interpreter thread state and
        // nothing is attached here (Detached). Py_FinalizeEx deletes every
        // thread state of the main interpreter; the Shared record is marked
        // closed under its lock so no cache touches them afterwards.
        let rc = unsafe {
            sys::attach(ts.0);
            sys::Py_FinalizeEx()
        };
        drop(st);
        tstate::forget(shared);
        std::mem::forget(_detached);
        if rc != 0 {
            return Err(Error::Runtime(
                "Py_FinalizeEx reported an error while flushing buffered data".into(),
            ));
        }
        Ok(())
    }
}

/// The runtime, initialized with defaults on first use.
pub(crate) fn runtime() -> Result<&'static Runtime> {
    match Runtime::get() {
        Some(rt) => Ok(rt),
        None => Runtime::init(),
    }
}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<Runtime>();
    is::<Arc<Shared>>();
}
