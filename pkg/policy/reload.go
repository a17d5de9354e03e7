package policy

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of ReloaderOptions.
const (
	DefaultPollInterval = time.Minute
	DefaultDebounce     = 500 * time.Millisecond
)

// ReloaderOptions configures a Reloader.
type ReloaderOptions struct {
	// Builtin loads the built-in policies (see Options.Builtin).
	Builtin bool
	// Sources are the policy sources as Open takes them (--policy):
	// directories, .tar.gz bundles and bundle URLs. Their order is kept.
	Sources []string
	// Source says how the sources are read and verified.
	Source SourceOptions
	// PollInterval is how often bundle URLs are polled, plus up to half of
	// it again at random so that replicas spread their requests, and how
	// often file sources are re-checked in case a filesystem event was
	// missed; DefaultPollInterval when zero.
	PollInterval time.Duration
	// Debounce is how long a file source must stay quiet after a
	// filesystem event before it is re-read; DefaultDebounce when zero.
	Debounce time.Duration
	// Registerer receives the reload metrics; none are registered when nil.
	Registerer prometheus.Registerer
	// Log receives one line per version of a source accepted or rejected.
	Log logr.Logger
}

// SourceStatus is the state of one policy source, for /readyz details and
// for people asking why a bundle did not take effect.
type SourceStatus struct {
	// Source is the source as given (a URL with its password redacted).
	Source string `json:"source"`
	// Kind is what the source was last read as (the Kind constants).
	Kind string `json:"kind"`
	// Loaded is true once a version of the source passed every check; that
	// version is part of the policy set being served as soon as every
	// source has one.
	Loaded bool `json:"loaded"`
	// Revision is the .manifest revision of the loaded version.
	Revision string `json:"revision,omitempty"`
	// ETag is the ETag of the last download of a URL source.
	ETag string `json:"etag,omitempty"`
	// LastSuccessfulLoad is when the loaded version was accepted.
	LastSuccessfulLoad time.Time `json:"lastSuccessfulLoad,omitzero"`
	// LastCheck is when the source was last looked at.
	LastCheck time.Time `json:"lastCheck,omitzero"`
	// LastError says why the newest version seen was rejected; "" when the
	// newest version is the loaded one.
	LastError string `json:"lastError,omitempty"`
}

// Reloader keeps a policy set loaded from the built-ins and a list of
// sources, and swaps in a new set when a source changes — only if the new
// version downloads, verifies, parses, compiles with the other sources and
// passes the Rego tests of the sources (TestSources). Otherwise the last
// good set keeps serving, and the failure is logged, counted in
// canarygate_bundle_load_errors_total{source} and reported by Status.
//
// The engine is nil until every source has loaded once: a platform's rules
// are never silently missing, so a server reading the engine through
// Engine() stays not ready (and its gate fails closed) instead.
type Reloader struct {
	opts    ReloaderOptions
	engine  atomic.Pointer[Engine]
	errors  *prometheus.CounterVec
	success *prometheus.GaugeVec

	// mu serialises reads and swaps, and guards sources.
	mu      sync.Mutex
	sources []*tracked
	loaded  atomic.Bool
}

// tracked is the reload state of one source.
type tracked struct {
	origin *origin
	// good is the version in the served set, nil until one loads.
	good       *Source
	goodDigest string
	// pending is a version read fine but rejected with the rest of the set
	// (compile, roots, tests): retried when another source changes, since
	// that may be what it conflicted with.
	pending       *Source
	pendingDigest string
	// print is the fingerprint of the files last read (file sources).
	print  string
	status SourceStatus
}

