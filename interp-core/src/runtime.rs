//! The process-wide CPython runtime: start or attach, configuration,
//! `python_path`, finalize; and creating interpreters in it
//! (`Interpreter::new`, which starts the runtime on first use).

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use interp_sys as sys;

use crate::detached::Detached;
use crate::error::{Error, Result};
use crate::interpreter::{self, Interpreter, InterpreterConfig};
use crate::scope::Python;
use crate::sync::lock;
use crate::tstate::{self, InterpRecord, TsPtr, FINALIZED};

/// How the runtime initializes CPython.
///
/// When the host process has already initialized Python (then interp
/// attaches to it), only [`python_path`](Self::python_path) applies; the
/// other settings are the host's business (and are not compared by
/// [`Runtime::init_with`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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

    /// Adds a directory to `sys.path` of every interpreter, like
    /// `PYTHONPATH`: where the modules of functions called by name live.
    ///
    /// The directories are made absolute (against the current directory at
    /// [`Runtime::init_with`]) and put into `sys.path`, in the order they
    /// were added, where `PYTHONPATH` entries go: ahead of `PYTHONPATH`
    /// itself (with [`use_environment`](Self::use_environment)) and the
    /// standard library, so a module there shadows one of the same name
    /// further down. When interp initializes Python they go first. When it
    /// attaches to a Python the host initialized they go right after
    /// `sys.path[0]`, where the `python` program puts the script's directory
    /// (`''` for `-c` and the REPL) and subinterpreters copy it; in a host
    /// that embeds Python without running a script, `sys.path[0]` is the
    /// standard library's zip file.
    ///
    /// They are inserted into the main interpreter's `sys.path` by
    /// [`Runtime::init_with`] (once, however often it is called) and into
    /// every interpreter interp creates, as it is created. Interpreters that
    /// Python code creates itself (`concurrent.interpreters`) start from
    /// CPython's own `sys.path` and do not get them.
    ///
    /// An empty path or one containing a NUL byte makes
    /// [`Runtime::init_with`] fail with [`Error::InvalidArgument`].
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

    /// `home`, or the default prefix when unset.
    fn resolved_home(&self) -> PathBuf {
        self.home
            .clone()
            .unwrap_or_else(|| PathBuf::from(sys::PYTHON_PREFIX))
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
///
/// ```
/// use interp_core::{Interpreter, Runtime, RuntimeConfig, Value};
///
/// // Before the first interpreter; later calls return the runtime as it is.
/// let rt = Runtime::init_with(RuntimeConfig::new().install_signal_handlers(false))?;
/// assert!(rt.owns_python());
/// assert!(rt.python_version() >= (3, 12, 0));
/// // The main interpreter, for extension modules that refuse subinterpreters.
/// assert_eq!(rt.main().eval("2 ** 10")?, Value::Int(1024));
/// let isolated = Interpreter::new()?;
/// assert_eq!(rt.live_interpreters(), 1);
/// drop(isolated); // ends it
/// assert_eq!(rt.live_interpreters(), 0);
/// # Ok::<(), interp_core::Error>(())
/// ```
pub struct Runtime {
    owned: bool,
    /// The configuration the runtime was started with.
    config: RuntimeConfig,
    /// `config.python_path`, made absolute: inserted into `sys.path` of
    /// every interpreter interp creates, at `python_path_at`.
    python_path: Vec<PathBuf>,
    /// Where in `sys.path` the directories go: 0 when interp initialized
    /// Python, 1 (after the script's directory) on a host's Python.
    python_path_at: usize,
    /// Whether `python_path` is in the main interpreter's `sys.path`. Read
    /// and written only with the main GIL held (see `add_python_path`).
    main_has_python_path: AtomicBool,
    main: Interpreter,
    finalize_lock: Mutex<()>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("owns_python", &self.owned)
            .field("config", &self.config)
            .field("python_path", &self.python_path)
            .field("live_interpreters", &self.live_interpreters())
            .finish()
    }
}

static RUNTIME: OnceLock<Result<Runtime>> = OnceLock::new();

