package policy

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/loader/filter"
	"github.com/open-policy-agent/opa/v1/util"
)

// MaxBundleBytes bounds the uncompressed size of one bundle (all its files
// together) and of one download, so a gzip bomb or a runaway server cannot
// exhaust the webhook's memory.
const MaxBundleBytes = 64 << 20

// bundleFile is one file of a bundle, read into memory so that its
// signature is checked on exactly the bytes that are then parsed.
type bundleFile struct {
	// path is relative to the bundle root, "/"-separated, without a
	// leading slash: the form OPA's signatures name files by.
	path string
	data []byte
}

// readDirFiles reads every file of a bundle directory: regular files and
// symbolic links to regular files (a mounted ConfigMap's keys are links
// into its ..data directory). Subdirectories whose names start with "." are
// skipped (Kubernetes' timestamped ..2024_… directories, .git), as are
// names starting with "..", and links to directories are not followed.
func readDirFiles(dir string) ([]bundleFile, error) {
	var files []bundleFile
	total := 0
	err := walkBundleDir(dir, func(rel, full string, info fs.FileInfo) error {
		raw, err := os.ReadFile(full)
		if err != nil {
			return err
		}
		total += len(raw)
		if total > MaxBundleBytes {
			return fmt.Errorf("the bundle is larger than %d bytes", MaxBundleBytes)
		}
		files = append(files, bundleFile{path: rel, data: raw})
		return nil
	})
	return files, err
}

// walkBundleDir calls fn for every file readDirFiles reads, with info of
// the file a link points to.
func walkBundleDir(dir string, fn func(rel, full string, info fs.FileInfo) error) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		name := d.Name()
		if d.IsDir() {
			if strings.HasPrefix(name, ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasPrefix(name, "..") {
			return nil
		}
		info, err := os.Stat(p)
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		return fn(filepath.ToSlash(rel), p, info)
	})
}

// readTarball reads the regular files of a gzipped tar archive, as `opa
// build` writes bundles. Other entries (directories, links) are skipped, as
// OPA skips them; paths are cleaned so no entry can escape the bundle root.
func readTarball(r io.Reader) ([]bundleFile, error) {
	gz, err := gzip.NewReader(io.LimitReader(r, MaxBundleBytes+1))
	if err != nil {
		return nil, fmt.Errorf("not a gzipped tar archive: %w", err)
	}
	defer func() { _ = gz.Close() }()
	tr := tar.NewReader(io.LimitReader(gz, MaxBundleBytes+1))
	var files []bundleFile
	total := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading the archive: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		raw, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("reading %s from the archive: %w", h.Name, err)
		}
		total += len(raw)
		if total > MaxBundleBytes {
			return nil, fmt.Errorf("the bundle is larger than %d bytes uncompressed", MaxBundleBytes)
		}
		rel := strings.TrimPrefix(path.Clean("/"+filepath.ToSlash(h.Name)), "/")
		files = append(files, bundleFile{path: rel, data: raw})
	}
	return files, nil
}

// verifyFiles checks a bundle's .signatures.json against the verification
// config before anything in the bundle is parsed: the JWT must verify with
// the configured key (and scope), every file of the bundle must be listed
// in it with a matching digest, and every file it lists must be present.
func verifyFiles(files []bundleFile, vc *bundle.VerificationConfig) error {
	var sigs *bundleFile
	for i := range files {
		if !bundle.IsSignaturesFile(files[i].path) {
			continue
		}
		if sigs != nil {
			return fmt.Errorf("%w: the bundle holds two signature files, %s and %s", ErrVerification, sigs.path, files[i].path)
		}
		sigs = &files[i]
	}
	if sigs == nil {
		return fmt.Errorf("%w: the bundle is not signed (it has no .signatures.json) but a verification key is configured; sign it (opa build --signing-key KEY, or opa sign) or load it without --policy-verification-key", ErrVerification)
	}
	var sc bundle.SignaturesConfig
	if err := util.UnmarshalJSON(sigs.data, &sc); err != nil {
		return fmt.Errorf("%w: %s is not valid JSON: %w", ErrVerification, sigs.path, err)
	}
	signed, err := bundle.VerifyBundleSignature(sc, vc)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrVerification, sigs.path, err)
	}
	for _, f := range files {
		if bundle.IsSignaturesFile(f.path) {
			continue
		}
		if err := bundle.VerifyBundleFile(f.path, *bytes.NewBuffer(f.data), signed); err != nil {
			return fmt.Errorf("%w: %s (the bundle was changed after it was signed): %w", ErrVerification, f.path, err)
		}
	}
	if len(signed) > 0 {
		missing := make([]string, 0, len(signed))
		for name := range signed {
			missing = append(missing, name)
		}
		sort.Strings(missing)
		return fmt.Errorf("%w: the signature lists %s, missing from the bundle", ErrVerification, strings.Join(missing, ", "))
	}
	return nil
}