// NewReloader checks the options and registers the metrics; it reads
// nothing yet (see Load and Run). It returns an error wrapping ErrLoad when
// a source spec or the verification key is unusable: those are
// configuration errors that no reload can fix.
func NewReloader(opts ReloaderOptions) (*Reloader, error) {
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.Debounce <= 0 {
		opts.Debounce = DefaultDebounce
	}
	r := &Reloader{
		opts: opts,
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "canarygate_bundle_load_errors_total",
			Help: "Versions of a policy source rejected: download, signature, parse, roots, compile or test failures. The previous policy set keeps serving.",
		}, []string{"source"}),
		success: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "canarygate_bundle_last_successful_load_timestamp_seconds",
			Help: "Unix time a version of the policy source was last accepted.",
		}, []string{"source"}),
	}
	seen := map[string]bool{}
	for _, spec := range opts.Sources {
		if seen[spec] {
			return nil, fmt.Errorf("%w: policy source %s is given twice", ErrLoad, spec)
		}
		seen[spec] = true
		o, err := newOrigin(spec, opts.Source)
		if err != nil {
			return nil, fmt.Errorf("policy source %s: %w", spec, err)
		}
		r.sources = append(r.sources, &tracked{origin: o, status: SourceStatus{Source: o.name, Kind: o.kind}})
		r.errors.WithLabelValues(o.name)
	}
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{r.errors, r.success} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("registering the policy reload metrics: %w", err)
			}
		}
	}
	return r, nil
}

// Engine returns the pointer the webhook handlers read the current policy
// set through. It holds nil until every source has loaded once.
func (r *Reloader) Engine() *atomic.Pointer[Engine] { return &r.engine }

// Ready returns nil once a policy set is loaded, else an error wrapping
// ErrLoad that names every source that has not loaded and why.
func (r *Reloader) Ready() error {
	if r.engine.Load() != nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.readyLocked()
}

func (r *Reloader) readyLocked() error {
	if r.engine.Load() != nil {
		return nil
	}
	var errs []error
	for _, t := range r.sources {
		s := t.status
		switch {
		case s.LastError != "":
			errs = append(errs, fmt.Errorf("%s: %s", s.Source, s.LastError))
		case !s.Loaded:
			errs = append(errs, fmt.Errorf("%s: not loaded yet", s.Source))
		}
	}
	if len(errs) == 0 {
		return fmt.Errorf("%w: policies are not loaded yet", ErrLoad)
	}
	return fmt.Errorf("%w: %w", ErrLoad, errors.Join(errs...))
}

// Status returns the state of every source, in the order given.
func (r *Reloader) Status() []SourceStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]SourceStatus, len(r.sources))
	for i, t := range r.sources {
		out[i] = t.status
	}
	return out
}

// Load reads every source and loads the policy set once, synchronously:
// serve calls it before it starts listening so the first requests find the
// policies. It returns nil when the set is loaded, else the Ready error;
// Run keeps trying either way.
func (r *Reloader) Load(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.loaded.Store(true)
	read := make([]*Source, len(r.sources))
	digests := make([]string, len(r.sources))
	all := true
	for i, t := range r.sources {
		t.print = t.origin.fingerprint()
		src, ok := r.read(ctx, t)
		if !ok {
			all = false
			continue
		}
		read[i], digests[i] = src, digest(*src)
	}
	if all {
		// One compile for the common case; on failure fall through to
		// adding the sources one by one, to know which one to blame.
		opts := Options{Builtin: r.opts.Builtin}
		for _, s := range read {
			opts.Sources = append(opts.Sources, *s)
		}
		if e, err := r.check(ctx, opts); err == nil {
			for i, t := range r.sources {
				r.accept(t, read[i], digests[i])
			}
			r.engine.Store(e)
			r.opts.Log.Info("policies loaded", "sources", len(r.sources))
			return nil
		}
	}
	for i, src := range read {
		if src != nil {
			r.try(ctx, i, src, digests[i])
		}
	}
	return r.readyLocked()
}

// Refresh looks at every source once, now, and swaps in the set when one
// changed and the new set passes. Run does the same on its own schedule.
func (r *Reloader) Refresh(ctx context.Context) {
	if !r.loaded.Load() {
		_ = r.Load(ctx)
		return
	}
	for i := range r.sources {
		r.refresh(ctx, i)
	}
}

// Start implements controller-runtime's manager.Runnable: it runs Run.
func (r *Reloader) Start(ctx context.Context) error { return r.Run(ctx) }