impl Runtime {
    /// Initializes the runtime with the default [`RuntimeConfig`], or
    /// returns the one already initialized (whatever its configuration).
    ///
    /// # Errors
    /// As [`init_with`](Self::init_with), except that a runtime already
    /// started with another configuration is not an error.
    pub fn init() -> Result<&'static Runtime> {
        Self::started(RUNTIME.get_or_init(|| Runtime::start(RuntimeConfig::default(), Vec::new())))
    }

    /// Initializes the runtime with `config`, or returns the one already
    /// initialized with the same configuration, and makes sure the
    /// [`python_path`](RuntimeConfig::python_path) directories are in the
    /// main interpreter's `sys.path`.
    ///
    /// Call it before anything else uses Python (the first
    /// [`Interpreter::new`] or pool initializes the runtime with the
    /// default configuration). "The same configuration" compares what
    /// applies: the `python_path` directories made absolute and, when interp
    /// initialized Python itself, `home` (unset meaning the default prefix),
    /// `use_environment` and `install_signal_handlers`.
    ///
    /// # Errors
    /// [`Error::Runtime`] when CPython fails to initialize (for example when
    /// its standard library is not found under `home`), when the runtime
    /// was finalized before (CPython cannot be initialized twice reliably),
    /// when it was already started with a different configuration (which
    /// would otherwise be silently ignored), or when the directories cannot
    /// be added to the main interpreter's `sys.path` (a host made it
    /// something other than a list); the runtime stays usable then, and a
    /// later call retries.
    /// [`Error::InvalidArgument`] for an empty
    /// [`python_path`](RuntimeConfig::python_path) entry or one containing
    /// a NUL byte; the runtime is not started then.
    pub fn init_with(config: RuntimeConfig) -> Result<&'static Runtime> {
        // Checked before anything starts: a bad path leaves the runtime
        // uninitialized, to be initialized with a corrected configuration.
        let python_path = absolute_python_path(&config.python_path)?;
        let mut pending = Some((config.clone(), python_path.clone()));
        // Nothing in here waits for a GIL: a host may hold the main GIL on a
        // thread that waits for this initialization (its first
        // Interpreter::new).
        let rt = Self::started(RUNTIME.get_or_init(|| {
            let (config, python_path) = pending.take().expect("get_or_init runs its closure once");
            Runtime::start(config, python_path)
        }))?;
        if pending.is_some() {
            rt.check_same_config(&config, &python_path)?;
        }
        rt.add_python_path_to_main()?;
        Ok(rt)
    }

    /// Refuses `config` (its directories resolved to `python_path`) unless
    /// it matches the running configuration in what applies.
    fn check_same_config(&self, config: &RuntimeConfig, python_path: &[PathBuf]) -> Result<()> {
        let mut differences = Vec::new();
        if python_path != self.python_path {
            differences.push(format!(
                "python_path {:?} (resolved) instead of {:?}",
                python_path, self.python_path
            ));
        }
        // The rest applies only when interp initialized Python.
        if self.owned {
            let ours = &self.config;
            if config.resolved_home() != ours.resolved_home() {
                differences.push(format!(
                    "home {:?} instead of {:?}",
                    config.resolved_home(),
                    ours.resolved_home()
                ));
            }
            if config.use_environment != ours.use_environment {
                differences.push(format!(
                    "use_environment {} instead of {}",
                    config.use_environment, ours.use_environment
                ));
            }
            if config.install_signal_handlers != ours.install_signal_handlers {
                differences.push(format!(
                    "install_signal_handlers {} instead of {}",
                    config.install_signal_handlers, ours.install_signal_handlers
                ));
            }
        }
        if differences.is_empty() {
            return Ok(());
        }
        Err(Error::Runtime(format!(
            "the Python runtime is already initialized with another configuration: this one asks \
             for {}; Runtime::init_with (C: interp_runtime_init_with) must come before the first \
             interpreter or pool is created",
            differences.join(", ")
        )))
    }

    /// Inserts the python_path directories into the main interpreter's
    /// `sys.path`, unless done before.
    fn add_python_path_to_main(&self) -> Result<()> {
        // A fast path without the GIL; the decision is taken under it.
        if self.python_path.is_empty() || self.main_has_python_path.load(Ordering::Acquire) {
            return Ok(());
        }
        self.main
            .enter(|py| {
                add_python_path(
                    py,
                    &self.python_path,
                    self.python_path_at,
                    Some(&self.main_has_python_path),
                )
            })
            .map_err(|e| match e {
                e @ Error::Runtime(_) => e,
                e => Error::Runtime(format!(
                    "could not add python_path to the main interpreter's sys.path: {e}"
                )),
            })
    }

    /// Where [`RuntimeConfig::python_path`] goes in `sys.path` of a new
    /// interpreter, and which directories.
    pub(crate) fn python_path_insertion(&self) -> (&[PathBuf], usize) {
        (&self.python_path, self.python_path_at)
    }

    fn started(rt: &'static Result<Runtime>) -> Result<&'static Runtime> {
        let rt = rt.as_ref().map_err(Clone::clone)?;
        if FINALIZED.load(Ordering::Acquire) {
            return Err(Error::Runtime(
                "the Python runtime was finalized; it cannot be initialized again in this process"
                    .into(),
            ));
        }
        Ok(rt)
    }

    /// The runtime, if it was initialized (and not finalized).
    pub fn get() -> Option<&'static Runtime> {
        match RUNTIME.get() {
            Some(Ok(rt)) if !FINALIZED.load(Ordering::Acquire) => Some(rt),
            _ => None,
        }
    }

    /// Starts or attaches to CPython. Runs inside `RUNTIME`'s one-time
    /// initialization, so it must not wait for a GIL: python_path is added
    /// to the main interpreter afterwards (`add_python_path_to_main`).
    fn start(config: RuntimeConfig, python_path: Vec<PathBuf>) -> Result<Runtime> {
        // SAFETY: Py_IsInitialized may be called at any time.
        let (owned, main) = if unsafe { sys::Py_IsInitialized() } != 0 {
            (false, Self::attach_to_host())
        } else {
            (true, Self::initialize(&config)?)
        };
        // Before `RUNTIME` holds the runtime, so that every thread that sees
        // it finds the main interpreter's record too.
        tstate::set_main_record(main.record());
        Ok(Runtime {
            owned,
            config,
            python_path,
            python_path_at: if owned { 0 } else { 1 },
            main_has_python_path: AtomicBool::new(false),
            main,
            finalize_lock: Mutex::new(()),
        })
    }

    /// Initializes CPython with `config` and returns the main interpreter,
    /// its GIL released.
    fn initialize(config: &RuntimeConfig) -> Result<Interpreter> {
        let mut cfg = IsolatedConfig::new();
        cfg.set_flags(config);
        let home = config.resolved_home();
        // `import interp` in every interpreter (multi-phase init).
        // SAFETY: Python is not initialized (checked by `start`, and
        // OnceLock runs one initializer): the inittab may still be extended.
        let registered = unsafe {
            sys::PyImport_AppendInittab(
                crate::module::module_name_c().as_ptr(),
                Some(crate::module::init_module),
            )
        } >= 0;
        if !registered {
            return Err(Error::Runtime(
                "could not register the interp module".into(),
            ));
        }
        cfg.set_home(&home)?;
        // python_path is not given to getpath (`pythonpath_env` is read only
        // with use_environment, and `module_search_paths` would replace the
        // standard library's paths): it is inserted into sys.path once
        // Python runs (`init_with`), and into every subinterpreter interp
        // creates (which copies the main config).
        cfg.initialize().map_err(|e| {
            Error::Runtime(format!(
                "CPython failed to initialize: {e}. Its standard library was looked for under \
                 home = {}; set RuntimeConfig::home to the prefix of a CPython {} installation.",
                home.display(),
                sys::PYTHON_VERSION
            ))
        })?;
        drop(cfg);
        // The main thread state is attached: register it as this thread's
        // main-interpreter thread state, then release the main GIL.
        let ts = TsPtr(sys::current_thread_state());
        // SAFETY: Python is initialized; reading the main interpreter.
        let record = InterpRecord::new(unsafe { sys::PyInterpreterState_Main() }, true);
        record.lock().tstates.push(ts);
        tstate::register(&record, ts);
        // SAFETY: `ts` is attached on this thread (Py_InitializeFromConfig
        // left it so).
        unsafe { sys::detach() };
        Ok(Interpreter::from_record(record))
    }

    fn attach_to_host() -> Interpreter {
        // SAFETY: Python is initialized; PyInterpreterState_Main only reads
        // runtime state.
        let record = InterpRecord::new(unsafe { sys::PyInterpreterState_Main() }, true);
        Interpreter::from_record(record)
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

    /// The configuration the runtime was started with, as given (when interp
    /// attached to the host's Python, only its `python_path` took effect).
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// The [`python_path`](RuntimeConfig::python_path) directories, made
    /// absolute, as they are put into `sys.path`.
    pub fn python_path(&self) -> &[PathBuf] {
        &self.python_path
    }

    /// How many subinterpreters are open now.
    pub fn live_interpreters(&self) -> usize {
        interpreter::live()
    }

    /// Finalizes Python (`Py_FinalizeEx`). Afterwards no interpreter can be
    /// created or entered in this process.
    ///
    /// # Errors
    /// [`Error::Runtime`] when subinterpreters are still open (close them
    /// first: finalizing under them would pull their memory away), or when
    /// interp did not initialize Python itself (the host finalizes it).
    pub fn finalize(&self) -> Result<()> {
        let _g = lock(&self.finalize_lock);
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
        let record = self.main.record();
        let _detached = Detached::new();
        let ts = tstate::thread_state_for(record)
            .ok_or_else(|| Error::Runtime("the main interpreter is gone".into()))?;
        let mut st = record.lock();
        record.mark_closed(&mut st);
        FINALIZED.store(true, Ordering::Release);
        // SAFETY: `ts` is this thread's main-interpreter thread state and
        // nothing is attached here (Detached). Py_FinalizeEx deletes every
        // thread state of the main interpreter; the InterpRecord is marked
        // closed under its lock so no cache touches them afterwards.
        let rc = unsafe {
            sys::attach(ts.0);
            // The main interpreter is attached: its cached objects go first.
            crate::cache::clear(&record.cache);
            sys::Py_FinalizeEx()
        };
        drop(st);
        tstate::forget(record);
        std::mem::forget(_detached);
        if rc != 0 {
            return Err(Error::Runtime(
                "Py_FinalizeEx reported an error while flushing buffered data".into(),
            ));
        }
        Ok(())
    }
}

