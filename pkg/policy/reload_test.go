package policy_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/canarygate/canarygate/pkg/policy"
)

// bundleServer serves one bundle archive the way an OPA bundle service
// does: GET with an ETag, 304 to a matching If-None-Match.
type bundleServer struct {
	*httptest.Server
	mu     sync.Mutex
	body   []byte
	etag   string
	status int    // answered instead of the bundle when non-zero
	token  string // bearer token required when set
	hang   chan struct{}

	gets, notModified atomic.Int32
}

func newBundleServer(t *testing.T, body []byte) *bundleServer {
	t.Helper()
	s := &bundleServer{}
	s.set(body)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		body, etag, status, token, hang := s.body, s.etag, s.status, s.token, s.hang
		s.mu.Unlock()
		s.gets.Add(1)
		if hang != nil {
			select {
			case <-hang:
			case <-r.Context().Done():
			}
			return
		}
		if token != "" && r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "who are you", http.StatusUnauthorized)
			return
		}
		if status != 0 {
			http.Error(w, "bundle store unavailable", status)
			return
		}
		if r.Header.Get("If-None-Match") == etag {
			s.notModified.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", etag)
		w.Header().Set("Content-Type", "application/gzip")
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

// set serves a new bundle with a new ETag.
func (s *bundleServer) set(body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body = body
	s.etag = `"` + strings.Repeat("x", len(body)%7) + time.Now().Format("150405.000000000") + `"`
	s.status = 0
}

func (s *bundleServer) fail(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = status
}

func (s *bundleServer) url() string { return s.URL + "/bundles/platform.tar.gz" }

// withPayments returns the example bundle with a new profile, payments,
// whose canaries must route the header x-pay: an update that passes the
// bundle's tests and changes decisions.
func withPayments(t *testing.T, revision string) bundle.Bundle {
	t.Helper()
	b := readBundle(t, example)
	profiles := b.Data["canarygate"].(map[string]any)["config"].(map[string]any)["profiles"].(map[string]any)
	profiles["payments"] = map[string]any{"settings": map[string]any{"platform_canary_header": "x-pay"}}
	b.Manifest.Revision = revision
	return b
}

// addPayments makes the same change to a bundle directory's data.json.
func addPayments(t *testing.T, dataFile string) {
	t.Helper()
	raw, err := os.ReadFile(dataFile)
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(raw), `"profiles": {`, `"profiles": {"payments": {"settings": {"platform_canary_header": "x-pay"}},`, 1)
	if changed == string(raw) {
		t.Fatalf("%s has no profiles", dataFile)
	}
	writeFile(t, filepath.Dir(dataFile), filepath.Base(dataFile), []byte(changed))
}

// payments is the decision on a new canary routing x-canary in a
// namespace of profile payments: allowed until the profile exists.
func payments(t *testing.T, e *policy.Engine) string {
	t.Helper()
	return strings.Join(decide(t, e, canaryWrite("payments", -1, 5, "x-canary"), "CGX03"), ",")
}