// NeedLeaderElection tells controller-runtime's manager that every replica
// reloads its own policies, leader or not.
func (r *Reloader) NeedLeaderElection() bool { return false }

// Run loads the policies (unless Load already ran) and then keeps them
// current until ctx ends: file sources are watched with fsnotify (a
// directory, its subdirectories and its parent, so the ..data symlink swap
// of a mounted ConfigMap is seen) and re-read once quiet for Debounce, and
// checked every PollInterval in case an event was missed; URL sources are
// polled every PollInterval plus jitter with If-None-Match. It returns nil
// when ctx ends.
func (r *Reloader) Run(ctx context.Context) error {
	n := len(r.sources)
	triggers := make(chan int, n)
	queued := make([]atomic.Bool, n)
	fire := func(i int) {
		if queued[i].CompareAndSwap(false, true) {
			triggers <- i
		}
	}
	// Watch before loading, so no change between the two goes unseen.
	w := r.newWatcher(ctx, fire)
	if w != nil {
		defer w.close()
	}
	if !r.loaded.Load() {
		if err := r.Load(ctx); err != nil {
			r.opts.Log.Error(err, "policies are not loaded; retrying as sources change")
		}
	}
	for i, t := range r.sources {
		if t.origin.kind != KindURL {
			// Changes made after an earlier Load and before the watch
			// began: the fingerprint tells.
			fire(i)
		}
		go r.poll(ctx, t.origin.kind == KindURL, func() { fire(i) })
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case i := <-triggers:
			queued[i].Store(false)
			r.refresh(ctx, i)
			if w != nil {
				w.add(i, r.sources[i].origin)
			}
		}
	}
}

// poll fires every PollInterval, with up to half of it again at random for
// URLs.
func (r *Reloader) poll(ctx context.Context, jitter bool, fire func()) {
	for {
		d := r.opts.PollInterval
		if jitter {
			d += rand.N(d/2 + 1)
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
			fire()
		}
	}
}

// refresh looks at source i and tries the set with it when it changed.
func (r *Reloader) refresh(ctx context.Context, i int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.sources[i]
	if t.origin.kind != KindURL {
		p := t.origin.fingerprint()
		if p == t.print {
			t.status.LastCheck = time.Now()
			return
		}
		t.print = p
	}
	src, ok := r.read(ctx, t)
	if !ok || src == nil {
		return
	}
	d := digest(*src)
	switch {
	case t.good != nil && d == t.goodDigest:
		// Back to (or still) the version being served.
		t.pending, t.pendingDigest = nil, ""
		t.status.LastError = ""
		return
	case t.pending != nil && d == t.pendingDigest:
		return // rejected already; Status says why
	}
	if r.try(ctx, i, src, d) {
		r.retryPending(ctx, i)
	}
}

// read reads a source; ok is false when it failed (rejected and counted).
// A nil Source with ok true means the server answered 304.
func (r *Reloader) read(ctx context.Context, t *tracked) (*Source, bool) {
	t.status.LastCheck = time.Now()
	src, notModified, err := t.origin.read(ctx)
	if t.origin.kind == KindURL {
		t.status.ETag = t.origin.etag
	}
	if err != nil {
		r.reject(t, err)
		return nil, false
	}
	if notModified {
		return nil, true
	}
	return &src, true
}

// try compiles and tests the set with version src of source i in place of
// its current one, and accepts it when it passes. The served engine is
// swapped only when every source has a version.
func (r *Reloader) try(ctx context.Context, i int, src *Source, d string) bool {
	opts := Options{Builtin: r.opts.Builtin}
	complete := true
	for j, t := range r.sources {
		switch {
		case j == i:
			opts.Sources = append(opts.Sources, *src)
		case t.good != nil:
			opts.Sources = append(opts.Sources, *t.good)
		default:
			complete = false
		}
	}
	t := r.sources[i]
	e, err := r.check(ctx, opts)
	if err != nil {
		t.pending, t.pendingDigest = src, d
		r.reject(t, err)
		return false
	}
	r.accept(t, src, d)
	if complete {
		r.engine.Store(e)
	}
	r.opts.Log.Info("policy source loaded", "source", t.origin.name, "revision", src.Revision, "serving", complete)
	return true
}