/// A `PyConfig` from `PyConfig_InitIsolatedConfig`, cleared on drop.
struct IsolatedConfig(Box<sys::PyConfig>);

impl IsolatedConfig {
    fn new() -> Self {
        // SAFETY: PyConfig is plain C data, for which all-zero bytes are a
        // valid (if meaningless) value.
        let mut cfg = Box::new(unsafe { std::mem::zeroed::<sys::PyConfig>() });
        // SAFETY: `cfg` is writable; InitIsolatedConfig fills every field
        // and needs no runtime.
        unsafe { sys::PyConfig_InitIsolatedConfig(&mut *cfg) };
        IsolatedConfig(cfg)
    }

    /// The settings that are plain flags.
    fn set_flags(&mut self, config: &RuntimeConfig) {
        self.0.install_signal_handlers = config.install_signal_handlers as _;
        self.0.use_environment = config.use_environment as _;
    }

    /// `home`, as bytes that CPython decodes as it decodes file names.
    fn set_home(&mut self, home: &Path) -> Result<()> {
        let c = CString::new(home.as_os_str().as_encoded_bytes())
            .map_err(|_| Error::InvalidArgument(format!("home contains a NUL byte: {home:?}")))?;
        let cfg: *mut sys::PyConfig = &mut *self.0;
        // SAFETY: `cfg` was initialized by `new`; `home` is one of its
        // string fields; SetBytesString copies the C string.
        let status = unsafe { sys::PyConfig_SetBytesString(cfg, &raw mut (*cfg).home, c.as_ptr()) };
        // SAFETY: `status` is a PyStatus just returned.
        unsafe { sys::check_status(status) }
            .map_err(|e| Error::Runtime(format!("could not set home: {e}")))
    }

