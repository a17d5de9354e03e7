package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/keys"
)

// Defaults of SourceOptions.
const (
	// DefaultKeyID is the name the verification key is known by, as in
	// `opa run --verification-key-id`.
	DefaultKeyID = "default"
	// DefaultAlgorithm is the signing algorithm `opa build` and `opa sign`
	// use unless told otherwise.
	DefaultAlgorithm = "RS256"
	// DefaultTimeout bounds one bundle download.
	DefaultTimeout = 30 * time.Second
)

// SourceOptions configures how Open and the Reloader read policy sources.
// The zero value reads unsigned sources and downloads with DefaultTimeout.
type SourceOptions struct {
	// VerificationKey is the path of a PEM file holding the public key
	// (RSA or ECDSA; for the HS* algorithms, the shared secret) that bundle
	// signatures are verified with. When it is set, every source must be a
	// bundle with a .signatures.json that verifies against it and lists
	// every file of the bundle with its digest: unsigned and tampered
	// bundles, and plain directories, are rejected before anything in them
	// is parsed. When it is empty, signatures are not checked.
	VerificationKey string
	// KeyID is the name of the key; DefaultKeyID when empty. As in OPA, it
	// takes precedence over the kid in the signature.
	KeyID string
	// Scope, when set, must equal the scope claim of the signature.
	Scope string
	// Algorithm is the signature algorithm (RS256, PS256, ES256, HS256 and
	// their 384/512 variants); DefaultAlgorithm when empty.
	Algorithm string
	// BearerTokenFile is the path of a file holding a token sent as
	// "Authorization: Bearer <token>" with every bundle download. It is
	// re-read on every request, so a rotated (projected) token is picked up.
	BearerTokenFile string
	// Timeout bounds one bundle download; DefaultTimeout when zero.
	Timeout time.Duration
	// Client makes the downloads; a client honouring the proxy environment
	// variables when nil.
	Client *http.Client
}

// verification returns OPA's verification config for the options, nil
// when no key is set. It returns an error wrapping ErrLoad when the key
// cannot be read or is not a key of the algorithm.
func (o SourceOptions) verification() (*bundle.VerificationConfig, error) {
	if o.VerificationKey == "" {
		return nil, nil
	}
	alg := o.Algorithm
	if alg == "" {
		alg = DefaultAlgorithm
	}
	if !keys.IsSupportedAlgorithm(alg) {
		return nil, fmt.Errorf("%w: verification key algorithm %q is not supported; use one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, HS256, HS384, HS512", ErrLoad, alg)
	}
	raw, err := os.ReadFile(o.VerificationKey)
	if err != nil {
		return nil, fmt.Errorf("%w: reading the verification key: %w", ErrLoad, err)
	}
	if !strings.HasPrefix(alg, "HS") {
		if block, _ := pem.Decode(raw); block == nil {
			return nil, fmt.Errorf("%w: verification key %s is not a PEM file; give the public key of the bundle signer (e.g. openssl rsa -in key.pem -pubout)", ErrLoad, o.VerificationKey)
		}
	}
	id := o.KeyID
	if id == "" {
		id = DefaultKeyID
	}
	return bundle.NewVerificationConfig(
		map[string]*keys.Config{id: {Key: string(raw), Algorithm: alg, Scope: o.Scope}},
		id, o.Scope, nil,
	), nil
}

// Open reads one policy source named by spec:
//
//   - a directory: plain platform rules and data (see FromDir), or an OPA
//     bundle when it has a .manifest or a .signatures.json, or whenever a
//     verification key is set;
//   - a file ending in .tar.gz or .tgz: an OPA bundle archive (`opa build`);
//   - an http:// or https:// URL: a bundle archive downloaded with a GET, as
//     OPA's bundle service protocol serves it (any HTTP server will do).
//
// Bundles are read with OPA's bundle reader; their .manifest roots say what
// they own, and Load rejects roots that overlap another source's. Every
// error wraps ErrLoad and names the source; signature failures also wrap
// ErrVerification, download failures ErrFetch.
func Open(ctx context.Context, spec string, opts SourceOptions) (Source, error) {
	o, err := newOrigin(spec, opts)
	if err != nil {
		return Source{Name: spec}, err
	}
	src, _, err := o.read(ctx)
	return src, err
}

// origin is where one source comes from; it remembers the ETag of the last
// download so an unchanged bundle is not downloaded again.
type origin struct {
	spec string
	// name is spec with any URL password redacted: used in errors, logs
	// and metric labels.
	name string
	kind string
	opts SourceOptions
	vc   *bundle.VerificationConfig
	etag string
}

func newOrigin(spec string, opts SourceOptions) (*origin, error) {
	vc, err := opts.verification()
	if err != nil {
		return nil, err
	}
	o := &origin{spec: spec, name: spec, opts: opts, vc: vc}
	switch {
	case strings.HasPrefix(spec, "http://") || strings.HasPrefix(spec, "https://"):
		u, err := url.Parse(spec)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("%w: %s is not a valid bundle URL", ErrLoad, spec)
		}
		o.kind, o.name = KindURL, u.Redacted()
	case strings.Contains(spec, "://"):
		return nil, fmt.Errorf("%w: %w: %s: only http:// and https:// bundle URLs are read", ErrLoad, ErrUnsupportedSource, spec)
	case strings.HasSuffix(spec, ".tar.gz") || strings.HasSuffix(spec, ".tgz"):
		o.kind = KindTarball
	default:
		o.kind = KindDirectory
	}
	return o, nil
}