// readBundle verifies (when vc is set) and reads a bundle's files with
// OPA's bundle reader, and returns it as a Source whose module names are
// prefixed with the source name, so Rego errors name the source, the file
// and the line.
func readBundle(name, kind string, files []bundleFile, vc *bundle.VerificationConfig) (Source, error) {
	src := Source{Name: name, Kind: kind, Modules: map[string]string{}, Data: map[string]any{}}
	fail := func(err error) (Source, error) {
		return src, fmt.Errorf("%w: %s: %w", ErrLoad, name, err)
	}
	if vc != nil {
		if err := verifyFiles(files, vc); err != nil {
			return fail(err)
		}
	}
	if err := checkRegoVersion(files); err != nil {
		return fail(err)
	}
	b, err := bundle.NewCustomReader(&memLoader{name: name, files: files}).
		WithRegoVersion(ast.RegoV1).
		WithBundleVerificationConfig(vc).
		WithSkipBundleVerification(vc == nil).
		WithSizeLimitBytes(MaxBundleBytes).
		WithBundleName(name).
		Read()
	if err != nil {
		return fail(err)
	}
	if b.Type() == bundle.DeltaBundleType {
		return fail(fmt.Errorf("%w: delta bundles are not supported; serve a snapshot bundle", ErrUnsupportedSource))
	}
	if len(b.WasmModules) > 0 || len(b.PlanModules) > 0 {
		return fail(fmt.Errorf("%w: the bundle holds WebAssembly or plan modules; canarygate evaluates Rego only", ErrUnsupportedSource))
	}
	for _, mf := range b.Modules {
		src.Modules[name+"/"+strings.TrimPrefix(mf.Path, "/")] = string(mf.Raw)
	}
	if b.Data != nil {
		src.Data = b.Data
	}
	if b.Manifest.Roots != nil {
		src.Roots = append([]string{}, *b.Manifest.Roots...)
	} else {
		src.Roots = []string{""}
	}
	src.Revision = b.Manifest.Revision
	return src, nil
}

// checkRegoVersion rejects a bundle whose .manifest asks for Rego v0 for
// any file, before OPA's reader parses the modules that way: canarygate
// compiles every module as Rego v1.
func checkRegoVersion(files []bundleFile) error {
	for _, f := range files {
		if path.Base(f.path) != bundle.ManifestExt {
			continue
		}
		var m bundle.Manifest
		if err := util.UnmarshalJSON(f.data, &m); err != nil {
			return fmt.Errorf("%s: %w", f.path, err)
		}
		if m.RegoVersion != nil && *m.RegoVersion != 1 {
			return fmt.Errorf("%s: rego_version %d: canarygate reads Rego v1 only (OPA 1.x syntax); drop rego_version or set it to 1", f.path, *m.RegoVersion)
		}
		for pattern, v := range m.FileRegoVersions {
			if v != 1 {
				return fmt.Errorf("%s: file_rego_versions gives %s Rego version %d: canarygate reads Rego v1 only (OPA 1.x syntax)", f.path, pattern, v)
			}
		}
	}
	return nil
}

// memLoader hands files already in memory to OPA's bundle reader.
type memLoader struct {
	name  string
	files []bundleFile
	next  int
}

var _ bundle.DirectoryLoader = (*memLoader)(nil)

// NextFile implements bundle.DirectoryLoader.
func (l *memLoader) NextFile() (*bundle.Descriptor, error) {
	if l.next >= len(l.files) {
		return nil, io.EOF
	}
	f := l.files[l.next]
	l.next++
	return bundle.NewDescriptor(l.name+"/"+f.path, "/"+f.path, bytes.NewBuffer(f.data)), nil
}

// WithFilter implements bundle.DirectoryLoader; the files are already chosen.
func (l *memLoader) WithFilter(filter.LoaderFilter) bundle.DirectoryLoader { return l }

// WithPathFormat implements bundle.DirectoryLoader; paths are always
// rooted at the bundle ("/canarygate/config/data.json").
func (l *memLoader) WithPathFormat(bundle.PathFormat) bundle.DirectoryLoader { return l }

// WithSizeLimitBytes implements bundle.DirectoryLoader; the size was
// bounded while reading.
func (l *memLoader) WithSizeLimitBytes(int64) bundle.DirectoryLoader { return l }

// WithFollowSymlinks implements bundle.DirectoryLoader; links were followed
// while reading.
func (l *memLoader) WithFollowSymlinks(bool) bundle.DirectoryLoader { return l }