    /// `Py_InitializeFromConfig`: on success the main interpreter's thread
    /// state is attached on this thread.
    fn initialize(&mut self) -> std::result::Result<(), sys::StatusError> {
        // SAFETY: Python is not initialized (`Runtime::initialize`'s
        // contract) and the config was initialized by `new`.
        let status = unsafe { sys::Py_InitializeFromConfig(&*self.0) };
        // SAFETY: `status` is a PyStatus just returned.
        unsafe { sys::check_status(status) }
    }
}

impl Drop for IsolatedConfig {
    fn drop(&mut self) {
        // SAFETY: the config was initialized by `new`; Clear frees its
        // strings and leaves it empty.
        unsafe { sys::PyConfig_Clear(&mut *self.0) };
    }
}

/// Checks `dirs` and makes them absolute, as getpath does with `PYTHONPATH`.
fn absolute_python_path(dirs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    dirs.iter()
        .map(|d| {
            if d.as_os_str().is_empty() {
                return Err(Error::InvalidArgument(
                    "python_path: an empty path; give the directory that holds the modules".into(),
                ));
            }
            if d.as_os_str().as_encoded_bytes().contains(&0) {
                return Err(Error::InvalidArgument(format!(
                    "python_path: {d:?} contains a NUL byte"
                )));
            }
            std::path::absolute(d).map_err(|e| {
                Error::InvalidArgument(format!("python_path: {d:?} cannot be made absolute: {e}"))
            })
        })
        .collect()
}

