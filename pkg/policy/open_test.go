package policy_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/util"

	"github.com/canarygate/canarygate/pkg/policy"
)

// wantPlatform are the example bundle's decisions for the canary writes of
// platformDecisions: the ladder (CGX01, CGX02), the prod header (CGX03,
// only a warning in staging) and 100 % only once verified (CG302).
const wantPlatform = "" +
	" | CGX02:deny" + // 0 → 20 skips 5
	" | CGX01:deny" + // 10 is not a step
	" | " + // 20 → 50
	" | CG302:deny" + // 100 needs verification
	" | CGX03:deny" + // prod needs the header
	" | " + // prod with x-canary
	" | CGX03:warn" // staging warns

func TestOpenExampleDirectory(t *testing.T) {
	src := open(t, example, policy.SourceOptions{})
	if src.Kind != policy.KindBundleDirectory {
		t.Errorf("Kind = %q, want %q", src.Kind, policy.KindBundleDirectory)
	}
	if got := strings.Join(src.Roots, ","); got != "canarygate/ext/platform,canarygate/config" {
		t.Errorf("Roots = %s, want the .manifest roots", got)
	}
	if src.Revision != "platform-2026.11.1" {
		t.Errorf("Revision = %q", src.Revision)
	}
	if got := platformDecisions(t, load(t, src)); got != wantPlatform {
		t.Errorf("decisions:\n got %s\nwant %s", got, wantPlatform)
	}
	// Without the bundle the built-ins alone allow every step but 100 %.
	if got, want := platformDecisions(t, load(t)), " |  |  |  | CG302:deny |  |  | "; got != want {
		t.Errorf("built-in decisions:\n got %s\nwant %s", got, want)
	}

	results, err := policy.TestSources(t.Context(), policy.Options{Builtin: true, Sources: []policy.Source{src}})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) < 10 {
		t.Fatalf("%d bundle tests ran, want the example's tests", len(results))
	}
	for _, r := range results {
		if !strings.HasPrefix(r.Package, "data.canarygate.ext.platform") {
			t.Errorf("TestSources ran %s.%s, which is not the bundle's", r.Package, r.Name)
		}
		if r.Fail || r.Error != nil {
			t.Errorf("%s: %s.%s failed: %v\n%s", r.Location, r.Package, r.Name, r.Error, r.Output)
		}
	}
}

func TestFromDirReadsABundleDirectory(t *testing.T) {
	src, err := policy.FromDir(example)
	if err != nil {
		t.Fatal(err)
	}
	if got := platformDecisions(t, load(t, src)); got != wantPlatform {
		t.Errorf("decisions:\n got %s\nwant %s", got, wantPlatform)
	}
}

func TestOpenTarball(t *testing.T) {
	path := writeFile(t, t.TempDir(), "platform.tar.gz", tarball(t, readBundle(t, example)))
	src := open(t, path, policy.SourceOptions{})
	if src.Kind != policy.KindTarball || src.Revision != "platform-2026.11.1" {
		t.Errorf("Kind, Revision = %q, %q", src.Kind, src.Revision)
	}
	if got := platformDecisions(t, load(t, src)); got != wantPlatform {
		t.Errorf("decisions:\n got %s\nwant %s", got, wantPlatform)
	}
}