// read returns the source as it is now. notModified is true when the
// server answered 304 to the ETag of the previous download.
func (o *origin) read(ctx context.Context) (src Source, notModified bool, err error) {
	fail := func(err error) (Source, bool, error) {
		return Source{Name: o.name, Kind: o.kind}, false, fmt.Errorf("%w: %s: %w", ErrLoad, o.name, err)
	}
	switch o.kind {
	case KindURL:
		files, etag, notModified, err := o.download(ctx)
		if err != nil {
			return fail(err)
		}
		if notModified {
			return Source{Name: o.name, Kind: o.kind}, true, nil
		}
		o.etag = etag
		src, err := readBundle(o.name, KindURL, files, o.vc)
		return src, false, err
	case KindTarball:
		f, err := os.Open(o.spec)
		if err != nil {
			return fail(err)
		}
		defer func() { _ = f.Close() }()
		files, err := readTarball(f)
		if err != nil {
			return fail(err)
		}
		src, err := readBundle(o.name, KindTarball, files, o.vc)
		return src, false, err
	default:
		st, err := os.Stat(o.spec)
		if err != nil {
			return fail(err)
		}
		if !st.IsDir() {
			return fail(fmt.Errorf("%w: not a directory, a .tar.gz bundle or an http(s) URL", ErrUnsupportedSource))
		}
		if o.vc == nil && !isBundleDir(o.spec) {
			src, err := FromDir(o.spec)
			return src, false, err
		}
		files, err := readDirFiles(o.spec)
		if err != nil {
			return fail(err)
		}
		src, err := readBundle(o.name, KindBundleDirectory, files, o.vc)
		return src, false, err
	}
}

// download GETs the bundle, sending If-None-Match with the last ETag.
func (o *origin) download(ctx context.Context) (files []bundleFile, etag string, notModified bool, err error) {
	timeout := o.opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.spec, nil)
	if err != nil {
		return nil, "", false, fmt.Errorf("%w: %w", ErrFetch, err)
	}
	req.Header.Set("User-Agent", "canarygate")
	if o.etag != "" {
		req.Header.Set("If-None-Match", o.etag)
	}
	if o.opts.BearerTokenFile != "" {
		raw, err := os.ReadFile(o.opts.BearerTokenFile)
		if err != nil {
			return nil, "", false, fmt.Errorf("%w: reading the bearer token: %w", ErrFetch, err)
		}
		token := strings.TrimSpace(string(raw))
		if token == "" {
			return nil, "", false, fmt.Errorf("%w: bearer token file %s is empty", ErrFetch, o.opts.BearerTokenFile)
		}
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := o.opts.Client
	if client == nil {
		client = &http.Client{Transport: http.DefaultTransport}
	}
	resp, err := client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // the URL is named by the caller already
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, "", false, fmt.Errorf("%w: no answer within %s", ErrFetch, timeout)
		}
		return nil, "", false, fmt.Errorf("%w: %w", ErrFetch, err)
	}
	defer func() { _ = resp.Body.Close() }()
	switch resp.StatusCode {
	case http.StatusNotModified:
		return nil, o.etag, true, nil
	case http.StatusOK:
	default:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		msg := strings.TrimSpace(string(body))
		if msg != "" {
			msg = ": " + msg
		}
		return nil, "", false, fmt.Errorf("%w: GET answered %s%s", ErrFetch, resp.Status, msg)
	}
	files, err = readTarball(resp.Body)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, "", false, fmt.Errorf("%w: the download did not finish within %s", ErrFetch, timeout)
		}
		return nil, "", false, fmt.Errorf("%w: %w", ErrFetch, err)
	}
	return files, resp.Header.Get("ETag"), false, nil
}

// fingerprint summarises the files a file source is read from (paths,
// sizes, modification times, following links), so a periodic check or a
// burst of filesystem events re-reads the source only when it changed. It
// returns "" for URL sources.
func (o *origin) fingerprint() string {
	if o.kind == KindURL {
		return ""
	}
	h := sha256.New()
	st, err := os.Stat(o.spec)
	if err != nil {
		_, _ = fmt.Fprintf(h, "error %v", err)
		return hex.EncodeToString(h.Sum(nil))
	}
	if !st.IsDir() {
		_, _ = fmt.Fprintf(h, "%d %d", st.Size(), st.ModTime().UnixNano())
		return hex.EncodeToString(h.Sum(nil))
	}
	err = walkBundleDir(o.spec, func(rel, _ string, info fs.FileInfo) error {
		_, _ = fmt.Fprintf(h, "%s %d %d\n", rel, info.Size(), info.ModTime().UnixNano())
		return nil
	})
	if err != nil {
		_, _ = fmt.Fprintf(h, "error %v", err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// watchDirs are the directories whose filesystem events may mean a file
// source changed: a directory source, its subdirectories (except hidden
// ones) and its parent; for an archive, the directory holding it. Events
// are only hints: the fingerprint decides.
func (o *origin) watchDirs() []string {
	if o.kind == KindURL {
		return nil
	}
	dirs := []string{filepath.Dir(filepath.Clean(o.spec))}
	if o.kind != KindDirectory {
		return dirs
	}
	_ = filepath.WalkDir(o.spec, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if p != o.spec && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		dirs = append(dirs, p)
		return nil
	})
	return dirs
}

// digest identifies a source's content, to tell a changed version from one
// already tried.
func digest(s Source) string {
	h := sha256.New()
	names := make([]string, 0, len(s.Modules))
	for n := range s.Modules {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		_, _ = fmt.Fprintf(h, "module %q %d\n%s\n", n, len(s.Modules[n]), s.Modules[n])
	}
	data, _ := json.Marshal(s.Data) // maps marshal with sorted keys
	_, _ = fmt.Fprintf(h, "data %s\nroots %q\nrevision %q\n", data, s.Roots, s.Revision)
	return hex.EncodeToString(h.Sum(nil))
}