// metric reads a reload metric of a source.
func metric(t *testing.T, reg *prometheus.Registry, name, source string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "source" && l.GetValue() == source {
					if m.GetCounter() != nil {
						return m.GetCounter().GetValue()
					}
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return -1
}

func TestOpenURL(t *testing.T) {
	srv := newBundleServer(t, tarball(t, readBundle(t, example)))
	src := open(t, srv.url(), policy.SourceOptions{})
	if src.Kind != policy.KindURL || src.Revision != "platform-2026.11.1" {
		t.Errorf("Kind, Revision = %q, %q", src.Kind, src.Revision)
	}
	if got := platformDecisions(t, load(t, src)); got != wantPlatform {
		t.Errorf("decisions:\n got %s\nwant %s", got, wantPlatform)
	}

	t.Run("with a bearer token from a file", func(t *testing.T) {
		srv.mu.Lock()
		srv.token = "s3cret"
		srv.mu.Unlock()
		t.Cleanup(func() { srv.mu.Lock(); srv.token = ""; srv.mu.Unlock() })
		_, err := policy.Open(t.Context(), srv.url(), policy.SourceOptions{})
		if !errors.Is(err, policy.ErrFetch) || !strings.Contains(err.Error(), "401 Unauthorized: who are you") || !strings.Contains(err.Error(), srv.url()) {
			t.Errorf("Open without a token = %v, want a 401 naming the URL", err)
		}
		tokenFile := writeFile(t, t.TempDir(), "token", []byte("s3cret\n"))
		open(t, srv.url(), policy.SourceOptions{BearerTokenFile: tokenFile})
	})

	t.Run("times out", func(t *testing.T) {
		srv.mu.Lock()
		srv.hang = make(chan struct{})
		srv.mu.Unlock()
		t.Cleanup(func() { srv.mu.Lock(); close(srv.hang); srv.hang = nil; srv.mu.Unlock() })
		_, err := policy.Open(t.Context(), srv.url(), policy.SourceOptions{Timeout: 50 * time.Millisecond})
		if !errors.Is(err, policy.ErrFetch) || !strings.Contains(err.Error(), "no answer within 50ms") {
			t.Errorf("Open = %v, want a timeout", err)
		}
	})
}

func TestReloaderFollowsABundleURL(t *testing.T) {
	srv := newBundleServer(t, tarball(t, readBundle(t, example)))
	reg := prometheus.NewRegistry()
	r, err := policy.NewReloader(policy.ReloaderOptions{
		Builtin: true, Sources: []string{srv.url()}, Registerer: reg, Log: testr.New(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	first := r.Engine().Load()
	if first == nil || payments(t, first) != "" {
		t.Fatalf("the example bundle did not load")
	}
	if ts := metric(t, reg, "canarygate_bundle_last_successful_load_timestamp_seconds", srv.url()); ts < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("last successful load timestamp = %v", ts)
	}

	t.Run("a 304 keeps the set", func(t *testing.T) {
		r.Refresh(t.Context())
		if srv.notModified.Load() != 1 {
			t.Errorf("server answered 304 %d times, want 1 (If-None-Match sent with the ETag)", srv.notModified.Load())
		}
		if r.Engine().Load() != first {
			t.Error("the engine changed on a 304")
		}
	})

	t.Run("a new bundle changes decisions", func(t *testing.T) {
		srv.set(tarball(t, withPayments(t, "v2")))
		r.Refresh(t.Context())
		e := r.Engine().Load()
		if e == first {
			t.Fatal("the engine was not swapped")
		}
		if got := payments(t, e); got != "CGX03:deny" {
			t.Errorf("x-canary in payments after the update = %q, want CGX03:deny (x-pay is required now)", got)
		}
		if st := r.Status()[0]; st.Revision != "v2" || !st.Loaded || st.LastError != "" {
			t.Errorf("Status = %+v", st)
		}
	})

	good := r.Engine().Load()
	for name, breakIt := range map[string]func(){
		"a failing download": func() { srv.fail(http.StatusServiceUnavailable) },
		"a corrupt archive":  func() { srv.set([]byte("<html>maintenance</html>")) },
	} {
		t.Run(name+" keeps the last good set", func(t *testing.T) {
			before := metric(t, reg, "canarygate_bundle_load_errors_total", srv.url())
			breakIt()
			r.Refresh(t.Context())
			if r.Engine().Load() != good {
				t.Fatal("the engine changed")
			}
			if got := payments(t, r.Engine().Load()); got != "CGX03:deny" {
				t.Errorf("decision changed to %q", got)
			}
			if after := metric(t, reg, "canarygate_bundle_load_errors_total", srv.url()); after != before+1 {
				t.Errorf("load errors %v → %v, want one more", before, after)
			}
			if st := r.Status()[0]; st.LastError == "" || st.Revision != "v2" || !strings.Contains(st.LastError, srv.url()) {
				t.Errorf("Status = %+v, want the error and the serving revision v2", st)
			}
			if r.Ready() != nil {
				t.Errorf("Ready = %v while the last good set serves", r.Ready())
			}
		})
	}

	t.Run("polling picks up a new bundle", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		r, err := policy.NewReloader(policy.ReloaderOptions{
			Builtin: true, Sources: []string{srv.url()}, Registerer: reg, Log: testr.New(t),
			PollInterval: 20 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		srv.set(tarball(t, readBundle(t, example)))
		stop := run(t, r)
		defer stop()
		eventually(t, "the bundle loads", func() bool { return r.Engine().Load() != nil })
		first := r.Engine().Load()
		srv.set(tarball(t, withPayments(t, "v3")))
		eventually(t, "the new bundle is polled", func() bool { return r.Engine().Load() != first })
		if got := payments(t, r.Engine().Load()); got != "CGX03:deny" {
			t.Errorf("decision after polling = %q", got)
		}
	})
}

func TestReloaderVerifiesSignedBundles(t *testing.T) {
	private, public := keyPair(t)
	signed := func(b bundle.Bundle) []byte {
		sign(t, &b, private, "")
		return tarball(t, b)
	}
	srv := newBundleServer(t, signed(readBundle(t, example)))
	reg := prometheus.NewRegistry()
	r, err := policy.NewReloader(policy.ReloaderOptions{
		Builtin: true, Sources: []string{srv.url()}, Registerer: reg, Log: testr.New(t),
		Source: policy.SourceOptions{VerificationKey: public},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	good := r.Engine().Load()

	tampered := withPayments(t, "v2")
	sign(t, &tampered, private, "")
	tampered.Data["canarygate"].(map[string]any)["config"].(map[string]any)["settings"].(map[string]any)["max_unverified_weight"] = 100

	for name, body := range map[string][]byte{
		"unsigned": tarball(t, withPayments(t, "v2")),
		"tampered": tarball(t, tampered),
	} {
		t.Run("an "+name+" update is rejected", func(t *testing.T) {
			srv.set(body)
			r.Refresh(t.Context())
			if r.Engine().Load() != good {
				t.Fatal("the engine changed")
			}
			if st := r.Status()[0]; !strings.Contains(st.LastError, policy.ErrVerification.Error()) {
				t.Errorf("Status.LastError = %q, want a verification error", st.LastError)
			}
		})
	}
	t.Run("a signed update is accepted", func(t *testing.T) {
		srv.set(signed(withPayments(t, "v3")))
		r.Refresh(t.Context())
		if r.Engine().Load() == good || payments(t, r.Engine().Load()) != "CGX03:deny" {
			t.Fatal("the signed update did not take effect")
		}
	})
}

// run starts r.Run and returns a function that stops it and waits.
func run(t *testing.T, r *policy.Reloader) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

func TestReloaderWatchesADirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "platform")
	copyDir(t, example, dir)
	r, err := policy.NewReloader(policy.ReloaderOptions{
		Builtin: true, Sources: []string{dir}, Log: testr.New(t),
		PollInterval: time.Hour, // only filesystem events can trigger a reload
		Debounce:     20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, r)
	defer stop()
	eventually(t, "the directory loads", func() bool { return r.Engine().Load() != nil })
	first := r.Engine().Load()
	if got := payments(t, first); got != "" {
		t.Fatalf("x-canary in payments = %q, want allowed", got)
	}

	data := filepath.Join(dir, "canarygate/config/data.json")
	addPayments(t, data)
	eventually(t, "the change is loaded", func() bool { return r.Engine().Load() != first })
	if got := payments(t, r.Engine().Load()); got != "CGX03:deny" {
		t.Errorf("x-canary in payments after the change = %q, want CGX03:deny", got)
	}
}

// TestReloaderFollowsAConfigMapSwap mounts a bundle the way the kubelet
// mounts a ConfigMap: the keys are links into ..data, itself a link to a
// timestamped directory, and an update swaps ..data atomically.
func TestReloaderFollowsAConfigMapSwap(t *testing.T) {
	root := filepath.Join(t.TempDir(), "policy")
	b := readBundle(t, example)
	files := map[string][]byte{".manifest": []byte(`{"revision": "cm-1", "roots": ["canarygate/ext/platform", "canarygate/config"]}`)}
	for _, m := range b.Modules {
		files[filepath.Base(m.Path)] = m.Raw
	}
	data, err := os.ReadFile(filepath.Join(example, "canarygate/config/data.json"))
	if err != nil {
		t.Fatal(err)
	}
	files["data.json"] = []byte(`{"canarygate": {"config": ` + string(data) + `}}`)
	mount := func(version string, files map[string][]byte) {
		ts := "..2026_11_26_" + version
		for name, content := range files {
			writeFile(t, filepath.Join(root, ts), name, content)
		}
		tmp := filepath.Join(root, "..data_tmp")
		if err := os.Symlink(ts, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(root, "..data")); err != nil {
			t.Fatal(err)
		}
		for name := range files {
			if _, err := os.Lstat(filepath.Join(root, name)); err == nil {
				continue
			}
			if err := os.Symlink(filepath.Join("..data", name), filepath.Join(root, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	mount("v1", files)

	r, err := policy.NewReloader(policy.ReloaderOptions{
		Builtin: true, Sources: []string{root}, Log: testr.New(t),
		PollInterval: time.Hour, Debounce: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, r)
	defer stop()
	eventually(t, "the ConfigMap loads", func() bool { return r.Engine().Load() != nil })
	first := r.Engine().Load()
	if st := r.Status()[0]; st.Revision != "cm-1" || payments(t, first) != "" {
		t.Fatalf("Status = %+v", st)
	}

	files[".manifest"] = []byte(`{"revision": "cm-2", "roots": ["canarygate/ext/platform", "canarygate/config"]}`)
	files["data.json"] = []byte(strings.Replace(string(files["data.json"]), `"profiles": {`, `"profiles": {"payments": {"settings": {"platform_canary_header": "x-pay"}},`, 1))
	mount("v2", files)
	eventually(t, "the swapped ConfigMap is loaded", func() bool { return r.Engine().Load() != first })
	if st := r.Status()[0]; st.Revision != "cm-2" || payments(t, r.Engine().Load()) != "CGX03:deny" {
		t.Errorf("Status = %+v after the swap", st)
	}
}

func TestReloaderKeepsTheLastGoodSet(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "platform")
	copyDir(t, example, dir)
	team := filepath.Join(t.TempDir(), "team")
	writeFile(t, team, ".manifest", []byte(`{"revision": "t1", "roots": ["canarygate/ext/team"]}`))
	writeFile(t, team, "team.rego", []byte("package canarygate.ext.team\n\nitems contains {\"code\": \"T1\", \"message\": \"m\"} if false\n"))

	reg := prometheus.NewRegistry()
	r, err := policy.NewReloader(policy.ReloaderOptions{
		Builtin: true, Sources: []string{dir, team}, Registerer: reg, Log: testr.New(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	good := r.Engine().Load()
	want := platformDecisions(t, good)
	if want != wantPlatform {
		t.Fatalf("decisions:\n got %s\nwant %s", want, wantPlatform)
	}
	errorsOf := func(src string) float64 { return metric(t, reg, "canarygate_bundle_load_errors_total", src) }

	rules := filepath.Join(dir, "canarygate/ext/platform/platform.rego")
	original, err := os.ReadFile(rules)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name   string
		source string
		update func()
		undo   func()
		want   []string
		is     error
	}{
		{
			name: "a corrupt update", source: dir,
			update: func() {
				writeFile(t, dir, "canarygate/ext/platform/platform.rego", append(append([]byte{}, original...), "\nitems contains x if {\n"...))
			},
			undo: func() { writeFile(t, dir, "canarygate/ext/platform/platform.rego", original) },
			want: []string{dir, "platform.rego:", "rego_parse_error"},
		},
		{
			name: "a root-overlapping update", source: team,
			update: func() {
				writeFile(t, team, ".manifest", []byte(`{"revision": "t2", "roots": ["canarygate/ext/team", "canarygate/ext/platform/team"]}`))
				writeFile(t, team, "more.rego", []byte("package canarygate.ext.platform.team\n"))
			},
			undo: func() {
				writeFile(t, team, ".manifest", []byte(`{"revision": "t1", "roots": ["canarygate/ext/team"]}`))
				if err := os.Remove(filepath.Join(team, "more.rego")); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{team + ` claims root "canarygate/ext/platform/team"`, `root "canarygate/ext/platform" of ` + dir},
			is:   policy.ErrRoots,
		},
		{
			name: "a test-failing update", source: dir,
			update: func() {
				// A typo in the ladder: 10 instead of 5 fails the bundle's own tests.
				writeFile(t, dir, "canarygate/ext/platform/platform.rego", []byte(strings.Replace(string(original), "[5, 20, 50, 100])", "[10, 20, 50, 100])", 1)))
				raw, _ := os.ReadFile(filepath.Join(dir, "canarygate/config/data.json"))
				writeFile(t, dir, "canarygate/config/data.json", []byte(strings.Replace(string(raw), "[5, 20, 50, 100]", "[10, 20, 50, 100]", 1)))
			},
			undo: func() {
				writeFile(t, dir, "canarygate/ext/platform/platform.rego", original)
				raw, _ := os.ReadFile(filepath.Join(dir, "canarygate/config/data.json"))
				writeFile(t, dir, "canarygate/config/data.json", []byte(strings.Replace(string(raw), "[10, 20, 50, 100]", "[5, 20, 50, 100]", 1)))
			},
			want: []string{"test_each_step_of_the_ladder_is_allowed"},
			is:   policy.ErrTests,
		},
	}
	for _, s := range steps {
		t.Run(s.name+" is rejected and the previous set keeps deciding", func(t *testing.T) {
			before := errorsOf(s.source)
			s.update()
			r.Refresh(t.Context())
			if r.Engine().Load() != good {
				t.Fatal("the engine was swapped")
			}
			if got := platformDecisions(t, r.Engine().Load()); got != want {
				t.Errorf("decisions changed:\n got %s\nwant %s", got, want)
			}
			if after := errorsOf(s.source); after != before+1 {
				t.Errorf("canarygate_bundle_load_errors_total{source=%q} %v → %v, want one more", s.source, before, after)
			}
			var st policy.SourceStatus
			for _, x := range r.Status() {
				if x.Source == s.source {
					st = x
				}
			}
			for _, w := range s.want {
				if !strings.Contains(st.LastError, w) {
					t.Errorf("Status.LastError = %q, want it to contain %q", st.LastError, w)
				}
			}
			if s.is != nil && !strings.Contains(st.LastError, s.is.Error()) {
				t.Errorf("Status.LastError = %q, want %q", st.LastError, s.is)
			}

			// Refreshing again neither retries nor counts the same content.
			r.Refresh(t.Context())
			if after := errorsOf(s.source); after != before+1 {
				t.Errorf("the same rejected content was counted again (%v)", after)
			}

			s.undo()
			r.Refresh(t.Context())
			if r.Engine().Load() != good {
				t.Error("going back to the serving content swapped the engine")
			}
			for _, x := range r.Status() {
				if x.LastError != "" {
					t.Errorf("%s: LastError = %q after going back to the serving content", x.Source, x.LastError)
				}
			}
		})
	}

	t.Run("a good update is swapped in", func(t *testing.T) {
		addPayments(t, filepath.Join(dir, "canarygate/config/data.json"))
		r.Refresh(t.Context())
		if r.Engine().Load() == good || payments(t, r.Engine().Load()) != "CGX03:deny" {
			t.Error("the good update did not take effect")
		}
	})
}

func TestReloaderStartsNotReady(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "platform")
	r, err := policy.NewReloader(policy.ReloaderOptions{Builtin: true, Sources: []string{dir}, Log: testr.New(t)})
	if err != nil {
		t.Fatal(err)
	}
	err = r.Load(t.Context())
	if err == nil || !errors.Is(err, policy.ErrLoad) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Load = %v, want an error naming %s", err, dir)
	}
	if r.Engine().Load() != nil {
		t.Fatal("an engine was stored without the platform's policies")
	}
	if err := r.Ready(); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("Ready = %v, want the missing source named", err)
	}
	copyDir(t, example, dir)
	r.Refresh(t.Context())
	if r.Engine().Load() == nil || r.Ready() != nil {
		t.Fatalf("not loaded after the source appeared: %v", r.Ready())
	}
}

func TestNewReloaderRejectsBadConfiguration(t *testing.T) {
	for name, opts := range map[string]policy.ReloaderOptions{
		"a source given twice":       {Sources: []string{example, example}},
		"an unsupported URL scheme":  {Sources: []string{"ftp://example.com/b.tar.gz"}},
		"a missing verification key": {Sources: []string{example}, Source: policy.SourceOptions{VerificationKey: "/nonexistent.pem"}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := policy.NewReloader(opts); !errors.Is(err, policy.ErrLoad) {
				t.Errorf("NewReloader = %v, want an error wrapping ErrLoad", err)
			}
		})
	}
}