func TestOpenRejects(t *testing.T) {
	dir := t.TempDir()
	corrupt := writeFile(t, dir, "corrupt.tar.gz", []byte("not gzip"))
	badRego := t.TempDir()
	copyDir(t, example, badRego)
	writeFile(t, badRego, "canarygate/ext/platform/broken.rego", []byte("package canarygate.ext.platform\n\nitems contains x if {\n"))
	outside := t.TempDir()
	copyDir(t, example, outside)
	writeFile(t, outside, "canarygate/ext/other/rules.rego", []byte("package canarygate.ext.other\n\nitems contains {\"code\": \"X1\"} if false\n"))
	v0 := t.TempDir()
	copyDir(t, example, v0)
	writeFile(t, v0, ".manifest", []byte(`{"roots": ["canarygate/ext/platform", "canarygate/config"], "rego_version": 0}`))

	tests := map[string]struct {
		spec string
		want []string
		is   error
	}{
		"a missing path":                       {spec: filepath.Join(dir, "nope"), want: []string{"nope", "no such file"}},
		"a file that is not a gzipped tarball": {spec: corrupt, want: []string{corrupt, "not a gzipped tar archive"}},
		"a plain file":                         {spec: writeFile(t, dir, "rules.rego", []byte("package x")), want: []string{"not a directory"}, is: policy.ErrUnsupportedSource},
		"another URL scheme":                   {spec: "s3://bucket/bundle.tar.gz", want: []string{"only http:// and https://"}, is: policy.ErrUnsupportedSource},
		"a Rego syntax error names the source, file and line": {
			spec: badRego, want: []string{badRego + ": ", "/canarygate/ext/platform/broken.rego:4", "rego_parse_error"},
		},
		"a package outside the .manifest roots": {
			spec: outside, want: []string{outside, "do not permit", "canarygate.ext.other"},
		},
		"Rego v0": {spec: v0, want: []string{v0, ".manifest: rego_version 0", "canarygate reads Rego v1 only"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := policy.Open(t.Context(), tc.spec, policy.SourceOptions{})
			if err == nil {
				t.Fatal("Open succeeded, want an error")
			}
			if !errors.Is(err, policy.ErrLoad) {
				t.Errorf("error %v does not wrap ErrLoad", err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v does not wrap %v", err, tc.is)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestSignedBundles(t *testing.T) {
	private, public := keyPair(t)
	otherPrivate, _ := keyPair(t)
	_, otherPublic := keyPair(t)
	dir := t.TempDir()

	signed := readBundle(t, example)
	sign(t, &signed, private, "")
	signedPath := writeFile(t, dir, "signed.tar.gz", tarball(t, signed))

	unsignedPath := writeFile(t, dir, "unsigned.tar.gz", tarball(t, readBundle(t, example)))

	// Tampered: a module changed after signing, into something that does
	// not even parse — verification must refuse it before any parsing.
	tampered := readBundle(t, example)
	sign(t, &tampered, private, "")
	for i, m := range tampered.Modules {
		if strings.HasSuffix(m.Path, "platform.rego") {
			tampered.Modules[i].Raw = append(bytes.Clone(m.Raw), []byte("\nitems contains {\"code\": \"EVIL\"} if {\n")...)
		}
	}
	tamperedPath := writeFile(t, dir, "tampered.tar.gz", tarball(t, tampered))

	// Signed with another key.
	forged := readBundle(t, example)
	sign(t, &forged, otherPrivate, "")
	forgedPath := writeFile(t, dir, "forged.tar.gz", tarball(t, forged))

	// Signed for another scope.
	scoped := readBundle(t, example)
	sign(t, &scoped, private, "staging")
	scopedPath := writeFile(t, dir, "scoped.tar.gz", tarball(t, scoped))

	// A signed directory, as `opa sign --bundle .` leaves it.
	signedDir := t.TempDir()
	copyDir(t, example, signedDir)
	signDir(t, signedDir, private)

	key := policy.SourceOptions{VerificationKey: public}
	t.Run("a signed bundle loads with the key", func(t *testing.T) {
		for _, spec := range []string{signedPath, signedDir} {
			src := open(t, spec, key)
			if got := platformDecisions(t, load(t, src)); got != wantPlatform {
				t.Errorf("%s decisions:\n got %s\nwant %s", spec, got, wantPlatform)
			}
		}
	})
	t.Run("a signed bundle loads with its scope", func(t *testing.T) {
		open(t, scopedPath, policy.SourceOptions{VerificationKey: public, Scope: "staging"})
	})
	t.Run("without a key, signatures are not checked", func(t *testing.T) {
		open(t, forgedPath, policy.SourceOptions{})
	})

	rejected := map[string]struct {
		spec string
		opts policy.SourceOptions
		want string
	}{
		"unsigned":                {spec: unsignedPath, opts: key, want: "not signed"},
		"a plain directory":       {spec: plainDir(t), opts: key, want: "not signed"},
		"unsigned directory":      {spec: example, opts: key, want: "not signed"},
		"tampered":                {spec: tamperedPath, opts: key, want: "changed after it was signed"},
		"signed with another key": {spec: forgedPath, opts: key, want: "failed to verify"},
		"verified with another key": {
			spec: signedPath, opts: policy.SourceOptions{VerificationKey: otherPublic}, want: "failed to verify",
		},
		"another scope": {spec: scopedPath, opts: key, want: "scope mismatch"},
	}
	for name, tc := range rejected {
		t.Run("rejects "+name, func(t *testing.T) {
			_, err := policy.Open(t.Context(), tc.spec, tc.opts)
			if !errors.Is(err, policy.ErrVerification) || !errors.Is(err, policy.ErrLoad) {
				t.Fatalf("Open = %v, want an error wrapping ErrVerification and ErrLoad", err)
			}
			if !strings.Contains(err.Error(), tc.spec) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name the source and say %q", err, tc.want)
			}
		})
	}

	t.Run("an unreadable key is a load error", func(t *testing.T) {
		_, err := policy.Open(t.Context(), signedPath, policy.SourceOptions{VerificationKey: filepath.Join(dir, "missing.pem")})
		if !errors.Is(err, policy.ErrLoad) || !strings.Contains(err.Error(), "verification key") {
			t.Errorf("Open = %v, want a verification key error", err)
		}
		notPEM := writeFile(t, dir, "key.txt", []byte("hello"))
		_, err = policy.Open(t.Context(), signedPath, policy.SourceOptions{VerificationKey: notPEM})
		if !errors.Is(err, policy.ErrLoad) || !strings.Contains(err.Error(), "not a PEM file") {
			t.Errorf("Open = %v, want a PEM error", err)
		}
	})
}

// signDir writes a .signatures.json into a bundle directory, as
// `opa sign --signing-key KEY --bundle .` run inside it does: every file,
// named relative to the directory, with its SHA-256 digest (structured
// files hashed by content, as OPA does).
func signDir(t *testing.T, dir, privatePEM string) {
	t.Helper()
	h, err := bundle.NewSignatureHasher(bundle.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	var files []bundle.FileInfo
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || bundle.IsSignaturesFile(p) {
			return err
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		var v any = raw
		if bundle.IsStructuredDoc(p) {
			if err := util.Unmarshal(raw, &v); err != nil {
				return err
			}
		}
		sum, err := h.HashFile(v)
		if err != nil {
			return err
		}
		files = append(files, bundle.NewFile(filepath.ToSlash(rel), hex.EncodeToString(sum), string(bundle.SHA256)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	token, err := bundle.GenerateSignedToken(files, bundle.NewSigningConfig(privatePEM, "RS256", ""), "")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, ".signatures.json", []byte(`{"signatures": ["`+token+`"]}`))
}