/// Inserts `dirs`, in order, into `sys.path` of the entered interpreter at
/// index `at` (or at its end when shorter). Paths are decoded as CPython
/// decodes file names (the file system encoding, `surrogateescape`), so any
/// path survives.
///
/// With `once`, nothing happens when it is set, and it is set when the
/// directories are in: it is checked and set with no Python code run in
/// between, so under the interpreter's GIL only one caller inserts.
pub(crate) fn add_python_path(
    py: Python<'_>,
    dirs: &[PathBuf],
    at: usize,
    once: Option<&AtomicBool>,
) -> Result<()> {
    if dirs.is_empty() || once.is_some_and(|o| o.load(Ordering::Acquire)) {
        return Ok(());
    }
    let items = dirs
        .iter()
        .map(|d| {
            let b = d.as_os_str().as_encoded_bytes();
            // SAFETY: attached (token); pointer and length describe `b`.
            unsafe {
                py.from_owned_ptr(sys::PyUnicode_DecodeFSDefaultAndSize(
                    b.as_ptr().cast(),
                    b.len() as sys::Py_ssize_t,
                ))
            }
        })
        .collect::<Result<Vec<_>>>()?;
    // SAFETY: attached; PyList_New gives a fresh list whose slots are
    // filled exactly once with new references.
    let new = unsafe {
        let l = py.from_owned_ptr(sys::PyList_New(items.len() as sys::Py_ssize_t))?;
        for (i, item) in items.into_iter().enumerate() {
            sys::PyList_SET_ITEM(l.as_ptr(), i as sys::Py_ssize_t, item.into_ptr());
        }
        l
    };
    let path = py.lookup("sys", "path")?;
    // SAFETY: attached; a type check of a live object.
    if unsafe { sys::PyList_Check(path.as_ptr()) } == 0 {
        return Err(Error::Runtime(format!(
            "sys.path is a '{}', not a list, so python_path cannot be added to it; make it a \
             list again (sys.path = list(sys.path)) and call Runtime::init_with \
             (C: interp_runtime_init_with) again",
            path.type_name()
        )));
    }
    // No Python code runs from here to the insertion (a list slice
    // assignment of str objects): nothing can release the GIL between the
    // check of `once` and the change.
    if once.is_some_and(|o| o.load(Ordering::Acquire)) {
        return Ok(());
    }
    // SAFETY: attached; `path` is a list.
    let at = at.min(unsafe { sys::PyList_Size(path.as_ptr()) } as usize) as sys::Py_ssize_t;
    // SAFETY: attached; `path` is a list and `new` a live list of this
    // interpreter; the slice [at:at] is within bounds.
    if unsafe { sys::PyList_SetSlice(path.as_ptr(), at, at, new.as_ptr()) } < 0 {
        return Err(py.take_error());
    }
    if let Some(o) = once {
        o.store(true, Ordering::Release);
    }
    Ok(())
}

impl Interpreter {
    /// Creates an isolated interpreter (own GIL), initializing the runtime
    /// first if needed.
    ///
    /// # Errors
    /// [`Error::Create`] if CPython refuses (out of memory, unsupported
    /// configuration); [`Error::Runtime`] if the runtime cannot start.
    pub fn new() -> Result<Interpreter> {
        Self::with_config(InterpreterConfig::isolated())
    }

    /// Creates an interpreter with `config`. The directories of
    /// [`RuntimeConfig::python_path`](crate::RuntimeConfig::python_path) are
    /// put into its `sys.path`, where `PYTHONPATH` entries go.
    ///
    /// # Errors
    /// As [`Interpreter::new`], plus [`Error::Python`] if `sys.path` cannot
    /// be extended (out of memory).
    pub fn with_config(config: InterpreterConfig) -> Result<Interpreter> {
        let rt = runtime()?;
        let raw_cfg = config.to_raw();
        let detached = Detached::new();
        // SAFETY: the runtime is initialized and nothing is attached on this
        // thread (Detached).
        let ts =
            unsafe { sys::new_interpreter(&raw_cfg) }.map_err(|e| Error::Create(e.to_string()))?;
        // SAFETY: `ts` is the new interpreter's attached thread state.
        let raw = unsafe { sys::thread_state_interpreter(ts) };
        let record = InterpRecord::new(raw, false);
        record.cache.set_initial_config(config.cache);
        let ts = TsPtr(ts);
        record.lock().tstates.push(ts);
        tstate::register(&record, ts);
        // Subinterpreters build sys.path from the runtime's config, which
        // does not hold python_path (see RuntimeConfig::python_path).
        let (dirs, at) = rt.python_path_insertion();
        // SAFETY: the new interpreter's thread state is attached on this
        // thread; the token does not outlive this call.
        let added = add_python_path(unsafe { Python::assume_attached() }, dirs, at, None);
        // SAFETY: `ts` is attached on this thread.
        unsafe { sys::detach() };
        drop(detached);
        interpreter::opened();
        let interp = Interpreter::from_record(record);
        // On failure `interp` is dropped, which ends it.
        added?;
        Ok(interp)
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
    is::<Arc<InterpRecord>>();
}