// retryPending tries again the versions rejected with the set, now that
// source except changed.
func (r *Reloader) retryPending(ctx context.Context, except int) {
	for j, t := range r.sources {
		if j != except && t.pending != nil {
			r.try(ctx, j, t.pending, t.pendingDigest)
		}
	}
}

// check compiles a candidate set and runs the sources' tests on it.
func (r *Reloader) check(ctx context.Context, opts Options) (*Engine, error) {
	e, err := Load(ctx, opts)
	if err != nil {
		return nil, err
	}
	if len(opts.Sources) == 0 {
		return e, nil
	}
	results, err := TestSources(ctx, opts)
	if err != nil {
		return nil, err
	}
	if failed := testFailures(results); failed != "" {
		return nil, fmt.Errorf("%w: %w: %s", ErrLoad, ErrTests, failed)
	}
	return e, nil
}

func (r *Reloader) accept(t *tracked, src *Source, d string) {
	now := time.Now()
	t.good, t.goodDigest = src, d
	t.pending, t.pendingDigest = nil, ""
	t.status.Kind = src.Kind
	t.status.Loaded = true
	t.status.Revision = src.Revision
	t.status.LastSuccessfulLoad = now
	t.status.LastError = ""
	r.success.WithLabelValues(t.origin.name).Set(float64(now.UnixNano()) / 1e9)
}

func (r *Reloader) reject(t *tracked, err error) {
	t.status.LastError = err.Error()
	r.errors.WithLabelValues(t.origin.name).Inc()
	if t.good != nil {
		r.opts.Log.Error(err, "policy source rejected; its previous version keeps serving", "source", t.origin.name, "revision", t.good.Revision)
		return
	}
	r.opts.Log.Error(err, "policy source does not load; policies stay unloaded until it does", "source", t.origin.name)
}

// watcher maps filesystem events to the file sources they may concern and
// fires each source once it has been quiet for the debounce time.
type watcher struct {
	w      *fsnotify.Watcher
	mu     sync.Mutex
	dirs   map[string]map[int]bool
	timers []*time.Timer
}

// newWatcher watches every file source; nil when there is none or fsnotify
// is unavailable (polling still re-checks the sources).
func (r *Reloader) newWatcher(ctx context.Context, fire func(int)) *watcher {
	files := false
	for _, t := range r.sources {
		files = files || t.origin.kind != KindURL
	}
	if !files {
		return nil
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		r.opts.Log.Error(err, "cannot watch policy directories; relying on the periodic check", "interval", r.opts.PollInterval)
		return nil
	}
	w := &watcher{w: fw, dirs: map[string]map[int]bool{}, timers: make([]*time.Timer, len(r.sources))}
	for i, t := range r.sources {
		if t.origin.kind == KindURL {
			continue
		}
		w.timers[i] = time.AfterFunc(time.Hour, func() { fire(i) })
		w.timers[i].Stop()
		w.add(i, t.origin)
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-fw.Events:
				if !ok {
					return
				}
				w.mu.Lock()
				for _, p := range []string{ev.Name, filepath.Dir(ev.Name)} {
					for i := range w.dirs[p] {
						w.timers[i].Reset(r.opts.Debounce)
					}
				}
				w.mu.Unlock()
			case err, ok := <-fw.Errors:
				if !ok {
					return
				}
				r.opts.Log.Error(err, "watching policy directories")
			}
		}
	}()
	return w
}

// add watches the directories of source i (again: new subdirectories
// appear, and a replaced directory needs a new watch).
func (w *watcher) add(i int, o *origin) {
	if o.kind == KindURL {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, d := range o.watchDirs() {
		if err := w.w.Add(d); err != nil {
			continue // gone or not yet there: the parent's events and polling cover it
		}
		if w.dirs[d] == nil {
			w.dirs[d] = map[int]bool{}
		}
		w.dirs[d][i] = true
	}
}

func (w *watcher) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, t := range w.timers {
		if t != nil {
			t.Stop()
		}
	}
	_ = w.w.Close()
}
